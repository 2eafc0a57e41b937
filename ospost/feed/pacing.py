"""Back-off: when to leave Meta alone, and the sentence shown meanwhile.

Meta's rate limits come first (graph-api.md §5.2, §5.4): when an answer says a
limit is 80% used or gives a time to regain access, the account waits
(``backoff_until``); a rate-limit error (4, 17, 32, 613, 80002) does the same.
X-App-Usage is the whole app's, so when it is high every account waits
(``Backoff.app_paused_until``, kept per process).
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

from ospost.feed.meta import is_high
from ospost.graph import ErrorKind
from ospost.graph import GraphError
from ospost.graph import GraphNetworkError
from ospost.graph import Usage

SLOW_DOWN = "Instagram asked Ospost to slow down, so the feed below may be out of date."
NEAR_LIMIT = (
    "Ospost is close to Instagram's rate limit for this account ({percent}%), so "
    "it pauses feed refreshes to leave room for publishing."
)
UNREACHABLE = "Instagram could not be reached, so the feed below may be out of date."
DISCONNECTED = "Instagram disconnected Ospost from this account. Log in again."


class Backoff:
    """This process's rate-limit state and the pauses it decides on.

    ``config`` is the app's config (FEED_BACKOFF_MINUTES, FEED_RETRY_MINUTES,
    FEED_ERROR_MINUTES).
    """

    def __init__(self) -> None:
        self.app_paused_until: datetime | None = None

    def after_usage(
        self, config, usage: Usage | None, now: datetime
    ) -> tuple[datetime | None, str | None]:
        """After a refresh without errors: how long to wait, and what to say
        meanwhile (None, None: carry on as usual)."""
        if not is_high(usage):
            return None, None
        pause = self.rate_limit_pause(config, usage, now)
        self.note_app_usage(usage, pause)
        if usage.regain_minutes:
            return pause, SLOW_DOWN
        return pause, NEAR_LIMIT.format(percent=usage.highest)

    def judge(
        self, config, error: GraphError, usage: Usage | None, now: datetime
    ) -> tuple[datetime | None, str, int]:
        """After ``error``: until when to wait, what to say, and an HTTP status."""
        if error.rate_limited:
            usage = error.usage or usage
            pause = self.rate_limit_pause(config, usage, now)
            self.note_app_usage(usage, pause)
            return pause, SLOW_DOWN, 429
        if error.kind is ErrorKind.REAUTH:
            return None, DISCONNECTED, 409
        if isinstance(error, GraphNetworkError) or error.kind is ErrorKind.TRANSIENT:
            return now + _minutes(config, "FEED_RETRY_MINUTES"), UNREACHABLE, 502
        problem = (
            f"Instagram refused to show this account's posts: {error.user_message()}"
        )
        return now + _minutes(config, "FEED_ERROR_MINUTES"), problem, 502

    def rate_limit_pause(self, config, usage: Usage | None, now: datetime) -> datetime:
        minutes = max(
            float(config["FEED_BACKOFF_MINUTES"]),
            float(usage.regain_minutes if usage else 0),
        )
        return now + timedelta(minutes=minutes)

    def note_app_usage(self, usage: Usage | None, pause: datetime) -> None:
        """X-App-Usage is the whole app's: when it is high, every account waits."""
        if usage is not None and usage.app and max(usage.app.values()) >= 80:
            self.app_paused_until = later(self.app_paused_until, pause)


def later(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return max(known, default=None)


def _minutes(config, name: str) -> timedelta:
    return timedelta(minutes=float(config[name]))
