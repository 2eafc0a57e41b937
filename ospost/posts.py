"""The schedule: the profile-preview grid, creating, editing, reordering and
removing posts, publishing now, and serving a user's own images.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from sqlalchemy import or_
from sqlalchemy import select

import helpers
from models import Post
from models import PostMedia
from models import PostStatus
from models import db
from models import now_utc
from ospost import decode_budget
from ospost import quota
from ospost import ratelimit
from ospost import schemas
from ospost.blobstore import BlobError
from ospost.grid import home_grid
from ospost.grid import render_home
from ospost.post_form import Conflict
from ospost.post_form import FormError
from ospost.post_form import check_publish_time as check_publish_time
from ospost.post_form import read_post
from ospost.post_save import create_post
from ospost.post_save import delete_files
from ospost.post_save import undone_on_failure as undone_on_failure
from ospost.post_save import update_post
from ospost.post_save import wake_saved
from ospost.progress import publishing_steps
from ospost.progress import steps_payload
from ospost.schedule_moves import moves_summary
from ospost.schedule_moves import neighbour_order
from ospost.schedule_moves import parse_restore
from ospost.schedule_moves import post_label as post_label
from ospost.schedule_moves import reorder
from ospost.schedule_moves import restore
from ospost.schedule_moves import save_moves
from ospost.scheduler import publisher
from ospost.storage import staged_names

log = logging.getLogger(__name__)
STORAGE_DOWN = (
    "Ospost could not store your images just now (the media storage did not "
    "answer). Nothing was saved; try again in a minute."
)
bp = Blueprint("posts", __name__)

BUSY_MESSAGE = (
    "Ospost is busy processing other photos, so this post was not saved. "
    "Try again in a few seconds."
)


@bp.record_once
def _share_decoding(state) -> None:
    """Give the app one image-decoding budget, shared by every request thread."""
    decode_budget.return_freed_memory_promptly()
    cfg = state.app.config
    state.app.extensions["decode_budget"] = decode_budget.DecodeBudget(
        workers=cfg["IMAGE_WORKERS"] or os.cpu_count() or 1,
        memory=cfg["IMAGE_MEMORY_MB"] * 1024 * 1024,
        wait=cfg["IMAGE_WAIT_SECONDS"],
    )


# Set by the home page's "Details" switch: "1" shows every tile's status,
# time and actions; otherwise the grid shows photos first.
DETAILS_COOKIE = "ospost_grid_details"


def get_own_post(post_id: int) -> Post:
    """The current user's post, or 404 (also for other people's posts)."""
    post = db.session.get(Post, post_id)
    if post is None or post.user_id != g.user.id:
        abort(404)
    return post


def own_post_ids_or_404(post_ids: list[int]) -> None:
    """404 when an id sent in a JSON body is another account's post (checked
    in one query); ids of posts gone meanwhile are left to the caller."""
    foreign = db.session.scalar(
        select(Post.id)
        .where(Post.id.in_(set(post_ids)), Post.user_id != g.user.id)
        .limit(1)
    )
    if foreign is not None:
        abort(404)


def status_payload(post: Post) -> dict:
    """What the page needs to show a post's progress."""
    tz = g.user.timezone
    return {
        "ok": True,
        "id": post.id,
        "status": post.status,
        "error": post.error_message,
        "waiting": post.waiting_reason,
        "checking": post.checking,
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
                "video": item.video is not None,  # a carousel's video item
            }
        )
    return out


def fail(
    message: str,
    status: int = 400,
    template: str | None = None,
    fields: dict[str, str] | None = None,
    **ctx,
):
    """A correctable error: JSON for fetch calls, else the form again (or home).

    ``fields`` (form field → problem) lets the page mark each field at fault.
    """
    if helpers.wants_json():
        body = {"ok": False, "error": message}
        if fields:
            body["fields"] = fields
        return body, status
    flash(message, "danger")
    if template:
        return render_template(
            template, form=request.form, errors=fields or {}, **ctx
        ), status
    return redirect(url_for("posts.index"))


def busy(exc: decode_budget.Busy, template: str, **ctx):
    """No room to process the image in time: 503 with Retry-After, nothing saved."""
    log.warning("image decoding budget full; answered 503")
    response = make_response(fail(BUSY_MESSAGE, 503, template, **ctx))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


# What a form save may raise instead of saving: each has one answer below.
REFUSALS = (Conflict, FormError, decode_budget.Busy, BlobError)


def refused(exc: Exception, template: str, *, storage_down: str = STORAGE_DOWN, **ctx):
    """Answer a save that did not happen, the same way on every form page.

    A bad field (400) and a full decoding budget (503, Retry-After) give the
    form back with the person's input; so does a storage outage (503, logged),
    which saved nothing. A conflict (409) on a new post gives the form back
    too, but on an existing post (``post`` in ``ctx``) it goes home: the post
    changed state under the person, and its form no longer applies.
    """
    if isinstance(exc, Conflict):
        if "post" in ctx:
            return fail(str(exc), 409)
        return fail(str(exc), 409, template, **ctx)
    if isinstance(exc, FormError):
        return fail(str(exc), 400, template, exc.fields, **ctx)
    if isinstance(exc, decode_budget.Busy):
        return busy(exc, template, **ctx)
    log.exception("not saved: media storage failed")
    return fail(storage_down, 503, template, **ctx)


def done(message: str, target: str, warning: str | None = None):
    """Success: flash and go to ``target`` (fetch calls get the URL to go to)."""
    flash(message, "success")
    if warning:
        flash(warning, "warning")
    if helpers.wants_json():
        return with_warning({"ok": True, "redirect": target}, warning)
    return redirect(target)


def with_warning(payload: dict, warning: str | None) -> dict:
    """A JSON answer, with the quota warning when there is one."""
    return {**payload, "warning": warning} if warning else payload


def schedule_warning(moved: list[tuple[int, datetime]]) -> str | None:
    """After dates moved: say so if a 24-hour window holds more than the quota."""
    return quota.overfull_warning(g.user) if moved else None


# -- routes ------------------------------------------------------------------


@bp.get("/")
@helpers.login_required
def index():
    """The grid that previews the Instagram profile."""
    return render_home(
        home_grid(g.user),
        expiring=g.user.token_expires_soon(now_utc()),
        # The "Details" switch, remembered by this browser (static/js/pages/home.js).
        details=request.cookies.get(DETAILS_COOKIE) == "1",
    )


@bp.post("/")
@ratelimit.mutations
@helpers.login_required
def reorder_posts():
    """Drag-and-drop reorder: the scheduled posts take their times in the new order.

    Answers with every moved post's time before and after, for the toast and
    its Undo (``restore_times``).
    """
    data = schemas.parse_json(
        schemas.ReorderRequest,
        what="the new order as a list of post ids",
        max_bytes=schemas.REORDER_MAX_BYTES,
    )
    own_post_ids_or_404(data.order)
    try:
        moves = reorder(g.user, data.order)
    except FormError as exc:
        db.session.rollback()
        return {"ok": False, "error": str(exc)}, 409
    return with_warning(save_moves(moves), schedule_warning(moves))


@bp.post("/schedule/restore")
@ratelimit.mutations
@helpers.login_required
def restore_times():
    """Undo a move: put the posts back at their earlier times, if none changed since.

    JSON body: ``{"posts": [{"id", "scheduled_at", "updated_at"}, ...]}`` as the
    move's answer gave them (``before`` as ``scheduled_at``). All or nothing.
    """
    body = schemas.parse_json(
        schemas.RestoreRequest,
        what="the posts to restore as a list of {id, scheduled_at, updated_at}",
        max_bytes=schemas.REORDER_MAX_BYTES,
    )
    wanted = parse_restore(body)
    if wanted is None:
        return {
            "ok": False,
            "error": "Send the posts to restore as a list of "
            "{id, scheduled_at, updated_at}.",
        }, 400
    posts = [get_own_post(w.post_id) for w in wanted]
    try:
        moves = restore(g.user, posts, wanted, now_utc())
    except FormError as exc:
        db.session.rollback()
        return {"ok": False, "error": str(exc)}, 409
    return with_warning(save_moves(moves), schedule_warning(moves))


@bp.post("/post/<int(max=2147483647):post_id>/move")
@ratelimit.mutations
@helpers.login_required
def move(post_id: int):
    """Keyboard alternative to dragging: move a post one place earlier or later."""
    post = get_own_post(post_id)
    try:
        order = neighbour_order(g.user, post, request.form.get("direction", ""))
        moves = reorder(g.user, order)
    except FormError as exc:
        db.session.rollback()
        return fail(str(exc), 409)
    warning = schedule_warning(moves)
    payload = save_moves(moves)
    if helpers.wants_json():
        return with_warning(payload, warning)
    flash(moves_summary(payload["moved"]), "success")
    if warning:
        flash(warning, "warning")
    return redirect(url_for("posts.index", _anchor=f"post-{post_id}"))


@bp.route("/post/add", methods=["GET", "POST"])
@ratelimit.uploads
@helpers.login_required
def add():
    """Create a post: 1-10 images, caption, people, first comment and when."""
    if request.method == "GET":
        return render_template("post/add.html", form={})
    try:
        data = read_post(g.user, now_utc())
        post_id = create_post(g.user, data)
    except REFUSALS as exc:
        return refused(exc, "post/add.html")
    wake_saved(post_id, data.when)
    return done("New post scheduled", url_for("posts.index"), data.warning)


@bp.route("/post/<int(max=2147483647):post_id>/edit", methods=["GET", "POST"])
@ratelimit.uploads
@helpers.login_required
def edit(post_id: int):
    """Change a post's images, caption, people, first comment or date."""
    post = get_own_post(post_id)
    if request.method == "GET":
        return render_template("post/edit.html", post=post, form={})
    if post.post_type != "feed":  # its own form, which takes videos
        return redirect(url_for("reels.edit", post_id=post_id), 307)
    if not post.editable:
        return fail("This post is being published or is already live.", 409)
    try:
        data = read_post(g.user, now_utc(), editing=post)
        old_files, wake_at = update_post(g.user, post_id, data)
    except REFUSALS as exc:
        return refused(exc, "post/edit.html", post=post)
    delete_files(g.user, *old_files)
    wake_saved(post_id, wake_at)
    return done("Post updated", url_for("posts.index"), data.warning)


@bp.post("/post/<int(max=2147483647):post_id>/remove")
@ratelimit.mutations
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
@ratelimit.mutations
@helpers.login_required
def publish_now(post_id: int):
    """Post now (or retry a failed post) through the same publishing engine."""
    post = get_own_post(post_id)
    if not post.editable:
        return fail("This post is already being published or is live.", 409)
    if g.user.needs_reauth:
        return fail("Log in again to reconnect Instagram, then retry.", 409)
    if not post.filename:  # a draft saved without one
        return fail("Add an image to this draft before publishing it.", 409)
    post.retry(now_utc())
    db.session.commit()
    publisher.wake(post.id)
    if helpers.wants_json():
        return status_payload(post)
    flash("Publishing now…", "info")
    return redirect(url_for("posts.edit", post_id=post.id))


@bp.post("/post/<int(max=2147483647):post_id>/comment/retry")
@ratelimit.mutations
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
    resp = current_app.extensions["media_store"].send(g.user.ig_account_id, name)
    # Someone's unpublished photo: no shared cache (a proxy, a CDN) may keep it,
    # and the browser must not leave a copy on disk after logout.
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
