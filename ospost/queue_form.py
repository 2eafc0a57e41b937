""" "Add to queue" on the New post and Edit post forms: save what the form has
and give the post the next free posting slot, in one transaction.

The form is read the way Save draft reads it (no date needed), then the post
must be ready for Instagram (``drafts.check_ready``: an image, captions,
alt texts, collaborators and shapes within Instagram's limits) before it takes
the slot (``planning.add_to_queue``). A refusal leaves nothing behind: the
transaction is rolled back and the new files removed. A same-image clash does
not stop it (the slot is free by construction); the answer warns instead.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint
from flask import g
from flask import url_for

import helpers
from models import Post
from models import User
from models import db
from models import now_utc
from ospost import planning
from ospost import quota
from ospost import ratelimit
from ospost.post_form import Conflict
from ospost.post_form import FormError
from ospost.post_form import PostInput
from ospost.post_form import read_post
from ospost.post_save import apply
from ospost.post_save import delete_files
from ospost.post_save import lock_editable
from ospost.post_save import store_new_images
from ospost.post_save import undone_on_failure
from ospost.post_save import wake_saved
from ospost.posts import REFUSALS
from ospost.posts import done
from ospost.posts import fail
from ospost.posts import get_own_post
from ospost.posts import refused

bp = Blueprint("queue_form", __name__)


def _take_slot(user: User, post: Post, now: datetime) -> tuple[datetime, str | None]:
    """Give ``post`` (flushed) the next free slot; returns it and any warning."""
    moves = planning.add_to_queue(user, post, now)
    when = moves[0].after if moves else post.scheduled_at
    warnings = []
    try:
        planning.check_clashes(user, moves)
    except planning.ClashWarning as exc:
        warnings.append(str(exc))
    try:
        note = quota.check_new_time(user, when, post.id)
    except quota.QuotaFull as exc:
        raise FormError(str(exc)) from exc
    warnings += [note] if note else []
    planning.apply(moves)
    return when, " ".join(warnings) or None


def _require_image(data: PostInput) -> None:
    if not data.items:
        raise FormError(fields={"image": "Choose an image to post."})


def queue_new(user: User, data: PostInput, now: datetime):
    """Store a new post and queue it; returns (post id, its time, warning)."""
    _require_image(data)
    new_rows, written = store_new_images(user, data)
    with undone_on_failure(user, *written):
        if db.session.get(User, user.id) is None:
            raise Conflict("Your account was deleted in the meantime.")
        post = Post(user_id=user.id)
        apply(post, data, new_rows)
        post.make_draft(None)
        db.session.add(post)
        db.session.flush()
        when, warning = _take_slot(user, post, now)
        post_id = post.id
        db.session.commit()
    return post_id, when, warning


def queue_edited(user: User, post_id: int, data: PostInput, now: datetime):
    """Save an edited post and give it the next free slot; returns (files it
    no longer uses, its time, warning)."""
    _require_image(data)
    new_rows, written = store_new_images(user, data)
    with undone_on_failure(user, *written):
        post = lock_editable(user, post_id)
        old_files = apply(post, data, new_rows)
        # Content changed: schedule() drops a container made for the old
        # content (as an edit does); as a draft it then takes the next slot.
        post.schedule(post.scheduled_at or now)
        post.make_draft(None)
        db.session.flush()
        when, warning = _take_slot(user, post, now)
        db.session.commit()
    return old_files, when, warning


def _queued(post_id: int, when: datetime, warning: str | None):
    wake_saved(post_id, when)
    label = helpers.format_local(when, g.user.timezone)
    return done(f"Added to the queue: {label}", url_for("posts.index"), warning)


@bp.post("/post/queue")
@ratelimit.uploads
@helpers.login_required
def add_new():
    """Add to queue on the New post page: the post takes the next free slot."""
    try:
        data = read_post(g.user, now_utc(), draft=True)
        post_id, when, warning = queue_new(g.user, data, now_utc())
    except REFUSALS as exc:
        return refused(exc, "post/add.html")
    return _queued(post_id, when, warning)


@bp.post("/post/<int(max=2147483647):post_id>/queue")
@ratelimit.uploads
@helpers.login_required
def edit_to_queue(post_id: int):
    """Add to queue on the Edit page: save the changes, take the next free slot."""
    post = get_own_post(post_id)
    if not post.editable:
        return fail("This post is being published or is already live.", 409)
    try:
        data = read_post(g.user, now_utc(), editing=post, draft=True)
        old_files, when, warning = queue_edited(g.user, post_id, data, now_utc())
    except REFUSALS as exc:
        return refused(exc, "post/edit.html", post=post)
    delete_files(g.user, *old_files)
    return _queued(post_id, when, warning)
