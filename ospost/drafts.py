"""Drafts: posts kept with whatever they have so far (no date, even no image),
that never publish until the person gives them a time.

A draft is a post with status ``draft``. The publishing engine only claims
scheduled posts (``ospost.engine.lease.ACTIVE``), so nothing here has to stop
it. A draft may carry a date to think about; it stays unpublished until it is
scheduled through the edit form, the calendar or the queue, which check that
it is ready (an image, and a caption Instagram accepts).

Save draft reads the same form as Schedule (``post_form.read_post(draft=True)``:
no date or image needed, only text too long for any post refused) and stores
it the same way (``post_save.create_post``/``update_post`` with ``draft=True``).
"""

from __future__ import annotations

from sqlalchemy import select

import helpers
from models import Post
from models import PostStatus
from models import User
from models import db
from ospost.post_form import FormError
from ospost.post_form import alt_text_problem
from ospost.post_form import check_collaborators
from ospost.post_form import shape_problems
from ospost.reel_models import PostType
from ospost.reel_models import VideoStatus


def user_drafts(user: User) -> list[Post]:
    """The user's drafts, newest first (the calendar's Drafts shelf)."""
    return list(
        db.session.scalars(
            select(Post)
            .where(Post.user_id == user.id, Post.status == PostStatus.DRAFT)
            .order_by(Post.updated_at.desc(), Post.id.desc())
        )
    )


def check_ready(post: Post) -> None:
    """Refuse to schedule a post Instagram would refuse (drafts may be
    unfinished): no image, a caption or first comment over the limits, an alt
    text too long, too many collaborators, or images of different shapes; a
    Reel's or Story's video that could not be converted."""
    if post.post_type != PostType.FEED:
        _check_video_ready(post)
    elif not post.media or not post.filename:
        raise FormError("Add an image to this draft before scheduling it.")
    problems = helpers.caption_stats(post.caption).problems()
    problems += helpers.caption_stats(post.first_comment).problems("first comment")
    problems += [
        p
        for n, item in enumerate(post.media, 1)
        if (p := alt_text_problem(item, n, post.media))
    ]
    try:
        check_collaborators(post.collaborators, post.user)
    except FormError as exc:
        problems.append(str(exc))
    if post.post_type == PostType.FEED:  # a Reel's or Story's media is 9:16
        problems += shape_problems([(m.width, m.height) for m in post.media])
    if problems:
        raise FormError(" ".join(problems))


def _check_video_ready(post: Post) -> None:
    """A Reel draft has its video, a Story draft its photo or video, and a
    video whose conversion failed must be replaced first (one still
    converting may be scheduled: the post waits for it)."""
    video = post.video
    if not post.filename or (post.post_type == PostType.REEL and video is None):
        what = "a video" if post.post_type == PostType.REEL else "a photo or video"
        raise FormError(f"Add {what} to this draft before scheduling it.")
    if video is not None and video.status == VideoStatus.FAILED:
        raise FormError(
            f"The video could not be converted ({video.error or 'no reason given'}): "
            "replace it before scheduling this draft."
        )
