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
from ospost.posts import get_own_post
from ospost.posts import refused
from ospost.reel_models import PostType
from ospost.reel_upload import create_reel
from ospost.reel_upload import read_reel
from ospost.reels import conversions

log = logging.getLogger(__name__)
bp = Blueprint("reels", __name__)

KINDS = "<any(reel,story):kind>"
VIDEO_STORAGE_DOWN = (
    "Ospost could not store your video just now (the media storage did not "
    "answer). Nothing was saved; try again in a minute."
)


@bp.record_once
def _allow_video_uploads(state) -> None:
    """Raise the body limit for the video upload routes before anything reads
    the form: the CSRF check (a before_request hook of its own) parses it."""

    def allow() -> None:
        if request.endpoint == "reels.add" and request.method == "POST":
            request.max_content_length = upload_limit()

    state.app.before_request_funcs.setdefault(None, []).insert(0, allow)


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
        data = read_reel(g.user, now_utc(), kind)
        post_id = create_reel(g.user, data)
    except REFUSALS as exc:
        return refused(exc, template, storage_down=VIDEO_STORAGE_DOWN, **ctx)
    if data.source:
        conversions.start(post_id)
    wake_saved(post_id, data.when)
    noun = "Reel" if kind == PostType.REEL else "Story"
    return done(
        f"{noun} scheduled", url_for("posts.edit", post_id=post_id), data.warning
    )


@bp.get("/post/<int(max=2147483647):post_id>/video")
@helpers.login_required
def video_status(post_id: int):
    """How the post's video conversion is going, polled by the post page."""
    return video_payload(get_own_post(post_id))
