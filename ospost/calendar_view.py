"""What the calendar page shows: a month or a week of a user's posts, laid out
by day (and hour) on the user's own clock, plus the same posts as an agenda.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_
from sqlalchemy import or_
from sqlalchemy import select

from models import Post
from models import PostStatus
from models import User
from models import db
from ospost.drafts import user_drafts
from ospost.ics import first_line
from ospost.planning import MOVABLE
from ospost.slots import wall_time_to_utc

VIEWS = ("month", "week")
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


class ViewError(ValueError):
    """The page was asked for a view or date it cannot show."""


@dataclass
class Item:
    """One post as the calendar shows it."""

    post: Post
    local: datetime | None  # its time on the user's clock (None: an undated draft)
    label: str  # the caption's first line

    @property
    def movable(self) -> bool:
        return self.post.status in MOVABLE

    @property
    def local_input(self) -> str:
        return self.local.strftime(LOCAL_INPUT) if self.local else ""

    @property
    def abilities(self) -> str:
        """What the page may do with it: moves need a time, "one slot later" a
        scheduled post."""
        can = []
        if self.movable:
            can.append("movable")
            if self.local is not None:
                can.append("dated")
        if self.post.status == PostStatus.SCHEDULED:
            can.append("scheduled")
        return " ".join(can)


@dataclass
class Day:
    date: date
    outside: bool  # shown to fill the month's first or last week
    today: bool
    closed: bool  # wholly in the past or past the scheduling limit
    items: list[Item] = field(default_factory=list)

    def at_hour(self, hour: int) -> list[Item]:
        return [item for item in self.items if item.local.hour == hour]


@dataclass
class View:
    kind: str
    anchor: date
    title: str
    days: list[Day]
    prev: date
    next: date
    today: date

    @property
    def weeks(self) -> list[list[Day]]:
        return [self.days[i : i + 7] for i in range(0, len(self.days), 7)]

    @property
    def agenda(self) -> list[Day]:
        return [day for day in self.days if day.items and not day.outside]


def parse_request(kind: str | None, raw_date: str | None, today: date):
    """The view kind and the day to show, from the page's query string."""
    kind = kind or "month"
    if kind not in VIEWS:
        raise ViewError("Choose the month or the week view.")
    if not raw_date:
        return kind, today
    try:
        day = date.fromisoformat(raw_date)
    except ValueError as exc:
        raise ViewError("Enter the date as YYYY-MM-DD, like 2026-12-01.") from exc
    if not 1971 <= day.year <= 9998:
        raise ViewError("Pick a date between 1971 and 9998.")
    return kind, day


def build_view(
    user: User, kind: str, anchor: date, zone: ZoneInfo, now: datetime, limit: datetime
) -> View:
    """The month or week around ``anchor`` with the user's posts in place."""
    today = now.astimezone(zone).date()
    last_open = limit.astimezone(zone).date()
    if kind == "month":
        first = anchor.replace(day=1)
        start = first - timedelta(days=first.weekday())
        following = _add_months(first, 1)
        end = following + timedelta(days=(7 - following.weekday()) % 7)
        title = f"{first:%B %Y}"
        prev, nxt = _add_months(first, -1), following
    else:
        start = anchor - timedelta(days=anchor.weekday())
        end = start + timedelta(days=7)
        last = end - timedelta(days=1)
        title = f"{start:%b %d} – {last:%b %d, %Y}"
        prev, nxt = start - timedelta(days=7), end
    days = {}
    d = start
    while d < end:
        outside = kind == "month" and d.month != anchor.month
        days[d] = Day(d, outside, d == today, d < today or d > last_open)
        d += timedelta(days=1)
    for item in _items(user, zone, start, end):
        days[item.local.date()].items.append(item)
    return View(kind, anchor, title, list(days.values()), prev, nxt, today)


def drop_bounds(first: datetime, last: datetime, zone: ZoneInfo) -> dict:
    """The earliest and latest local times the page lets a post be dropped at."""
    return {
        "min": first.astimezone(zone).strftime(LOCAL_INPUT),
        "max": last.astimezone(zone).strftime(LOCAL_INPUT),
    }


def _add_months(first: date, n: int) -> date:
    month = first.month - 1 + n
    return date(first.year + month // 12, month % 12 + 1, 1)


def _items(user: User, zone: ZoneInfo, start: date, end: date) -> list[Item]:
    lo = wall_time_to_utc(datetime.combine(start, time()), zone)
    hi = wall_time_to_utc(datetime.combine(end, time()), zone)
    published = Post.status == PostStatus.PUBLISHED
    posts = db.session.scalars(
        select(Post)
        .where(
            Post.user_id == user.id,
            or_(
                and_(published, Post.published_at >= lo, Post.published_at < hi),
                and_(~published, Post.scheduled_at >= lo, Post.scheduled_at < hi),
            ),
        )
        .order_by(Post.id)
    )
    items = []
    for post in posts:
        when = post.published_at if post.status == PostStatus.PUBLISHED else None
        local = (when or post.scheduled_at).astimezone(zone)
        items.append(Item(post, local, first_line(post.caption, 60)))
    return sorted(items, key=lambda item: (item.local, item.post.id))


def shelf(user: User, zone: ZoneInfo) -> list[Item]:
    """The user's drafts for the Drafts shelf, newest first."""
    return [
        Item(
            post,
            post.scheduled_at.astimezone(zone) if post.scheduled_at else None,
            first_line(post.caption, 60),
        )
        for post in user_drafts(user)
    ]
