"""Drafts: posts kept with whatever they have so far (no date, even no image),
that never publish until the person gives them a time.

A draft is a post with status ``draft``. The publishing engine only claims
scheduled posts (``ospost.engine.lease.ACTIVE``), so nothing here has to stop
it. A draft may carry a date to think about; it stays unpublished until it is
scheduled through the edit form, the calendar or the queue, which check that
it is ready (an image, and a caption Instagram accepts).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

import helpers
from models import Post
from models import PostStatus
from models import User
from models import db
from models import now_utc
from ospost import images
from ospost.posts import FormError
from ospost.posts import read_image
from ospost.posts import release_connection
from ospost.posts import store_images

# Far above Instagram's limits (a draft may be over them while being written),
# but a bound on what a form can make us store.
DRAFT_TEXT_MAX = 20_000


@dataclass(frozen=True)
class DraftInput:
    caption: str
    alt_text: str
    when: datetime | None


def parse_draft_form(form, user: User) -> DraftInput:
    """Whatever the add/edit form holds; only text too long for any post, or a
    date that cannot be read, is refused."""
    caption = helpers.normalize_newlines(form.get("caption", ""))
    alt_text = helpers.normalize_newlines(form.get("alt_text", "")).strip()
    for name, text in (("caption", caption), ("alt text", alt_text)):
        if len(text) > DRAFT_TEXT_MAX:
            raise FormError(
                f"The {name} has {len(text):,} characters; a draft keeps up to "
                f"{DRAFT_TEXT_MAX:,}."
            )
    raw = (form.get("date") or "").strip()
    when = None
    if raw:
        try:
            when = helpers.parse_local_datetime(raw, user.timezone)
        except helpers.LocalTimeError as exc:
            raise FormError(f"{exc} (Or clear the date to save without one.)") from exc
    return DraftInput(caption, alt_text, when)


def read_optional_image(files) -> images.ProcessedImage | None:
    """The uploaded image, if the person chose one (a draft may have none).

    Decoded like any upload: within the app's decoding budget (images.Busy
    when there is no room in time) and with no pooled connection held.
    """
    upload = files.get("image")
    if upload is None or not upload.filename:
        return None
    release_connection()
    return read_image(files)


def save_draft(
    user: User, post: Post | None, data: DraftInput, processed
) -> tuple[Post, tuple, tuple]:
    """Keep ``data`` as a draft: a new post, or ``post`` taken off the schedule.

    Returns the post, the files written and the files it no longer uses (to
    delete after the commit). The caller commits and cancels any wake-up.
    """
    if post is None:
        post = Post(user=user)
        db.session.add(post)
    old_files = new_files = ()
    if processed is not None:
        old_files = tuple(n for n in (post.filename, post.thumbnail) if n)
        new_files = store_images(user, processed)
        post.filename, post.thumbnail = new_files
        post.width, post.height = processed.width, processed.height
        post.image_sha256 = hashlib.sha256(processed.jpeg).hexdigest()
    post.caption, post.alt_text = data.caption, data.alt_text
    if post.id is not None:
        # Content changed: schedule() drops (or marks stale) a container made for
        # the old content, exactly as an edit does; then the post becomes a draft.
        post.schedule(data.when or post.scheduled_at or now_utc())
    post.make_draft(data.when)
    return post, new_files, old_files


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
    """Refuse to schedule a post Instagram would refuse (drafts may be unfinished)."""
    if not post.filename:
        raise FormError("Add an image to this draft before scheduling it.")
    problems = helpers.caption_stats(post.caption).problems()
    if problems:
        raise FormError(" ".join(problems))
    if len(post.alt_text) > helpers.ALT_TEXT_MAX_CHARS:
        raise FormError(
            f"The alt text has {len(post.alt_text)} characters; Instagram allows "
            f"{helpers.ALT_TEXT_MAX_CHARS}."
        )
