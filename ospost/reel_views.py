"""The Reel and Story composers, and their video's conversion progress.

``/post/add`` stays the feed post's composer; the "Post type" choice on it
leads to ``/post/add/reel`` and ``/post/add/story`` here. The upload is
checked while the request waits (seconds: what the file is, whether it can
be posted at all); its conversion runs afterwards in the background and the
post page shows its progress (``/post/<id>/video``).
"""

from __future__ import annotations

import logging

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import g
from flask import render_template
from flask import request
from flask import url_for

import helpers
from models import now_utc
from ospost import ratelimit
from ospost.media.specs import MAX_UPLOAD_BYTES
from ospost.media.specs import SPECS
from ospost.post_save import wake_saved
from ospost.posts import REFUSALS
from ospost.posts import done
from ospost.posts import fail
from ospost.posts import get_own_post
from ospost.posts import refused
from ospost.reel_edit import finish_edit
from ospost.reel_edit import update_reel
from ospost.reel_models import PostType
from ospost.reel_upload import create_reel
from ospost.reel_upload import read_reel
from ospost.reels import conversions
from ospost.scheduler import publisher

log = logging.getLogger(__name__)
bp = Blueprint("reels", __name__)

KINDS = "<any(reel,story):kind>"
POST_ID = "<int(max=2147483647):post_id>"
# The routes that take a video upload (a larger body than photos).
NOT_EDITABLE = "This {noun} is being published or is already live: it can't be changed."
VIDEO_STORAGE_DOWN = (
    "Ospost could not store your video just now (the media storage did not "
    "answer). Nothing was saved; try again in a minute."
)


@bp.app_context_processor
def _reel_page_helpers() -> dict:
    return {"reel_video_limits": video_limits}


def upload_limit() -> int:
    """The largest request body of a video upload (VIDEO_MAX_UPLOAD_MB)."""
    return current_app.config["VIDEO_MAX_UPLOAD_MB"] * 1024 * 1024


def video_limits() -> dict:
    """What the composer checks before sending, from the server's limits."""
    mb = current_app.config["VIDEO_MAX_UPLOAD_MB"]
    return {
        "max_upload_mb": mb,
        "max_upload_bytes": min(upload_limit(), MAX_UPLOAD_BYTES),
        "reel": {
            "min_s": SPECS["reel"].min_seconds,
            "max_s": SPECS["reel"].max_seconds,
        },
        "story": {
            "min_s": SPECS["story"].min_seconds,
            "max_s": SPECS["story"].max_seconds,
        },
    }


def video_payload(post) -> dict:
    """The conversion's state for the post page's polling."""
    video = post.video
    if video is None:
        return {"ok": True, "status": None}
    return {
        "ok": True,
        "status": video.status,
        "progress": round(video.progress, 3),
        "error": video.error,
        "changes": video.changes,
        "waiting": post.waiting_reason,
    }


def noun_of(kind: str) -> str:
    return "Reel" if kind == PostType.REEL else "Story"


@bp.route(f"/post/add/{KINDS}", methods=["GET", "POST"])
@ratelimit.uploads
@helpers.login_required
def add(kind: str):
    """Create a Reel (one video) or a Story (one photo or video)."""
    template = "post/add_reel.html"
    ctx = {"kind": kind, "video_limits": video_limits()}
    if request.method == "GET":
        return render_template(template, form={}, **ctx)
    try:
        post_id, warning = _create(kind)
    except REFUSALS as exc:
        return refused(exc, template, storage_down=VIDEO_STORAGE_DOWN, **ctx)
    noun = noun_of(kind)
    return done(f"{noun} scheduled", url_for("posts.edit", post_id=post_id), warning)


@bp.post(f"/post/add/{KINDS}/draft")
@ratelimit.uploads
@helpers.login_required
def add_draft(kind: str):
    """Save draft on the New Reel or New Story page: no time needed; the
    video is checked and converted as for a scheduled one."""
    ctx = {"kind": kind, "video_limits": video_limits()}
    try:
        _create(kind, draft=True)
    except REFUSALS as exc:
        return refused(
            exc, "post/add_reel.html", storage_down=VIDEO_STORAGE_DOWN, **ctx
        )
    return done("Draft saved", url_for("calendar.index", _anchor="drafts"))


def _create(kind: str, *, draft: bool = False) -> tuple[int, str | None]:
    data = read_reel(g.user, now_utc(), kind, draft=draft)
    post_id = create_reel(g.user, data, draft=draft)
    if data.source:
        conversions.start(post_id)
    if not draft:
        wake_saved(post_id, data.when)
    return post_id, data.warning


@bp.post(f"/post/{POST_ID}/reel")
@ratelimit.uploads
@helpers.login_required
def edit(post_id: int):
    """Change a saved Reel or Story: its text, time, cover, share to feed,
    or its video (converted again)."""
    post = get_own_post(post_id)
    if post.post_type == PostType.FEED:
        abort(404)
    if not post.editable:
        return fail(NOT_EDITABLE.format(noun=noun_of(post.post_type)), 409)
    try:
        saved = _update(post)
    except REFUSALS as exc:
        return _refused_edit(exc, post)
    wake_saved(post_id, saved.wake_at)
    return done(
        f"{noun_of(post.post_type)} updated", url_for("posts.edit", post_id=post_id)
    )


@bp.post(f"/post/{POST_ID}/reel/draft")
@ratelimit.uploads
@helpers.login_required
def save_draft(post_id: int):
    """Save draft on a Reel's or Story's page: keep the changes, take it off
    the schedule."""
    post = get_own_post(post_id)
    if post.post_type == PostType.FEED:
        abort(404)
    if not post.editable:
        return fail(NOT_EDITABLE.format(noun=noun_of(post.post_type)), 409)
    try:
        _update(post, draft=True)
    except REFUSALS as exc:
        return _refused_edit(exc, post)
    publisher.cancel(post_id)
    return done("Draft saved", url_for("calendar.index", _anchor="drafts"))


def _refused_edit(exc: Exception, post):
    return refused(
        exc,
        "post/edit.html",
        storage_down=VIDEO_STORAGE_DOWN,
        post=post,
        video_limits=video_limits(),
    )


def _update(post, *, draft: bool = False):
    kind, post_id = post.post_type, post.id
    data = read_reel(g.user, now_utc(), kind, editing=post, draft=draft)
    saved = update_reel(g.user, post_id, data, draft=draft)
    finish_edit(g.user, post_id, saved)
    return saved


@bp.get(f"/post/{POST_ID}/video/file")
@helpers.login_required
def video_file(post_id: int):
    """The post's video (converted, or as sent while converting) for its
    owner's cover-frame slider."""
    post = get_own_post(post_id)
    name = post.video and (post.video.filename or post.video.source)
    if not name:
        abort(404)
    resp = current_app.extensions["media_store"].send(g.user.ig_account_id, name)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/post/<int(max=2147483647):post_id>/video")
@helpers.login_required
def video_status(post_id: int):
    """How the post's video conversion is going, polled by the post page."""
    return video_payload(get_own_post(post_id))
