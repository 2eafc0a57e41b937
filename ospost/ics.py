"""The private calendar feed (.ics): an iCalendar (.ics) address a person subscribes to
in Google Calendar, Apple Calendar or Outlook to see their scheduled posts.

The address carries an unguessable token. Only its SHA-256 is stored, so a
leaked database does not leak working addresses, and the address is shown
once, when it is made. Making a new one (or turning the feed off) replaces
the stored hash, so the old address stops working at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from datetime import timedelta
from urllib.parse import urlsplit

from icalendar import Calendar
from icalendar import Event
from sqlalchemy import delete
from sqlalchemy import select

from models import CalendarFeed
from models import Post
from models import PostStatus
from models import User
from models import db

# secrets.token_urlsafe(32) gives 43 characters of the URL-safe alphabet.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
EVENT_LENGTH = timedelta(minutes=15)
SUMMARY_MAX = 120
FEED_STATUSES = (PostStatus.SCHEDULED, PostStatus.PUBLISHING)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def has_feed(user: User) -> bool:
    return db.session.get(CalendarFeed, user.id) is not None


def reset_feed(user: User) -> str:
    """Make a new feed token for ``user`` (the old one dies); returns the token."""
    token = secrets.token_urlsafe(32)
    feed = db.session.get(CalendarFeed, user.id)
    if feed is None:
        db.session.add(CalendarFeed(user_id=user.id, token_sha256=_digest(token)))
    else:
        feed.token_sha256 = _digest(token)
    return token


def turn_off(user: User) -> None:
    """Forget the user's feed token: every copy of the address stops working."""
    db.session.execute(delete(CalendarFeed).where(CalendarFeed.user_id == user.id))


def feed_owner(token: str) -> User | None:
    """Whose feed ``token`` opens, or None for a wrong, reset or malformed one."""
    if not _TOKEN.match(token or ""):
        return None
    user_id = db.session.scalar(
        select(CalendarFeed.user_id).where(CalendarFeed.token_sha256 == _digest(token))
    )
    return db.session.get(User, user_id) if user_id is not None else None


def first_line(caption: str, limit: int = SUMMARY_MAX) -> str:
    """The caption's first non-empty line, shortened: all a feed ever shows of it."""
    for line in (caption or "").splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
    return ""


def feed_posts(user: User) -> list[Post]:
    return list(
        db.session.scalars(
            select(Post)
            .where(Post.user_id == user.id, Post.status.in_(FEED_STATUSES))
            .order_by(Post.scheduled_at, Post.id)
        )
    )


def build_calendar(user: User, now: datetime, app_url: str, edit_url) -> bytes:
    """The user's scheduled posts as an iCalendar document (times in UTC).

    ``edit_url(post_id)`` gives a post's page path, linked from its event.
    """
    host = urlsplit(app_url).hostname or "ospost"
    base = app_url.rstrip("/")
    events = [
        Event.new(
            uid=f"ospost-post-{post.id}@{host}",
            summary=first_line(post.caption) or "Instagram post",
            start=post.scheduled_at,
            end=post.scheduled_at + EVENT_LENGTH,
            stamp=now,
            url=base + edit_url(post.id),
        )
        for post in feed_posts(user)
        if post.scheduled_at is not None
    ]
    name = f"Ospost @{user.ig_username}" if user.ig_username else "Ospost"
    calendar = Calendar.new(
        name=name,
        prodid="-//Ospost//Scheduled posts//EN",
        uid=f"ospost-feed-{user.id}@{host}",
        refresh_interval=timedelta(hours=1),
        subcomponents=events,
    )
    # Outlook and Google read this older hint instead of REFRESH-INTERVAL.
    calendar.add("X-PUBLISHED-TTL", timedelta(hours=1))
    return calendar.to_ical()
