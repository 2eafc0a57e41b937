"""The content publishing quota: usage in its moving window and its endpoint.

``_check_quota`` guards ``media_publish``, and
``GET /{ig-user-id}/content_publishing_limit`` reports the usage.
"""

import time
from typing import Any

from simulator.errors import quota_reached
from simulator.helpers import select
from simulator.records import GraphRequest
from simulator.records import Route
from simulator.world.state import WorldState


class QuotaMixin(WorldState):
    """The publishing quota (a 24-hour moving window by default)."""

    def _check_quota(self, ig_user_id: str, now: float) -> None:
        total = self._settings.quota_total
        window_start = now - self._settings.quota_duration
        if self._quota_usage(ig_user_id, window_start) >= total:
            raise quota_reached(total)

    def _quota_usage(self, ig_user_id: str, since: float) -> int:
        return sum(
            1
            for media in self._media.values()
            if media.ig_user_id == ig_user_id and media.published_at > since
        )

    def _limit(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``GET /{ig-user-id}/content_publishing_limit``: usage in the window."""
        with self._lock:
            token = self._auth(req)
            account = self._managed_ig(token, route.ig_user_id or "", "GET")
            settings = self._settings
            since = time.time() - settings.quota_duration
            try:
                since = max(since, float(req.params.get("since", since)))
            except ValueError:
                pass
            values = {
                "quota_usage": self._quota_usage(account.id, since),
                "config": {
                    "quota_total": settings.quota_total,
                    "quota_duration": int(settings.quota_duration),
                },
            }
            return {
                "data": [select(values, req.params.get("fields"), ("quota_usage",))]
            }
