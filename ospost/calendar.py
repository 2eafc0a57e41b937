"""Planning pages: the calendar, queue actions with Undo, posting slots on the
account page, and the private calendar feed (.ics).

Queue and calendar actions answer fetch() calls with JSON: ``{"ok": true,
"moves": [...], "undo": token}``, ``{"ok": false, "error": ...}``, or for a
likely mistake ``{"ok": false, "warning": ..., "confirm": true}`` (409), which
the page may send again with ``confirm`` set to go ahead anyway.
"""

from __future__ import annotations

import msgspec
from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

import helpers
from models import PostingSlot
from models import db
from models import now_utc
from ospost import calendar_view
from ospost import ics
from ospost import planning
from ospost import ratelimit
from ospost import schemas
from ospost import slots as slot_math
from ospost.post_form import FormError
from ospost.post_form import read_post
from ospost.post_save import create_post
from ospost.post_save import update_post
from ospost.posts import REFUSALS
from ospost.posts import delete_files
from ospost.posts import done
from ospost.posts import fail
from ospost.posts import get_own_post
from ospost.posts import refused
from ospost.scheduler import publisher

bp = Blueprint("calendar", __name__)
POST_ID = "<int(max=2147483647):post_id>"


@bp.app_context_processor
def _planning_globals() -> dict:
    """Lazy lookups for the account page's planning partial."""
    return {
        "posting_slots": _slot_listing,
        "calendar_feed_on": lambda: ics.has_feed(g.user),
    }


def _slot_listing() -> list[tuple[str, list[tuple[int, slot_math.Slot]]]]:
    """The user's slots by weekday: [("Monday", [(row id, slot), ...]), ...]."""
    grouped: dict[int, list] = {}
    for row in planning.slot_rows(g.user):
        slot = slot_math.Slot(row.weekday, row.minute)
        grouped.setdefault(row.weekday, []).append((row.id, slot))
    return [(slot_math.WEEKDAY_NAMES[day], items) for day, items in grouped.items()]


# -- helpers -----------------------------------------------------------------


def _data() -> dict:
    """The action's fields, from a fetch call's JSON (read through its schema,
    so no body can crash the parser) or from a plain form."""
    if not request.is_json:
        return request.form
    body = schemas.parse_json(
        schemas.CalendarAction,
        what="the calendar action as JSON",
        max_bytes=schemas.LOGIN_MAX_BYTES,
    )
    return msgspec.structs.asdict(body)


def _confirmed(data) -> bool:
    return data.get("confirm") in (True, 1, "1", "true", "on")


def _fail(message: str, status: int = 400, **extra):
    db.session.rollback()
    if helpers.wants_json():
        return {"ok": False, "error": message, **extra}, status
    flash(message, "warning" if extra else "danger")
    return redirect(url_for("calendar.index"))


def _change(make_moves, message: str):
    """Run a schedule change: refuse, warn, or apply it and wake the jobs."""
    data = _data()
    try:
        moves = make_moves()
        if not _confirmed(data):
            planning.check_clashes(g.user, moves)
    except planning.Conflict as exc:
        return _fail(str(exc), 409)
    except FormError as exc:
        return _fail(str(exc))
    except planning.ClashWarning as exc:
        text = f"{exc} Go ahead anyway?"
        return _fail(text, 409, warning=text, confirm=True)
    planning.apply(moves)
    db.session.commit()
    planning.wake(moves)
    tz = g.user.timezone
    if moves:
        when = moves[0].payload(tz)["after_label"]
        message = message.format(when=when, count=len(moves))
    else:
        message = "Nothing to change: the post is already there."
    if helpers.wants_json():
        return {
            "ok": True,
            "message": message,
            "moves": [m.payload(tz) for m in moves],
            "undo": planning.undo_token(g.user, moves) if moves else None,
        }
    flash(message, "success")
    return redirect(url_for("calendar.index"))


# -- the calendar ------------------------------------------------------------


@bp.get("/calendar")
@helpers.login_required
def index():
    """Month or week of posts on the user's clock (an agenda list on phones)."""
    now = now_utc()
    zone = planning.zone_of(g.user)
    try:
        kind, anchor = calendar_view.parse_request(
            request.args.get("view"),
            request.args.get("date"),
            now.astimezone(zone).date(),
        )
    except calendar_view.ViewError as exc:
        return render_template("error.html", code=400, message=str(exc)), 400
    limit = planning.schedule_limit(g.user, now)
    view = calendar_view.build_view(g.user, kind, anchor, zone, now, limit)
    # The page's own check of drops: from a minute ahead to the limit.
    bounds = calendar_view.drop_bounds(now + planning.QUEUE_LEAD, limit, zone)
    slots = planning.user_slots(g.user)
    return render_template(
        "calendar/index.html",
        view=view,
        bounds=bounds,
        has_slots=bool(slots),
        first_slots={s.weekday: s.clock for s in reversed(slots)},
        shelf=calendar_view.shelf(g.user, zone),
    )


@bp.post(f"/calendar/post/{POST_ID}/move")
@ratelimit.mutations
@helpers.login_required
def move(post_id: int):
    """Drag, drop or arrow keys: reschedule a post to a local date and time."""
    post = get_own_post(post_id)
    local = _data().get("local")
    if not isinstance(local, str):
        return _fail("Send the new time as local, like 2026-12-01T09:30.")
    return _change(
        lambda: planning.move_to(g.user, post, local, now_utc()), "Moved to {when}."
    )


@bp.post(f"/calendar/post/{POST_ID}/queue")
@ratelimit.mutations
@helpers.login_required
def add_to_queue(post_id: int):
    """Give a post the next free posting slot."""
    post = get_own_post(post_id)
    return _change(
        lambda: planning.add_to_queue(g.user, post, now_utc()),
        "Added to the queue: {when}.",
    )


@bp.post(f"/calendar/post/{POST_ID}/shift")
@ratelimit.mutations
@helpers.login_required
def shift(post_id: int):
    """Make room: this post and every later one move one posting slot later."""
    post = get_own_post(post_id)
    return _change(
        lambda: planning.shift_from(g.user, post, now_utc()),
        "Moved {count} posts one slot later; this one is now at {when}.",
    )


@bp.post("/calendar/shuffle")
@ratelimit.mutations
@helpers.login_required
def shuffle():
    """Deal the queued posts' times out again in a random order."""
    return _change(
        lambda: planning.shuffle(g.user, now_utc()), "Shuffled {count} posts."
    )


@bp.post("/calendar/undo")
@ratelimit.mutations
@helpers.login_required
def undo():
    """Put the posts of the last change back exactly where they were."""
    token = _data().get("undo")
    if not isinstance(token, str) or not token:
        return _fail("Nothing to undo.")
    try:
        restored = planning.undo(g.user, token, now_utc())
    except planning.Conflict as exc:
        return _fail(str(exc), 409)
    except FormError as exc:
        return _fail(str(exc))
    db.session.commit()
    planning.wake_restored(restored)
    return {"ok": True, "message": "Undone.", "restored": [p.id for p in restored]}


# -- drafts ------------------------------------------------------------------


@bp.post("/drafts")
@ratelimit.uploads
@helpers.login_required
def save_new_draft():
    """Save draft on the New post page: keep whatever the form has."""
    try:
        data = read_post(g.user, now_utc(), draft=True)
        create_post(g.user, data, draft=True)
    except REFUSALS as exc:
        return refused(exc, "post/add.html")
    return done("Draft saved", url_for("calendar.index", _anchor="drafts"))


@bp.post(f"/post/{POST_ID}/draft")
@ratelimit.uploads
@helpers.login_required
def save_draft(post_id: int):
    """Save draft on the Edit page: keep the changes, take the post off the
    schedule."""
    post = get_own_post(post_id)
    if not post.editable:
        return fail("This post is being published or is already live.", 409)
    try:
        data = read_post(g.user, now_utc(), editing=post, draft=True)
        old_files, _ = update_post(g.user, post_id, data, draft=True)
    except REFUSALS as exc:
        return refused(exc, "post/edit.html", post=post)
    delete_files(g.user, *old_files)
    publisher.cancel(post_id)
    return done("Draft saved", url_for("calendar.index", _anchor="drafts"))


# -- posting slots (account page) --------------------------------------------


@bp.post("/account/slots")
@ratelimit.mutations
@helpers.login_required
def add_slots():
    """Add a posting time on one or more weekdays."""
    try:
        minute = slot_math.parse_clock(request.form.get("time"))
        days = slot_math.parse_weekdays(request.form.getlist("weekday"))
        added = planning.add_slots(g.user, days, minute)
    except (slot_math.SlotError, FormError) as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return redirect(url_for("auth.account", _anchor="posting-slots"))
    db.session.commit()
    flash(f"Added posting slots: {', '.join(s.label for s in added)}.", "success")
    return redirect(url_for("auth.account", _anchor="posting-slots"))


@bp.post("/account/slots/<int(max=2147483647):slot_id>/remove")
@ratelimit.mutations
@helpers.login_required
def remove_slot(slot_id: int):
    """Remove one weekly posting time (posts already scheduled keep theirs)."""
    row = db.session.get(PostingSlot, slot_id)
    if row is None or row.user_id != g.user.id:
        abort(404)
    label = slot_math.Slot(row.weekday, row.minute).label
    db.session.delete(row)
    db.session.commit()
    flash(f"Removed the posting slot {label}.", "success")
    return redirect(url_for("auth.account", _anchor="posting-slots"))


# -- the calendar feed -------------------------------------------------------


@bp.post("/account/calendar-feed")
@ratelimit.mutations
@helpers.login_required
def reset_feed():
    """Make a new private feed address (the old one stops working) and show it once."""
    token = ics.reset_feed(g.user)
    db.session.commit()
    path = url_for("calendar.feed_ics", token=token)
    url = current_app.config["APP_URL"].rstrip("/") + path
    response = Response(render_template("calendar/feed.html", feed_url=url))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.post("/account/calendar-feed/off")
@ratelimit.mutations
@helpers.login_required
def feed_off():
    """Turn the feed off: every copy of its address stops working."""
    ics.turn_off(g.user)
    db.session.commit()
    flash("The calendar feed is off; its address no longer works.", "success")
    return redirect(url_for("auth.account", _anchor="calendar-feed"))


@bp.get("/calendar/feed/<token>.ics")
def feed_ics(token: str):
    """The subscribed calendar app's view: scheduled posts, no login needed."""
    user = ics.feed_owner(token)
    if user is None:
        abort(404)
    body = ics.build_calendar(
        user,
        now_utc(),
        current_app.config["APP_URL"],
        lambda post_id: url_for("posts.edit", post_id=post_id),
    )
    response = Response(body, mimetype="text/calendar")
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Disposition"] = 'inline; filename="ospost.ics"'
    return response
