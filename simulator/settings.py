"""The simulator's tunable knobs.

:class:`Settings` and the coercion of ``/_sim/settings`` input into it.
"""

from collections.abc import Callable
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import fields
from dataclasses import replace
from typing import Any
from typing import Self

from simulator.constants import DEFAULT_FAIL_KINDS
from simulator.records import RANDOM_FAULTS


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _to_optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _to_fail_kinds(value: Any) -> tuple[str, ...]:
    kinds = tuple(value.split(",")) if isinstance(value, str) else tuple(value)
    unknown = [kind for kind in kinds if kind not in RANDOM_FAULTS]
    if unknown or not kinds:
        raise ValueError(f"fail_kinds must be a non-empty subset of {RANDOM_FAULTS}")
    return kinds


_SETTING_TYPES: dict[str, Callable[[Any], Any]] = {
    "latency_ms": float,
    "container_ready_after": float,
    "video_processing_seconds": float,
    "short_token_ttl": int,
    "long_token_ttl": int,
    "quota_total": int,
    "quota_duration": float,
    "container_ttl": float,
    "crawler_timeout": float,
    "fail_rate": float,
    "fail_kinds": _to_fail_kinds,
    "timeout_delay": float,
    "require_appsecret_proof": _to_bool,
    "seed": _to_optional_int,
    "existing_feed": _to_bool,
    "cdn_url_ttl": float,
    "app_usage": _to_optional_int,
    "buc_usage": _to_optional_int,
    "app_call_limit": int,
    "buc_call_limit": int,
    "regain_minutes": int,
}


@dataclass(frozen=True)
class Settings:
    """Knobs of the simulated world; change them with ``GraphWorld.configure()``."""

    latency_ms: float = 0
    container_ready_after: float = 2.0
    video_processing_seconds: float = 5.0  # Reels/Stories videos stay IN_PROGRESS
    short_token_ttl: int = 3600
    long_token_ttl: int = 5183944
    quota_total: int = 100
    quota_duration: float = 86400
    container_ttl: float = 86400
    crawler_timeout: float = 10.0
    fail_rate: float = 0.0
    fail_kinds: tuple[str, ...] = DEFAULT_FAIL_KINDS
    timeout_delay: float = 15.0
    require_appsecret_proof: bool = False
    seed: int | None = None
    # Every IG account starts with a deterministic history of 24-60 posts.
    existing_feed: bool = True
    # Media URLs expire like Meta's CDN URLs (the ``oe`` parameter).
    cdn_url_ttl: float = 3 * 86400
    # Rate-limit headers: percentages are forced by app_usage / buc_usage, else
    # computed from the calls in the window against the *_call_limit; at 100 the
    # calls are refused (code 4 for the app, 80002 for an Instagram account).
    app_usage: int | None = None
    buc_usage: int | None = None
    app_call_limit: int = 200_000
    buc_call_limit: int = 48_000
    regain_minutes: int = 0

    def updated(self, **changes: Any) -> Self:
        """Return a copy with ``changes`` applied; unknown names raise ValueError."""
        known = {item.name for item in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown simulator setting(s): {', '.join(unknown)}")
        coerced = {name: _SETTING_TYPES[name](value) for name, value in changes.items()}
        if not 0.0 <= coerced.get("fail_rate", 0.0) <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        for name in ("app_call_limit", "buc_call_limit"):
            if coerced.get(name, 1) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("app_usage", "buc_usage", "regain_minutes"):
            if (coerced.get(name) or 0) < 0:
                raise ValueError(f"{name} must not be negative")
        return replace(self, **coerced)

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-friendly values."""
        values = asdict(self)
        values["fail_kinds"] = list(self.fail_kinds)
        return values
