"""Instagram's publishing quota, applied when a person schedules.

Meta publishes at most ``quota_total`` posts per Instagram account in any moving
24 hours (100 in the current Content Publishing guide; the account's own figure
is read from ``content_publishing_limit`` by the engine and kept on the user).
Past it, ``media_publish`` fails (9/2207042) and the engine must hold posts back
for hours, so they would not go out when the person asked.

So a new or edited post is refused when some 24-hour window around its time
would then hold more posts than the quota, and the person is warned when that
window gets close to full. Reordering only swaps existing dates, so it can
never fill a window; it warns when a window already holds more than the quota
(Meta can lower an account's quota after posts were planned).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_
from sqlalchemy import select

import helpers
from models import Post
from models import PostStatus
from models import User
from models import db

WINDOW = timedelta(hours=24)
# Posts that will be (or were) published through the API and count for Meta.
COUNTED = (PostStatus.SCHEDULED, PostStatus.PUBLISHING, PostStatus.PUBLISHED)


class QuotaFull(ValueError):
    """The time would put more posts in 24 hours than Instagram publishes."""


@dataclass(frozen=True)
class Window:
    """A 24-hour span starting at ``start`` and the number of posts in it."""

    start: datetime
    count: int

    @property
    def end(self) -> datetime:
        return self.start + WINDOW


def account_quota(user: User) -> int:
    """Posts Instagram publishes for this account per 24 hours (as last read)."""
    return user.quota_total or current_app.config["SCHEDULE_QUOTA_DEFAULT"]


def busiest_window(
    times: list[datetime], around: datetime | None = None
) -> Window | None:
    """The 24-hour window holding most of the sorted ``times`` (None if empty).

    With ``around``, only windows containing that instant are considered. A
    window [start, start + 24 h) holding the most posts can always start at a
    post, so those are the only starts tried.
    """
    best = None
    for start in times:
        if around is not None and not around - WINDOW < start <= around:
            continue
        count = bisect.bisect_left(times, start + WINDOW) - bisect.bisect_left(
            times, start
        )
        if best is None or count > best.count:
            best = Window(start=start, count=count)
    return best


def check_new_time(
    user: User, when: datetime, exclude: int | None = None
) -> str | None:
    """Refuse ``when`` (QuotaFull) if a 24-hour window around it would be over quota.

    Returns a warning when that window would be nearly full, else None.
    ``exclude`` is the post being edited, which moves rather than adds.
    """
    times = sorted([*_planned_times(user, when - WINDOW, when + WINDOW, exclude), when])
    window = busiest_window(times, around=when)
    quota = account_quota(user)
    span = _span(window, user.timezone)
    if window.count > quota:
        raise QuotaFull(
            f"Instagram publishes at most {quota} posts in 24 hours for this "
            f"account, and {window.count - 1} are already planned {span}. "
            "Choose a time outside that window."
        )
    if window.count * 100 >= quota * current_app.config["SCHEDULE_QUOTA_WARN_PERCENT"]:
        return (
            f"{window.count} of the {quota} posts Instagram publishes in 24 hours "
            f"for this account are now planned {span}. Posts published with "
            "other apps count toward the same limit."
        )
    return None


def overfull_warning(user: User) -> str | None:
    """A warning when some 24-hour window of the plan holds more than the quota."""
    times = sorted(_planned_times(user))
    window = busiest_window(times)
    quota = account_quota(user)
    if window is None or window.count <= quota:
        return None
    return (
        f"{window.count} posts are planned {_span(window, user.timezone)}, more "
        f"than the {quota} Instagram publishes in 24 hours for this account: "
        "some of them will go out late."
    )


def _planned_times(
    user: User,
    after: datetime | None = None,
    before: datetime | None = None,
    exclude: int | None = None,
) -> list[datetime]:
    """When each of the user's counted posts goes (or went) out, optionally
    only strictly between ``after`` and ``before``."""
    query = select(Post.id, Post.scheduled_at, Post.published_at).where(
        Post.user_id == user.id, Post.status.in_(COUNTED)
    )
    if after is not None and before is not None:
        query = query.where(
            or_(
                Post.scheduled_at.between(after, before),
                Post.published_at.between(after, before),
            )
        )
    return [
        row.published_at or row.scheduled_at
        for row in db.session.execute(query)
        if row.id != exclude
    ]


def _span(window: Window, tz: str) -> str:
    return (
        f"between {helpers.format_local(window.start, tz)} and "
        f"{helpers.format_local(window.end, tz)}"
    )
