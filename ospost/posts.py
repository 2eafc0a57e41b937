"""The schedule: the profile-preview grid, creating, editing, reordering and
removing posts, publishing now, and serving a user's own images.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import send_from_directory
from flask import url_for
from sqlalchemy import or_
from sqlalchemy import select

import helpers
from models import Post
from models import PostMedia
from models import PostStatus
from models import User
from models import db
from models import now_utc
from ospost import images
from ospost.grid import home_grid
from ospost.grid import render_home
from ospost.scheduler import publisher
from ospost.storage import staged_names

bp = Blueprint("posts", __name__)


class FormError(ValueError):
    """Input the person must correct; the message says how."""


@dataclass(frozen=True)
class PostInput:
    caption: str
    alt_text: str
    when: datetime


# -- services ----------------------------------------------------------------


def parse_post_form(form, user: User, now: datetime) -> PostInput:
    """Validate caption, alt text and local date of a post form for ``user``."""
    caption = helpers.normalize_newlines(form.get("caption", ""))
    alt_text = helpers.normalize_newlines(form.get("alt_text", "")).strip()
    problems = helpers.caption_stats(caption).problems()
    if problems:
        raise FormError(" ".join(problems))
    if len(alt_text) > helpers.ALT_TEXT_MAX_CHARS:
        raise FormError(
            f"The alt text has {len(alt_text)} characters; Instagram allows "
            f"{helpers.ALT_TEXT_MAX_CHARS}."
        )
    raw = form.get("date", "")
    if not raw:
        raise FormError("Choose when to publish the post.")
    try:
        when = helpers.parse_local_datetime(raw, user.timezone)
    except helpers.LocalTimeError as exc:
        raise FormError(str(exc)) from exc
    check_publish_time(when, user, now)
    return PostInput(caption=caption, alt_text=alt_text, when=when)


def check_publish_time(when: datetime, user: User, now: datetime) -> None:
    """Refuse times in the past, too far ahead, or after the login runs out."""
    tz = user.timezone
    if when <= now:
        raise FormError(
            f"Pick a time in the future (it is now {helpers.format_local(now, tz)})."
        )
    max_days = current_app.config["MAX_SCHEDULE_DAYS"]
    if when > now + timedelta(days=max_days):
        raise FormError(
            f"Posts can be scheduled at most {max_days} days ahead, until "
            f"{helpers.format_local(now + timedelta(days=max_days), tz)}."
        )
    limit = user.schedule_limit(now, max_days)
    if when > limit:
        raise FormError(
            "Your Instagram login expires on "
            f"{helpers.format_local(user.token_expires_at, tz)}, so posts can be "
            f"scheduled until {helpers.format_local(limit, tz)}. Log in again to "
            "extend it."
        )


def read_image(files) -> images.ProcessedImage:
    """Normalise the uploaded image, or raise FormError saying what is wrong."""
    upload = files.get("image")
    if upload is None or not upload.filename:
        raise FormError("Choose an image to post.")
    try:
        return images.process_upload(upload.stream)
    except images.ImageRejected as exc:
        raise FormError(str(exc)) from exc


def store_images(user: User, processed: images.ProcessedImage) -> tuple[str, str]:
    store = current_app.extensions["media_store"]
    return store.save(user.ig_account_id, processed.jpeg, processed.thumbnail)


def delete_files(user: User, *names: str | None) -> None:
    current_app.extensions["media_store"].delete(user.ig_account_id, *names)


def commit_or_cleanup(user: User, *new_files: str | None) -> None:
    """Commit; if the database refuses, remove the files this request wrote."""
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        delete_files(user, *new_files)
        raise


def get_own_post(post_id: int) -> Post:
    """The current user's post, or 404 (also for other people's posts)."""
    post = db.session.get(Post, post_id)
    if post is None or post.user_id != g.user.id:
        abort(404)
    return post


def reorder(user: User, order: list[int]) -> list[tuple[int, datetime]]:
    """Give the user's scheduled posts the existing dates in a new visual order.

    The grid shows the last post first, so the first id gets the latest date.
    Returns (post id, new time) for each post whose date changed, read before
    the commit so waking their jobs needs no reload. Raises FormError when
    ``order`` is not exactly the current set of scheduled posts.
    """
    posts = db.session.scalars(user.scheduled_posts().with_for_update()).all()
    if sorted(order) != sorted(p.id for p in posts) or len(set(order)) != len(order):
        raise FormError("Your schedule changed in the meantime. Reload the page.")
    by_id = {p.id: p for p in posts}
    dates = sorted((p.scheduled_at for p in posts), reverse=True)
    moved = []
    for post_id, when in zip(order, dates, strict=True):
        post = by_id[post_id]
        if post.scheduled_at != when:
            post.schedule(when, content_changed=False)
            moved.append((post.id, when))
    return moved


def neighbour_order(user: User, post: Post, direction: str) -> list[int]:
    """The visual order after moving ``post`` one place earlier or later."""
    ids = [p.id for p in db.session.scalars(user.scheduled_posts())][::-1]
    if post.id not in ids or direction not in ("earlier", "later"):
        raise FormError("Only scheduled posts can be moved.")
    i = ids.index(post.id)
    # Visual order is newest first, so "earlier" means one place to the right.
    j = i + 1 if direction == "earlier" else i - 1
    if 0 <= j < len(ids):
        ids[i], ids[j] = ids[j], ids[i]
    return ids


def wake_all(moved: list[tuple[int, datetime]]) -> None:
    for post_id, when in moved:
        publisher.wake(post_id, when)


def status_payload(post: Post) -> dict:
    """What the page needs to show a post's progress."""
    tz = g.user.timezone
    return {
        "ok": True,
        "id": post.id,
        "status": post.status,
        "error": post.error_message,
        "waiting": post.waiting_reason,
        "permalink": post.permalink,
        "scheduled_at": helpers.format_local(post.scheduled_at, tz),
        "published_at": helpers.format_local(post.published_at, tz),
    }


def fail(message: str, status: int = 400, template: str | None = None, **ctx):
    """A correctable error: JSON for fetch calls, else the form again (or home)."""
    if helpers.wants_json():
        return {"ok": False, "error": message}, status
    flash(message, "danger")
    if template:
        return render_template(template, form=request.form, **ctx), status
    return redirect(url_for("posts.index"))


def done(message: str, target: str):
    """Success: flash and go to ``target`` (fetch calls get the URL to go to)."""
    flash(message, "success")
    if helpers.wants_json():
        return {"ok": True, "redirect": target}
    return redirect(target)


# -- routes ------------------------------------------------------------------


@bp.get("/")
@helpers.login_required
def index():
    """The grid that previews the Instagram profile."""
    return render_home(home_grid(g.user), expiring=g.user.token_expires_soon(now_utc()))


@bp.post("/")
@helpers.login_required
def reorder_posts():
    """Drag-and-drop reorder: swap dates so posts go out in the new order."""
    data = request.get_json(silent=True)
    order = data.get("order") if isinstance(data, dict) else None
    if not isinstance(order, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in order
    ):
        return {"ok": False, "error": "Send the new order as a list of post ids."}, 400
    try:
        moved = reorder(g.user, order)
    except FormError as exc:
        db.session.rollback()
        return {"ok": False, "error": str(exc)}, 409
    db.session.commit()
    wake_all(moved)
    return {"ok": True, "moved": [post_id for post_id, _ in moved]}


@bp.post("/post/<int(max=2147483647):post_id>/move")
@helpers.login_required
def move(post_id: int):
    """Keyboard alternative to dragging: move a post one place earlier or later."""
    post = get_own_post(post_id)
    try:
        order = neighbour_order(g.user, post, request.form.get("direction", ""))
        moved = reorder(g.user, order)
    except FormError as exc:
        db.session.rollback()
        return fail(str(exc), 409)
    db.session.commit()
    wake_all(moved)
    if helpers.wants_json():
        return {"ok": True, "moved": [post_id for post_id, _ in moved]}
    return redirect(url_for("posts.index", _anchor=f"post-{post.id}"))


@bp.route("/post/add", methods=["GET", "POST"])
@helpers.login_required
def add():
    """Create a post: image, caption, alt text and when to publish it."""
    if request.method == "GET":
        return render_template("post/add.html", form={})
    try:
        data = parse_post_form(request.form, g.user, now_utc())
        processed = read_image(request.files)
    except FormError as exc:
        return fail(str(exc), 400, "post/add.html")
    filename, thumb = store_images(g.user, processed)
    post = Post(user=g.user, caption=data.caption, alt_text=data.alt_text)
    post.filename, post.thumbnail = filename, thumb
    post.width, post.height = processed.width, processed.height
    post.schedule(data.when)
    db.session.add(post)
    commit_or_cleanup(g.user, filename, thumb)
    publisher.wake(post.id, post.next_attempt_at)
    return done("New post scheduled", url_for("posts.index"))


@bp.route("/post/<int(max=2147483647):post_id>/edit", methods=["GET", "POST"])
@helpers.login_required
def edit(post_id: int):
    """Change a post's caption, alt text, date or image."""
    post = get_own_post(post_id)
    if request.method == "GET":
        return render_template("post/edit.html", post=post, form={})
    if not post.editable:
        return fail("This post is being published or is already live.", 409)
    try:
        data = parse_post_form(request.form, g.user, now_utc())
        processed = read_image(request.files) if _has_file() else None
    except FormError as exc:
        return fail(str(exc), 400, "post/edit.html", post=post)
    old_files = new_files = ()
    if processed:
        old_files = (post.filename, post.thumbnail)
        new_files = store_images(g.user, processed)
        post.filename, post.thumbnail = new_files
        post.width, post.height = processed.width, processed.height
    post.caption, post.alt_text = data.caption, data.alt_text
    post.schedule(data.when)
    commit_or_cleanup(g.user, *new_files)
    delete_files(g.user, *old_files)
    publisher.wake(post.id, post.next_attempt_at)
    return done("Post updated", url_for("posts.index"))


def _has_file() -> bool:
    upload = request.files.get("image")
    return upload is not None and bool(upload.filename)


@bp.post("/post/<int(max=2147483647):post_id>/remove")
@helpers.login_required
def remove(post_id: int):
    """Delete a post from Ospost (a live Instagram post stays on Instagram)."""
    post = get_own_post(post_id)
    if post.status == PostStatus.PUBLISHING:
        return fail("This post is being published right now; wait a moment.", 409)
    files = post.file_names()
    secret = current_app.config["SECRET_KEY"]
    staged = staged_names(post, [m.filename for m in post.media], secret)
    publisher.cancel(post.id)
    db.session.delete(post)
    db.session.commit()
    delete_files(g.user, *files)
    for name in staged:
        current_app.extensions["media_store"].unstage(name)
    return done("Post removed", url_for("posts.index"))


@bp.post("/post/<int(max=2147483647):post_id>/publish")
@helpers.login_required
def publish_now(post_id: int):
    """Post now (or retry a failed post) through the same publishing engine."""
    post = get_own_post(post_id)
    if not post.editable:
        return fail("This post is already being published or is live.", 409)
    if g.user.needs_reauth:
        return fail("Log in again to reconnect Instagram, then retry.", 409)
    post.retry(now_utc())
    db.session.commit()
    publisher.wake(post.id)
    if helpers.wants_json():
        return status_payload(post)
    flash("Publishing now…", "info")
    return redirect(url_for("posts.edit", post_id=post.id))


@bp.get("/post/<int(max=2147483647):post_id>/status")
@helpers.login_required
def status(post_id: int):
    """Progress of a post, polled by the page while it publishes."""
    return status_payload(get_own_post(post_id))


@bp.get("/uploads/<name>")
@helpers.login_required
def upload(name: str):
    """Serve one of the current user's images (404 for anyone else's)."""
    owned = db.session.scalar(
        select(PostMedia.id)
        .join(Post)
        .where(
            Post.user_id == g.user.id,
            or_(PostMedia.filename == name, PostMedia.thumbnail == name),
        )
    )
    if owned is None:
        abort(404)
    store = current_app.extensions["media_store"]
    return send_from_directory(store.user_dir(g.user.ig_account_id), name, max_age=3600)
