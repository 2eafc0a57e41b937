"""The schedule: the profile-preview grid, creating, editing, reordering and
removing posts, publishing now, and serving a user's own images.
"""

from __future__ import annotations

from datetime import datetime

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
from ospost.grid import home_grid
from ospost.grid import render_home
from ospost.post_form import FormError
from ospost.post_form import apply
from ospost.post_form import parse_post_form
from ospost.post_form import store_new_images
from ospost.progress import publishing_steps
from ospost.progress import steps_payload
from ospost.scheduler import publisher
from ospost.storage import staged_names

bp = Blueprint("posts", __name__)


def commit_or_cleanup(user: User, new_files: list[str]) -> None:
    """Commit; if the database refuses, remove the files this request wrote."""
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        delete_files(user, *new_files)
        raise


def delete_files(user: User, *names: str | None) -> None:
    current_app.extensions["media_store"].delete(user.ig_account_id, *names)


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
        "comment_status": post.comment_status,
        "comment_error": post.comment_error,
        "steps": steps_payload(post),
    }


@bp.app_context_processor
def _post_page_helpers() -> dict:
    return {"publishing_steps": publishing_steps, "composer_items": composer_items}


def composer_items(items) -> list[dict]:
    """A post's images as the composer (static/js/lib/carousel.js) starts from."""
    out = []
    for item in items:
        name = item.filename or item.thumbnail
        out.append(
            {
                "id": item.id,
                "url": url_for("posts.upload", name=name) if name else "",
                "thumb": url_for("posts.upload", name=item.thumbnail or name or ""),
                "width": item.width,
                "height": item.height,
                "alt": item.alt_text,
                "tags": item.user_tags,
            }
        )
    return out


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
    """Create a post: 1-10 images, caption, people, first comment and when."""
    if request.method == "GET":
        return render_template("post/add.html", form={})
    try:
        data = parse_post_form(request.form, request.files, g.user, now_utc())
    except FormError as exc:
        return fail(str(exc), 400, "post/add.html")
    new_files = store_new_images(g.user, data.items)
    post = Post(user=g.user)
    apply(post, data)
    post.schedule(data.when)
    db.session.add(post)
    commit_or_cleanup(g.user, new_files)
    publisher.wake(post.id, post.next_attempt_at)
    return done("New post scheduled", url_for("posts.index"))


@bp.route("/post/<int(max=2147483647):post_id>/edit", methods=["GET", "POST"])
@helpers.login_required
def edit(post_id: int):
    """Change a post's images, caption, people, first comment or date."""
    post = get_own_post(post_id)
    if request.method == "GET":
        return render_template("post/edit.html", post=post, form={})
    if not post.editable:
        return fail("This post is being published or is already live.", 409)
    try:
        data = parse_post_form(request.form, request.files, g.user, now_utc(), post)
    except FormError as exc:
        return fail(str(exc), 400, "post/edit.html", post=post)
    new_files = store_new_images(g.user, data.items)
    old_files = apply(post, data)
    post.schedule(data.when)
    commit_or_cleanup(g.user, new_files)
    delete_files(g.user, *old_files)
    publisher.wake(post.id, post.next_attempt_at)
    return done("Post updated", url_for("posts.index"))


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


@bp.post("/post/<int(max=2147483647):post_id>/comment/retry")
@helpers.login_required
def retry_comment(post_id: int):
    """Try a live post's failed first comment again (the post stays as it is)."""
    post = get_own_post(post_id)
    if post.status != PostStatus.PUBLISHED or not post.comment_failed:
        return fail("Only a first comment that failed can be retried.", 409)
    if g.user.needs_reauth:
        return fail("Log in again to reconnect Instagram, then retry.", 409)
    post.retry_comment(now_utc())
    db.session.commit()
    publisher.wake(post.id)
    if helpers.wants_json():
        return status_payload(post)
    flash("Posting the first comment again…", "info")
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
