"""How long the engine waits, retries and holds a post, from the app's config."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta

# The horizon step runs at least this often, so a post never waits on it for
# long even with a long horizon.
MAX_HORIZON_STEP = timedelta(minutes=5)


@dataclass(frozen=True)
class Settings:
    """Timing knobs, read from the app config (defaults live in app.py; tests
    shrink them)."""

    lease: timedelta
    first_check: timedelta
    check_interval: timedelta
    check_timeout: timedelta
    backoff_base: float
    backoff_cap: float
    max_attempts: int
    max_graph_calls: int
    quota_wait: timedelta
    missed_window: timedelta
    sweep_interval: float
    threads: int
    call_timeout: timedelta
    # How long a possibly-published post is checked before Ospost gives up asking.
    verify_window: timedelta = timedelta(hours=26)
    # Wake-up jobs are kept only for posts due within this long from now (None:
    # one for every pending post, as before the horizon existed).
    horizon: timedelta | None = timedelta(hours=1)
    # Reels and Stories: the first gap between checks of a video container
    # (doubling each time, at most video_max_gap) and how long Meta keeps an
    # unpublished container (24 h), after which Ospost gives up on it.
    video_check_interval: timedelta = timedelta(seconds=60)
    video_max_gap: timedelta = timedelta(minutes=10)
    video_container_ttl: timedelta = timedelta(hours=24)
    # Not a setting: how long an account's quota reading is trusted.
    quota_cache: timedelta = timedelta(minutes=10)

    def retry_delay(self, attempts: int) -> timedelta:
        """How long retry number ``attempts`` waits: doubling from backoff_base
        up to backoff_cap, with jitter so a burst of retries spreads out."""
        seconds = min(self.backoff_cap, self.backoff_base * 2 ** (attempts - 1))
        return timedelta(seconds=seconds * random.uniform(0.5, 1.5))

    def __post_init__(self) -> None:
        if self.lease <= self.call_timeout:
            raise ValueError(
                "PUBLISH_LEASE_SECONDS must be longer than one Graph API call "
                f"can take ({self.call_timeout.total_seconds():g} s with GRAPH_TIMEOUT)"
            )
        if self.horizon is not None and self.horizon <= timedelta(0):
            raise ValueError(
                "PUBLISH_HORIZON_SECONDS must be a positive number of seconds "
                "(or 0 for no horizon: a wake-up job for every pending post)"
            )

    @property
    def horizon_step(self) -> timedelta | None:
        """How often posts are brought into the horizon: a quarter of it, so a
        post always gets its job well before it is due (at most 5 minutes)."""
        if self.horizon is None:
            return None
        return min(self.horizon / 4, MAX_HORIZON_STEP)

    @classmethod
    def from_config(cls, cfg) -> Settings:
        seconds = timedelta(seconds=1)
        timeout = cfg["GRAPH_TIMEOUT"]
        parts = timeout if isinstance(timeout, list | tuple) else [timeout]
        return cls(
            call_timeout=(sum(float(t) for t in parts) + 1) * seconds,
            lease=cfg["PUBLISH_LEASE_SECONDS"] * seconds,
            first_check=cfg["PUBLISH_FIRST_CHECK_SECONDS"] * seconds,
            check_interval=cfg["PUBLISH_CHECK_INTERVAL_SECONDS"] * seconds,
            check_timeout=cfg["PUBLISH_CHECK_TIMEOUT_SECONDS"] * seconds,
            backoff_base=float(cfg["PUBLISH_BACKOFF_BASE_SECONDS"]),
            backoff_cap=float(cfg["PUBLISH_BACKOFF_CAP_SECONDS"]),
            max_attempts=int(cfg["PUBLISH_MAX_ATTEMPTS"]),
            max_graph_calls=int(cfg["PUBLISH_MAX_GRAPH_CALLS"]),
            quota_wait=cfg["PUBLISH_QUOTA_WAIT_SECONDS"] * seconds,
            missed_window=cfg["PUBLISH_MISSED_WINDOW_HOURS"] * timedelta(hours=1),
            sweep_interval=float(cfg["PUBLISH_SWEEP_SECONDS"]),
            threads=int(cfg["PUBLISH_THREADS"]),
            verify_window=cfg["PUBLISH_VERIFY_HOURS"] * timedelta(hours=1),
            horizon=_horizon(cfg["PUBLISH_HORIZON_SECONDS"]),
            video_check_interval=cfg["PUBLISH_VIDEO_CHECK_SECONDS"] * seconds,
            video_max_gap=cfg["PUBLISH_VIDEO_MAX_GAP_SECONDS"] * seconds,
            video_container_ttl=cfg["PUBLISH_VIDEO_CONTAINER_HOURS"]
            * timedelta(hours=1),
        )


def _horizon(value) -> timedelta | None:
    """PUBLISH_HORIZON_SECONDS as a duration; 0 (or infinity) means no horizon."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"PUBLISH_HORIZON_SECONDS must be a number of seconds, not {value!r}"
        ) from None
    if seconds == 0 or math.isinf(seconds):
        return None
    if math.isnan(seconds) or seconds < 0:
        seconds = -1.0  # refused by Settings with the full explanation
    return timedelta(seconds=seconds)
