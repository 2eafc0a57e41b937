"""Planning a user's schedule: the queue of posting slots, moving posts on the
calendar, clash warnings, and undoing any of it.

Every change is a list of ``Move``s that records what a post was before, so the
page can offer Undo. The Undo token carries those records signed with the
app's secret: the browser can hand it back but not forge it, and Undo only
applies while every post is still where the change put it.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from itsdangerous import BadSignature
from itsdangerous import SignatureExpired
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

import helpers
from models import EDITABLE
from models import Post
from models import PostingSlot
from models import PostStatus
from models import User
from models import db
from ospost import slots as slot_math
from ospost.drafts import check_ready
from ospost.posts import FormError
from ospost.posts import check_publish_time
from ospost.scheduler import publisher

# The queue never hands out a slot that is about to pass.
QUEUE_LEAD = timedelta(minutes=1)
UNDO_SECONDS = 15 * 60
MAX_SLOTS = 70  # ten a day is already more than Instagram's daily quota of 50/7
# Posts that occupy their time: a clash with them is worth a warning.
OCCUPYING = (PostStatus.SCHEDULED, PostStatus.PUBLISHING)
# What a person may move around the calendar (a draft moved gets scheduled).
MOVABLE = EDITABLE


class Conflict(FormError):
    """The schedule is not in the state the change needs (reload, then retry)."""


class ClashWarning(Exception):
    """The change is allowed but looks like a mistake; ask before making it."""


@dataclass
class Move:
    """One post's change: what it was (for Undo) and the time it gets."""

    post: Post
    before: dict
    after: datetime

    def payload(self, tz: str) -> dict:
        was = _parse_time(self.before.get("at"))
        return {
            "id": self.post.id,
            "before": was.isoformat() if was else None,
            "after": self.after.isoformat(),
            "before_label": helpers.format_local(was, tz),
            "after_label": helpers.format_local(self.after, tz),
        }


# -- reading -----------------------------------------------------------------


def zone_of(user: User) -> ZoneInfo:
    return ZoneInfo(helpers.valid_timezone(user.timezone) or "UTC")


def user_slots(user: User) -> list[slot_math.Slot]:
    """The user's weekly posting slots, Monday morning first."""
    rows = db.session.execute(
        select(PostingSlot.weekday, PostingSlot.minute).where(
            PostingSlot.user_id == user.id
        )
    ).all()
    return sorted(slot_math.Slot(day, minute) for day, minute in rows)


def slot_rows(user: User) -> list[PostingSlot]:
    return list(
        db.session.scalars(
            select(PostingSlot)
            .where(PostingSlot.user_id == user.id)
            .order_by(PostingSlot.weekday, PostingSlot.minute)
        )
    )


def queued_posts(user: User, now: datetime) -> list[Post]:
    """Scheduled posts still ahead (the queue), in publishing order, locked."""
    return list(
        db.session.scalars(
            user.scheduled_posts()
            .where(Post.scheduled_at > now + QUEUE_LEAD)
            .with_for_update()
        )
    )


def _occupied(user: User, exclude: set[int]) -> list[tuple[int, datetime]]:
    rows = db.session.execute(
        select(Post.id, Post.scheduled_at).where(
            Post.user_id == user.id,
            Post.status.in_(OCCUPYING),
            Post.scheduled_at.is_not(None),
        )
    ).all()
    return [(pid, when) for pid, when in rows if pid not in exclude]


def schedule_limit(user: User, now: datetime) -> datetime:
    """The latest time the user may schedule a post for (50 days, login expiry)."""
    return user.schedule_limit(now, current_app.config["MAX_SCHEDULE_DAYS"])


# -- the queue ---------------------------------------------------------------


def next_free_time(user: User, now: datetime, exclude: set[int]) -> datetime:
    """The next posting slot no other post is near; FormError when there is none."""
    slots = user_slots(user)
    if not slots:
        raise FormError(
            "You have no posting slots yet. Add some on the Account page "
            "(Posting slots), then add posts to the queue."
        )
    until = schedule_limit(user, now)
    taken = [when for _, when in _occupied(user, exclude)]
    zone = zone_of(user)
    when = slot_math.next_free_slot(slots, zone, now + QUEUE_LEAD, until, taken)
    if when is None:
        raise FormError(_queue_full(user, now, until))
    return when


def _queue_full(user: User, now: datetime, until: datetime) -> str:
    days = current_app.config["MAX_SCHEDULE_DAYS"]
    tz = user.timezone
    if until < now + timedelta(days=days):
        return (
            "Every posting slot is taken until your Instagram login expires "
            f"({helpers.format_local(user.token_expires_at, tz)}). Log in again "
            "to extend it, or add more posting slots."
        )
    return (
        f"Every posting slot in the next {days} days is taken (until "
        f"{helpers.format_local(until, tz)}). Add more posting slots on the "
        "Account page, or pick a date for this post."
    )


def add_to_queue(user: User, post: Post, now: datetime) -> list[Move]:
    """Give ``post`` the next free posting slot."""
    _check_movable(post)
    return _moves(user, [(post, next_free_time(user, now, {post.id}))])


def move_to(user: User, post: Post, local: str, now: datetime) -> list[Move]:
    """Reschedule ``post`` to a local date and time typed or dropped by the person."""
    _check_movable(post)
    try:
        when = helpers.parse_local_datetime(local or "", user.timezone)
    except helpers.LocalTimeError as exc:
        raise FormError(str(exc)) from exc
    check_publish_time(when, user, now)
    if post.status == PostStatus.SCHEDULED and post.scheduled_at == when:
        return []
    return _moves(user, [(post, when)])


def shuffle(user: User, now: datetime, rng: random.Random | None = None) -> list[Move]:
    """Deal the queued posts' times out again in a random order."""
    posts = queued_posts(user, now)
    if len(posts) < 2:
        raise FormError("Shuffling needs at least two scheduled posts ahead.")
    times = [p.scheduled_at for p in posts]
    order = list(range(len(posts)))
    rng = rng or random.SystemRandom()
    while order == sorted(order):  # a shuffle that changes nothing is no shuffle
        rng.shuffle(order)
    return _moves(user, [(posts[i], times[j]) for i, j in enumerate(order)])


def shift_from(user: User, post: Post, now: datetime) -> list[Move]:
    """Move ``post`` and every queued post after it one posting slot later."""
    queue = queued_posts(user, now)
    if post not in queue:
        raise Conflict("Only a scheduled post that is still ahead can do that.")
    later = queue[queue.index(post) :]
    slots = user_slots(user)
    if not slots:
        raise FormError("You have no posting slots yet. Add some on the Account page.")
    until = schedule_limit(user, now)
    new = slot_math.one_slot_later(
        [p.scheduled_at for p in later], slots, zone_of(user), until
    )
    if None in new:
        stuck = later[new.index(None)]
        raise FormError(
            f"There is no posting slot left for the post of "
            f"{helpers.format_local(stuck.scheduled_at, user.timezone)} before "
            f"{helpers.format_local(until, user.timezone)}. Add posting slots or "
            "move the last posts by hand; nothing was moved."
        )
    return _moves(user, list(zip(later, new, strict=True)))


def _check_movable(post: Post) -> None:
    if post.status not in MOVABLE:
        raise Conflict("This post is being published or is already live.")
    if post.status == PostStatus.DRAFT:  # the others were checked when scheduled
        check_ready(post)


def _moves(user: User, placements: list[tuple[Post, datetime]]) -> list[Move]:
    return [
        Move(post, _state(post), when)
        for post, when in placements
        if post.status != PostStatus.SCHEDULED or post.scheduled_at != when
    ]


# -- clashes -----------------------------------------------------------------


def check_clashes(user: User, moves: list[Move]) -> None:
    """Raise ClashWarning when the moves put two posts within 30 minutes of each
    other, or schedule an image that another scheduled post already uses."""
    if not moves:
        return
    tz = user.timezone
    moving = {m.post.id for m in moves}
    others = _occupied(user, moving)
    placed = sorted((m.after, m.post.id) for m in moves)
    everyone = sorted([(when, pid) for pid, when in others] + placed)
    for (a, a_id), (b, b_id) in zip(everyone, everyone[1:], strict=False):
        if b - a < slot_math.CLASH_WINDOW and moving & {a_id, b_id}:
            raise ClashWarning(
                f"Two posts would go out within 30 minutes of each other "
                f"({helpers.format_local(a, tz)} and {helpers.format_local(b, tz)})."
            )
    twin = _same_image(user, moves, moving)
    if twin is not None:
        raise ClashWarning(
            "This image is already scheduled for "
            f"{helpers.format_local(twin.scheduled_at, tz)}."
        )


def _same_image(user: User, moves: list[Move], moving: set[int]) -> Post | None:
    hashes = {image_hash(user, m.post) for m in moves} - {None}
    if not hashes:
        return None
    others = db.session.scalars(
        select(Post).where(
            Post.user_id == user.id,
            Post.status.in_(OCCUPYING),
            Post.id.not_in(moving),
        )
    )
    return next((p for p in others if image_hash(user, p) in hashes), None)


def content_hash(data: bytes) -> str:
    """The fingerprint two uploads of the same picture share."""
    return hashlib.sha256(data).hexdigest()


def image_hash(user: User, post: Post) -> str | None:
    """The post's image fingerprint; posts from before it was kept get it now."""
    if post.image_sha256 is None and post.filename:
        store = current_app.extensions["media_store"]
        try:
            post.image_sha256 = content_hash(
                store.read(user.ig_account_id, post.filename)
            )
        except OSError:
            return None
    return post.image_sha256


# -- applying and undoing ----------------------------------------------------


def apply(moves: list[Move]) -> None:
    """Give each post its new time (the caller commits, then calls ``wake``)."""
    for move in moves:
        move.post.schedule(move.after, content_changed=False)


def wake(moves: list[Move]) -> None:
    """After the commit: each moved post's wake-up follows it."""
    for move in moves:
        publisher.wake(move.post.id, move.after)


def undo_token(user: User, moves: list[Move]) -> str:
    """A signed record of ``moves`` that ``undo`` accepts for a while."""
    records = [[m.post.id, m.before, m.after.isoformat()] for m in moves]
    return _serializer().dumps({"u": user.id, "m": records})


def undo(user: User, token: str, now: datetime) -> list[Post]:
    """Put every post of a change back exactly as it was; returns those posts.

    Nothing is restored unless all of them are still where the change put them.
    """
    try:
        data = _serializer().loads(token, max_age=UNDO_SECONDS)
    except SignatureExpired as exc:
        raise FormError("That change is too old to undo.") from exc
    except BadSignature as exc:
        raise FormError("That change cannot be undone.") from exc
    if data.get("u") != user.id:
        raise FormError("That change cannot be undone.")
    restored = []
    for post_id, before, after in data["m"]:
        post = db.session.get(Post, post_id, with_for_update=True)
        if (
            post is None
            or post.user_id != user.id
            or post.status != PostStatus.SCHEDULED
            or post.scheduled_at != _parse_time(after)
        ):
            raise Conflict("The schedule changed since; nothing was undone.")
        _restore(post, before, now, user.timezone)
        restored.append(post)
    return restored


def wake_restored(posts: list[Post]) -> None:
    """After the commit: wake restored scheduled posts, forget the others' jobs."""
    for post in posts:
        if post.status == PostStatus.SCHEDULED:
            publisher.wake(post.id, post.next_attempt_at)
        else:
            publisher.cancel(post.id)


def _state(post: Post) -> dict:
    state = {"status": str(post.status), "at": _iso(post.scheduled_at)}
    if post.status == PostStatus.FAILED:
        state["error"] = [
            post.error_message,
            post.error_code,
            post.error_subcode,
            post.fbtrace_id,
        ]
    return state


def _restore(post: Post, before: dict, now: datetime, tz: str) -> None:
    at = _parse_time(before.get("at"))
    if before["status"] == PostStatus.SCHEDULED:
        if at is None or at <= now:
            raise FormError(
                f"{helpers.format_local(at, tz)} has passed; nothing was undone."
            )
        post.schedule(at, content_changed=False)
    elif before["status"] == PostStatus.FAILED:
        message, code, subcode, trace = before.get("error") or [None] * 4
        post.fail(message, code=code, subcode=subcode, fbtrace_id=trace)
        post.scheduled_at = at
    elif before["status"] == PostStatus.DRAFT:
        post.make_draft(at)
    else:
        raise FormError("That change cannot be undone.")


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="ospost-undo")


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# -- the account's posting slots ---------------------------------------------


def add_slots(user: User, weekdays: list[int], minute: int) -> list[slot_math.Slot]:
    """Add ``minute`` on each of ``weekdays``; returns the slots that are new."""
    have = set(user_slots(user))
    new = [slot_math.Slot(day, minute) for day in weekdays]
    new = [slot for slot in new if slot not in have]
    if not new:
        labels = ", ".join(slot_math.Slot(d, minute).label for d in weekdays)
        verb = "is already a posting slot" if len(weekdays) == 1 else "are already set"
        raise FormError(f"{labels} {verb}.")
    if len(have) + len(new) > MAX_SLOTS:
        raise FormError(
            f"You can have up to {MAX_SLOTS} posting slots a week; you have "
            f"{len(have)}. Remove some first."
        )
    for slot in new:
        db.session.add(
            PostingSlot(user_id=user.id, weekday=slot.weekday, minute=slot.minute)
        )
    return new
