"""Meta's rate-limit headers, and the throttling they warn about.

Every Graph answer carries ``X-App-Usage`` (the app's share of its hourly
platform limit) and, for calls about an Instagram account,
``X-Business-Use-Case-Usage`` (that account's share of its 24-hour Business Use
Case limit), as percentages. A share reaches 100 when the calls in its window
reach ``app_call_limit`` / ``buc_call_limit``, or when ``app_usage`` /
``buc_usage`` force it; from then on calls are refused with Meta's errors
(code 4 for the app, 80002 for the account) and still count, as at Meta,
where calling on extends the block.
"""

import json
import time
from collections import deque
from typing import Any

from simulator.errors import CODE_MESSAGES
from simulator.errors import GraphError
from simulator.records import Route
from simulator.world.state import WorldState

APP_WINDOW = 3600.0
BUC_WINDOW = 86400.0


class UsageMixin(WorldState):
    """Counting calls per usage window and reporting them as Meta does."""

    def usage(self, ig_user_id: str | None = None) -> dict[str, Any]:
        """Return the app's usage (and an IG account's) as the headers report it."""
        with self._lock:
            now = time.time()
            report: dict[str, Any] = {"app": self._app_usage(now)}
            if ig_user_id:
                report["instagram"] = self._buc_usage(ig_user_id, now)
            return report

    def _count_call(self, route: Route) -> tuple[dict[str, str], GraphError | None]:
        """Count one Graph call; return its usage headers and, when the app or
        the account was already at its limit, the throttling error to answer."""
        with self._lock:
            now = time.time()
            error = None
            if max(self._app_usage(now).values()) >= 100:
                error = GraphError(4, CODE_MESSAGES[4], transient=True)
            self._app_calls.append(now)
            headers = {"X-App-Usage": _compact(self._app_usage(now))}
            ig_user_id = route.ig_user_id
            if ig_user_id and ig_user_id in self._ig:
                if (
                    error is None
                    and self._buc_usage(ig_user_id, now)["call_count"] >= 100
                ):
                    error = GraphError(80002, CODE_MESSAGES[80002], transient=True)
                self._buc_calls.setdefault(ig_user_id, deque()).append(now)
                buc = self._buc_usage(ig_user_id, now)
                headers["X-Business-Use-Case-Usage"] = _compact({ig_user_id: [buc]})
            return headers, error

    def _app_usage(self, now: float) -> dict[str, int]:
        calls = _in_window(self._app_calls, now - APP_WINDOW)
        share = self._settings.app_usage
        if share is None:
            share = calls * 100 // self._settings.app_call_limit
        return _shares(share)

    def _buc_usage(self, ig_user_id: str, now: float) -> dict[str, Any]:
        window = self._buc_calls.get(ig_user_id, deque())
        calls = _in_window(window, now - BUC_WINDOW)
        settings = self._settings
        share = settings.buc_usage
        if share is None:
            share = calls * 100 // settings.buc_call_limit
        regain = settings.regain_minutes
        if not regain and share >= 100:
            # Until the oldest call leaves the 24-hour window.
            oldest = window[0] if window else now
            regain = max(1, round((oldest + BUC_WINDOW - now) / 60))
        return {
            "type": "instagram",
            **_shares(share),
            "estimated_time_to_regain_access": regain,
        }


def _in_window(calls: deque[float], start: float) -> int:
    """Drop the calls older than ``start``; return how many are left."""
    while calls and calls[0] < start:
        calls.popleft()
    return len(calls)


def _shares(call_count: int) -> dict[str, int]:
    """Meta's three percentages; time and CPU run a little below the calls."""
    return {
        "call_count": call_count,
        "total_cputime": call_count * 3 // 5,
        "total_time": call_count * 4 // 5,
    }


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
