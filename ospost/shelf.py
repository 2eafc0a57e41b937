"""The Drafts shelf on the home page: the person's drafts with their
thumbnails, above the grid, each with "Schedule" (the next free posting slot)
or a time of their choosing. Drafts never publish until then.

Answers fetch() calls the way the calendar does (``ospost.calendar``):
``{"ok": true, "message", "moves", "undo"}``, ``{"ok": false, "error"}``, or a
clash warning with ``"confirm": true`` to send again with ``confirm`` set;
plain form posts come back to the home page with the message.
"""

from __future__ import annotations

import msgspec
from flask import Blueprint
from flask import flash
from flask import g
from flask import redirect
from flask import request
from flask import url_for
from sqlalchemy import func
from sqlalchemy import select

import helpers
from models import Post
from models import PostStatus
from models import db
from models import now_utc
from ospost import calendar_view
from ospost import planning
from ospost import ratelimit
from ospost import schemas
from ospost.post_form import FormError
from ospost.posts import get_own_post

bp = Blueprint("shelf", __name__)
# The shelf shows this many drafts; the calendar's shelf lists them all.
SHELF_MAX = 24


@bp.app_context_processor
def _shelf_globals() -> dict:
    """``home_drafts()`` for the home page's shelf, read only when shown."""
    return {"home_drafts": _home_drafts}


def _home_drafts() -> dict:
    # A count first: the home page stays one cheap query when there is no
    # draft (its tiles come from the grid cache without reading posts).
    count = db.session.scalar(
        select(func.count())
        .select_from(Post)
        .where(Post.user_id == g.user.id, Post.status == PostStatus.DRAFT)
    )
    if not count:
        return {"items": [], "more": 0, "has_slots": False}
    zone = planning.zone_of(g.user)
    items = calendar_view.shelf(g.user, zone)
    return {
        "items": items[:SHELF_MAX],
        "more": max(0, len(items) - SHELF_MAX),
        "has_slots": bool(planning.user_slots(g.user)),
    }


def _fields() -> dict:
    if not request.is_json:
        return request.form
    body = schemas.parse_json(
        schemas.CalendarAction,
        what="the time as JSON",
        max_bytes=schemas.LOGIN_MAX_BYTES,
    )
    return msgspec.structs.asdict(body)


def _answer(message: str, status: int = 200, category: str = "success", **extra):
    if status >= 400:
        db.session.rollback()
    if helpers.wants_json():
        return {
            "ok": status < 400,
            **extra,
            "message" if status < 400 else "error": message,
        }, status
    flash(message, category)
    return redirect(url_for("posts.index", _anchor="drafts-shelf"))


@bp.post("/drafts/<int(max=2147483647):post_id>/schedule")
@ratelimit.mutations
@helpers.login_required
def schedule(post_id: int):
    """Schedule: give a draft the next free slot, or the local time it names."""
    post = get_own_post(post_id)
    data = _fields()
    local = data.get("local")
    if post.status != PostStatus.DRAFT:
        return _answer("This post is no longer a draft.", 409, "danger")
    try:
        if local:
            moves = planning.move_to(g.user, post, str(local), now_utc())
        else:
            moves = planning.add_to_queue(g.user, post, now_utc())
        if data.get("confirm") not in (True, 1, "1", "true", "on"):
            planning.check_clashes(g.user, moves)
    except planning.ClashWarning as exc:
        text = f"{exc} Go ahead anyway?"
        return _answer(text, 409, "warning", warning=text, confirm=True)
    except FormError as exc:
        return _answer(str(exc), 400, "danger")
    planning.apply(moves)
    db.session.commit()
    planning.wake(moves)
    tz = g.user.timezone
    label = moves[0].payload(tz)["after_label"]
    return _answer(
        f"Scheduled for {label}.",
        moves=[m.payload(tz) for m in moves],
        undo=planning.undo_token(g.user, moves),
    )
