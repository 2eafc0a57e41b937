"""The schedule: the profile-preview grid, creating, editing, reordering and
removing posts, publishing now, and serving a user's own images.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import make_response
from flask import redirect
from flask import render_template
from flask import request
from flask import send_from_directory
from flask import url_for
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

import helpers
from models import Post
from models import PostStatus
from models import User
from models import db
from models import now_utc
from ospost import images
from ospost import quota
from ospost import ratelimit
from ospost import schemas
from ospost.grid import home_grid
from ospost.grid import render_home
from ospost.scheduler import publisher
from ospost.storage import staged_name

log = logging.getLogger(__name__)
bp = Blueprint("posts", __name__)

BUSY_MESSAGE = (
    "Ospost is busy processing other photos, so this post was not saved. "
    "Try again in a few seconds."
)


@bp.record_once
def _share_decoding(state) -> None:
    """Give the app one image-decoding budget, shared by every request thread."""
    images.return_freed_memory_promptly()
    cfg = state.app.config
    state.app.extensions["decode_budget"] = images.DecodeBudget(
        workers=cfg["IMAGE_WORKERS"] or os.cpu_count() or 1,
        memory=cfg["IMAGE_MEMORY_MB"] * 1024 * 1024,
        wait=cfg["IMAGE_WAIT_SECONDS"],
    )


# Set by the home page's "Details" switch: "1" shows every tile's status,
# time and actions; otherwise the grid shows photos first.
DETAILS_COOKIE = "ospost_grid_details"


class FormError(ValueError):
    """Input the person must correct; the message says how.

    ``fields`` maps form fields to what is wrong with each, so the page can
    show every problem at its own field at once; the message then joins them.
    """

    def __init__(self, message: str = "", fields: dict[str, str] | None = None):
        self.fields = dict(fields or {})
        super().__init__(message or " ".join(self.fields.values()))


class Conflict(FormError):
    """The post or account changed while the request was handled (HTTP 409)."""


@dataclass(frozen=True)
class PostInput:
    caption: str
    alt_text: str
    when: datetime
    warning: str | None = None  # the publishing quota is nearly used up


# -- services ----------------------------------------------------------------


def parse_post_form(
    form, user: User, now: datetime, editing: Post | None = None
) -> PostInput:
    """Read caption, alt text and local date of a post form for ``user``.

    Every field is checked, so the person learns all their mistakes at once:
    the FormError raised names each problem's field. ``editing`` is the post
    being changed (its old date does not count toward the publishing quota).
    """
    errors = {}
    caption = helpers.normalize_newlines(form.get("caption", ""))
    alt_text = helpers.normalize_newlines(form.get("alt_text", "")).strip()
    problems = helpers.caption_stats(caption).problems()
    if problems:
        errors["caption"] = " ".join(problems)
    if len(alt_text) > helpers.ALT_TEXT_MAX_CHARS:
        errors["alt_text"] = (
            f"The alt text has {len(alt_text)} characters; Instagram allows "
            f"{helpers.ALT_TEXT_MAX_CHARS}."
        )
    warning = None
    try:
        when = parse_publish_time(form.get("date", ""), user, now)
        warning = quota.check_new_time(user, when, editing.id if editing else None)
    except FormError as exc:
        errors["date"] = str(exc)
    except quota.QuotaFull as exc:
        errors["date"] = str(exc)
    if errors:
        raise FormError(fields=errors)
    return PostInput(caption=caption, alt_text=alt_text, when=when, warning=warning)


def parse_publish_time(raw: str, user: User, now: datetime) -> datetime:
    """The instant a person typed as local time, if they may schedule it."""
    if not raw:
        raise FormError("Choose when to publish the post.")
    try:
        when = helpers.parse_local_datetime(raw, user.timezone)
    except helpers.LocalTimeError as exc:
        raise FormError(str(exc)) from exc
    check_publish_time(when, user, now)
    return when


def read_post(
    user: User, now: datetime, *, image_required: bool, editing: Post | None = None
):
    """The post form and its image, checked together so every problem shows.

    Returns (PostInput, ProcessedImage or None when no new image was sent);
    raises FormError with the fields at fault, or images.Busy when there is
    no room to decode the image in time. The request's database connection
    goes back to the pool before the image is read (``release_connection``).
    """
    errors = {}
    data = processed = None
    try:
        data = parse_post_form(request.form, user, now, editing)
    except FormError as exc:
        errors.update(exc.fields)
    release_connection()  # the quota check was the last read
    background = helpers.parse_hex_color(request.form.get("background") or "#ffffff")
    if background is None:
        errors["background"] = "Choose the background colour from the colour picker."
    elif image_required or _has_file():
        try:
            processed = read_image(request.files, background)
        except FormError as exc:
            errors["image"] = str(exc)
    if errors:
        raise FormError(fields=errors)
    return data, processed


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


def read_image(files, background=images.WHITE) -> images.ProcessedImage:
    """Normalise the uploaded image, or raise FormError saying what is wrong.

    Transparent areas are flattened onto ``background``, the colour the person
    saw behind them in the cropper. Waits for room in the app's decoding
    budget; raises images.Busy (nothing done) when none frees up in time.
    """
    upload = files.get("image")
    if upload is None or not upload.filename:
        raise FormError("Choose an image to post.")
    budget = current_app.extensions["decode_budget"]
    try:
        return images.process_upload(upload.stream, budget, background=background)
    except images.ImageRejected as exc:
        raise FormError(str(exc)) from exc


def release_connection() -> None:
    """Give the request's database connection back to the pool before slow work.

    The session row and ``g.user`` were read on it (see ``ospost.sessions``);
    they stay readable, detached, with the values already loaded. Reading a
    big upload and decoding it take up to seconds, and 20 parallel uploads
    holding their connections meanwhile exhausted the pool (issue 16).
    """
    db.session.close()


def store_images(user: User, processed: images.ProcessedImage) -> tuple[str, str]:
    store = current_app.extensions["media_store"]
    return store.save(user.ig_account_id, processed.jpeg, processed.thumbnail)


def delete_files(user: User, *names: str | None) -> None:
    current_app.extensions["media_store"].delete(user.ig_account_id, *names)


@contextmanager
def undone_on_failure(user: User, *new_files: str | None) -> Iterator[None]:
    """Run a transaction; if anything in it fails, roll back and remove the
    files this request wrote, so nothing is left half-saved."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        delete_files(user, *new_files)
        raise


def create_post(
    user: User, data: PostInput, processed: images.ProcessedImage
) -> tuple[int, datetime]:
    """Store the images and insert the post in one short transaction.

    Returns the post's id and when the publisher should look at it, read
    before the commit so that nothing needs the database afterwards.
    """
    filename, thumb = store_images(user, processed)
    with undone_on_failure(user, filename, thumb):
        if db.session.get(User, user.id) is None:
            raise Conflict("Your account was deleted in the meantime.")
        post = Post(user_id=user.id, caption=data.caption, alt_text=data.alt_text)
        post.filename, post.thumbnail = filename, thumb
        post.width, post.height = processed.width, processed.height
        post.image_sha256 = hashlib.sha256(processed.jpeg).hexdigest()
        post.schedule(data.when)
        db.session.add(post)
        db.session.flush()
        saved = (post.id, post.next_attempt_at)
        db.session.commit()
    return saved


def update_post(
    user: User,
    post_id: int,
    data: PostInput,
    processed: images.ProcessedImage | None,
) -> tuple[tuple[str | None, ...], datetime]:
    """Store any new image and change the post in one short transaction.

    The post is read again, locked, because it may have been removed or
    claimed for publishing while the image was processed. Returns the files
    the post no longer uses and when the publisher should look at it.
    """
    new_files = store_images(user, processed) if processed else ()
    with undone_on_failure(user, *new_files):
        post = db.session.get(Post, post_id, with_for_update=True)
        if post is None or post.user_id != user.id:
            raise Conflict("This post was removed in the meantime.")
        if not post.editable:
            raise Conflict("This post is being published or is already live.")
        old_files: tuple[str | None, ...] = ()
        if processed:
            old_files = (post.filename, post.thumbnail)
            post.filename, post.thumbnail = new_files
            post.width, post.height = processed.width, processed.height
            post.image_sha256 = hashlib.sha256(processed.jpeg).hexdigest()
        post.caption, post.alt_text = data.caption, data.alt_text
        post.schedule(data.when)
        wake_at = post.next_attempt_at
        db.session.commit()
    return old_files, wake_at


def wake_saved(post_id: int, when: datetime) -> None:
    """Wake the publisher for a post just committed.

    The post is saved whatever happens here, so a failure must not turn the
    response into an error; the publisher's sweep finds the post anyway.
    """
    try:
        publisher.wake(post_id, when)
    except Exception:
        log.exception("could not wake the publisher for post %s", post_id)


def get_own_post(post_id: int) -> Post:
    """The current user's post, or 404 (also for other people's posts)."""
    post = db.session.get(Post, post_id)
    if post is None or post.user_id != g.user.id:
        abort(404)
    return post


@dataclass(frozen=True)
class Move:
    """One post a schedule change moved, from ``before`` to ``after``."""

    post: Post
    post_id: int
    before: datetime
    after: datetime


@dataclass(frozen=True)
class Restore:
    """Undo asks for post ``post_id`` to go back to ``when``; the page last saw
    it as of ``updated_at``."""

    post_id: int
    when: datetime
    updated_at: datetime


def reorder(user: User, order: list[int]) -> list[Move]:
    """Give the user's scheduled posts the existing dates in a new visual order.

    The posts keep the set of times and take them in the new order, so moving
    one post shifts every post between its old and new place by one time. The
    grid shows the last post first, so the first id gets the latest date.
    Returns the posts whose date changed. Raises FormError when ``order`` is
    not exactly the current set of scheduled posts.
    """
    lock_schedule(user)
    # populate_existing: a post loaded before the lock must show its dates now.
    posts = db.session.scalars(
        user.scheduled_posts()
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    if sorted(order) != sorted(p.id for p in posts) or len(set(order)) != len(order):
        raise FormError("Your schedule changed in the meantime. Reload the page.")
    by_id = {p.id: p for p in posts}
    dates = sorted((p.scheduled_at for p in posts), reverse=True)
    moves = []
    for post_id, when in zip(order, dates, strict=True):
        post = by_id[post_id]
        if post.scheduled_at != when:
            moves.append(Move(post, post.id, post.scheduled_at, when))
            post.schedule(when, content_changed=False)
    return moves


def restore(user: User, posts: list[Post], wanted: list[Restore], now: datetime):
    """Put ``posts`` (the user's own, fetched for ``wanted``) back at the times
    ``wanted`` gives, all or none, and return the moves.

    Refused (FormError) when a post is no longer scheduled or changed since the
    page saw it, or when a time is not one the person could pick now (never in
    the past), so an undo never overwrites a newer change.
    """
    # Lock the rows (so the engine cannot claim one half-way through) and read
    # them again under the lock: the check below must see the latest commit.
    db.session.scalars(
        select(Post)
        .where(Post.user_id == user.id, Post.id.in_([p.id for p in posts]))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    changed = [
        post_label(p)
        for p, w in zip(posts, wanted, strict=True)
        if p.status != PostStatus.SCHEDULED or p.updated_at != w.updated_at
    ]
    if changed:
        raise FormError(
            f"Not undone: {', '.join(changed)} changed since the move (edited, "
            "moved again or being published). Nothing was changed."
        )
    moves = []
    for post, w in zip(posts, wanted, strict=True):
        try:
            check_publish_time(w.when, user, now)
        except FormError as exc:
            raise FormError(f"Not undone: {post_label(post)}: {exc}") from exc
        if post.scheduled_at != w.when:
            moves.append(Move(post, post.id, post.scheduled_at, w.when))
            post.schedule(w.when, content_changed=False)
    return moves


def parse_restore(body: schemas.RestoreRequest) -> list[Restore] | None:
    """The posts an undo request names, or None when a time is not an ISO
    instant with its offset or a post is named twice."""
    wanted = []
    for item in body.posts:
        when = _aware(item.scheduled_at)
        updated_at = _aware(item.updated_at)
        if when is None or updated_at is None:
            return None
        wanted.append(Restore(item.id, when, updated_at))
    if len({w.post_id for w in wanted}) != len(wanted):
        return None
    return wanted


def _aware(value) -> datetime | None:
    """An ISO 8601 instant with its offset, as aware UTC; None otherwise."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def post_label(post: Post) -> str:
    """A short name for a post in messages: its alt text or caption's start."""
    text = " ".join((post.alt_text or post.caption or "").split())
    if not text:
        return f"post {post.id}"
    return f"“{text[:37]}…”" if len(text) > 40 else f"“{text}”"


def save_moves(moves: list[Move]) -> dict:
    """Commit ``moves``, wake their jobs, and describe them for the page.

    Each moved post is listed with its time before and after (for the toast
    and its Undo) and the ``updated_at`` an undo must still find.
    """
    # One explicit stamp: what the ORM's onupdate hands back after a batched
    # UPDATE is not always what each row got, and an undo must match exactly.
    stamp = now_utc()
    for m in moves:
        m.post.updated_at = stamp
    tz = g.user.timezone
    upload = url_for("posts.upload", name="NAME")
    moved = [
        {
            "id": m.post_id,
            "label": post_label(m.post),
            "thumbnail": upload.replace("NAME", m.post.thumbnail)
            if m.post.thumbnail
            else None,
            "before": m.before.isoformat(),
            "after": m.after.isoformat(),
            "before_label": helpers.format_local(m.before, tz),
            "after_label": helpers.format_local(m.after, tz),
            "updated_at": stamp.isoformat(),
        }
        for m in moves
    ]
    db.session.commit()
    for m in moves:
        publisher.wake(m.post_id, m.after)
    return {"ok": True, "moved": moved}


def moves_summary(moved: list[dict]) -> str:
    """One sentence for the page without JavaScript: what moved where."""
    if not moved:
        return "Nothing moved."
    parts = [f"{m['label']} {m['before_label']} → {m['after_label']}" for m in moved]
    return f"Moved {len(moved)} post{'s' if len(moved) > 1 else ''}: " + "; ".join(
        parts
    )


def lock_schedule(user: User) -> None:
    """Hold the user's schedule until the commit, so two changes cannot interleave.

    Two reorders that both read the old dates and then wrote would leave one
    date twice and lose another. PostgreSQL would lock the rows read FOR UPDATE,
    but SQLite ignores FOR UPDATE: a no-op write to the user's row takes its
    database write lock (and PostgreSQL's row lock) before anything is read.
    """
    db.session.execute(
        update(User).where(User.id == user.id).values(needs_reauth=User.needs_reauth)
    )


def neighbour_order(user: User, post: Post, direction: str) -> list[int]:
    """The visual order after moving ``post`` one place earlier or later."""
    lock_schedule(user)
    ids = [p.id for p in db.session.scalars(user.scheduled_posts())][::-1]
    if post.id not in ids or direction not in ("earlier", "later"):
        raise FormError("Only scheduled posts can be moved.")
    i = ids.index(post.id)
    # Visual order is newest first, so "earlier" means one place to the right.
    j = i + 1 if direction == "earlier" else i - 1
    if 0 <= j < len(ids):
        ids[i], ids[j] = ids[j], ids[i]
    return ids


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
    }


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


def busy(exc: images.Busy, template: str, **ctx):
    """No room to process the image in time: 503 with Retry-After, nothing saved."""
    log.warning("image decoding budget full; answered 503")
    response = make_response(fail(BUSY_MESSAGE, 503, template, **ctx))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


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
    """Create a post: image, caption, alt text and when to publish it."""
    if request.method == "GET":
        return render_template("post/add.html", form={})
    try:
        data, processed = read_post(g.user, now_utc(), image_required=True)
        post_id, wake_at = create_post(g.user, data, processed)
    except Conflict as exc:
        return fail(str(exc), 409, "post/add.html")
    except FormError as exc:
        return fail(str(exc), 400, "post/add.html", exc.fields)
    except images.Busy as exc:
        return busy(exc, "post/add.html")
    wake_saved(post_id, wake_at)
    return done("New post scheduled", url_for("posts.index"), data.warning)


@bp.route("/post/<int(max=2147483647):post_id>/edit", methods=["GET", "POST"])
@ratelimit.uploads
@helpers.login_required
def edit(post_id: int):
    """Change a post's caption, alt text, date or image."""
    post = get_own_post(post_id)
    if request.method == "GET":
        return render_template("post/edit.html", post=post, form={})
    if not post.editable:
        return fail("This post is being published or is already live.", 409)
    try:
        data, processed = read_post(
            g.user, now_utc(), image_required=not post.filename, editing=post
        )
        old_files, wake_at = update_post(g.user, post_id, data, processed)
    except Conflict as exc:
        return fail(str(exc), 409)
    except FormError as exc:
        return fail(str(exc), 400, "post/edit.html", exc.fields, post=post)
    except images.Busy as exc:
        return busy(exc, "post/edit.html", post=post)
    delete_files(g.user, *old_files)
    wake_saved(post_id, wake_at)
    return done("Post updated", url_for("posts.index"), data.warning)


def _has_file() -> bool:
    upload = request.files.get("image")
    return upload is not None and bool(upload.filename)


@bp.post("/post/<int(max=2147483647):post_id>/remove")
@ratelimit.mutations
@helpers.login_required
def remove(post_id: int):
    """Delete a post from Ospost (a live Instagram post stays on Instagram)."""
    post = get_own_post(post_id)
    if post.status == PostStatus.PUBLISHING:
        return fail("This post is being published right now; wait a moment.", 409)
    files = (post.filename, post.thumbnail)
    staged = staged_name(post, current_app.config["SECRET_KEY"])
    publisher.cancel(post.id)
    db.session.delete(post)
    db.session.commit()
    delete_files(g.user, *files)
    current_app.extensions["media_store"].unstage(staged)
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
        select(Post.id).where(
            Post.user_id == g.user.id,
            or_(Post.filename == name, Post.thumbnail == name),
        )
    )
    if owned is None:
        abort(404)
    store = current_app.extensions["media_store"]
    resp = send_from_directory(store.user_dir(g.user.ig_account_id), name)
    # Someone's unpublished photo: no shared cache (a proxy, a CDN) may keep it,
    # and the browser must not leave a copy on disk after logout.
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
