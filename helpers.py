"""Small pure helpers: caption rules, local-time parsing and display, request checks.

Nothing here does I/O. Graph API calls live in ``graph.py``, images in
``images.py``, and publishing in ``scheduler.py`` and ``engine/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from functools import wraps
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError
from zoneinfo import available_timezones

from flask import flash
from flask import g
from flask import redirect
from flask import request
from flask import url_for

from ospost import images

CAPTION_MAX_CHARS = 2200
CAPTION_MAX_HASHTAGS = 30
CAPTION_MAX_MENTIONS = 20
ALT_TEXT_MAX_CHARS = 1000
# A carousel holds 2-10 images (Meta's error 2207028 outside that range).
MEDIA_MAX_ITEMS = 10
# People tagged on one image (Meta: 20 tags per created media).
TAGS_MAX_PER_IMAGE = 20
# Meta's IG User Media reference: "up to 3" collaborators on feed posts.
COLLABORATORS_MAX = 3
USERNAME_MAX_CHARS = 30
USERNAME = re.compile(r"[A-Za-z0-9._]{1,30}")


def client_limits() -> dict:
    """Instagram's limits that the pages check before sending (``data-limits``).

    The caption's are here, the image's in ``images.py``; the browser's checks
    and the forms' help texts read them from this one place.
    """
    return {
        "caption": {
            "chars": CAPTION_MAX_CHARS,
            "hashtags": CAPTION_MAX_HASHTAGS,
            "mentions": CAPTION_MAX_MENTIONS,
        },
        "alt_text_chars": ALT_TEXT_MAX_CHARS,
        "media_items": MEDIA_MAX_ITEMS,
        "tags_per_image": TAGS_MAX_PER_IMAGE,
        "collaborators": COLLABORATORS_MAX,
        "username_chars": USERNAME_MAX_CHARS,
        "image": {
            "min_ratio": images.MIN_RATIO,
            "max_ratio": images.MAX_RATIO,
            "max_width": images.MAX_WIDTH,
            # The tallest image images.py makes: the narrowest shape at full width.
            "max_height": round(images.MAX_WIDTH / images.MIN_RATIO),
        },
    }


_HASHTAG = re.compile(r"(?<![\w#])#\w+")
_MENTION = re.compile(r"(?<![\w@])@[\w.]+")


@dataclass(frozen=True)
class CaptionStats:
    chars: int
    hashtags: int
    mentions: int

    def problems(self, noun: str = "caption") -> list[str]:
        """What makes this text unacceptable to Instagram, as sentences.

        The first comment follows the caption's rules, counted on its own
        (``noun="first comment"``).
        """
        out = []
        if self.chars > CAPTION_MAX_CHARS:
            out.append(
                f"The {noun} has {self.chars} characters; "
                f"Instagram allows {CAPTION_MAX_CHARS}."
            )
        if self.hashtags > CAPTION_MAX_HASHTAGS:
            out.append(
                f"The {noun} has {self.hashtags} hashtags; "
                f"Instagram allows {CAPTION_MAX_HASHTAGS}."
            )
        if self.mentions > CAPTION_MAX_MENTIONS:
            out.append(
                f"The {noun} has {self.mentions} @mentions; "
                f"Instagram allows {CAPTION_MAX_MENTIONS}."
            )
        return out


def caption_stats(text: str) -> CaptionStats:
    """Count what Instagram limits in a caption (characters are code points)."""
    return CaptionStats(
        chars=len(text),
        hashtags=len(_HASHTAG.findall(text)),
        mentions=len(_MENTION.findall(text)),
    )


def is_username(name: str) -> bool:
    """An Instagram username: letters, digits, periods, underscores, <= 30."""
    return bool(USERNAME.fullmatch(name))


def parse_usernames(text: str) -> list[str]:
    """Usernames typed as "@a, b c": split on commas and spaces, "@" dropped
    (Meta refuses a leading "@"), duplicates kept once, in order."""
    # Instagram usernames are lowercase; "Jane.Doe" is the same person.
    parts = re.split(r"[\s,]+", text.lower())
    names = [part.lstrip("@") for part in parts if part]
    return list(dict.fromkeys(name for name in names if name))


def normalize_newlines(text: str) -> str:
    """Browsers send CRLF from textareas; store what the person sees."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def valid_timezone(name: str | None) -> str | None:
    """Return ``name`` if it is a known IANA time zone, else None."""
    if not name or len(name) > 64 or name not in _zones():
        return None
    return name


_ZONES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


def timezone_choices() -> list[str]:
    """Every IANA zone name, sorted, for the account page."""
    return sorted(_zones())


class LocalTimeError(ValueError):
    """The local time the person typed cannot be turned into one instant."""


def parse_local_datetime(value: str, tz_name: str) -> datetime:
    """Read a ``datetime-local`` value typed in ``tz_name`` as an aware UTC instant.

    A wall-clock time skipped by a daylight-saving jump is refused; a time that
    happens twice (clocks going back) means its first occurrence.
    """
    try:
        naive = datetime.fromisoformat(value.strip())
    except (ValueError, AttributeError) as exc:
        raise LocalTimeError("Enter a date and time like 2026-12-01 09:30.") from exc
    if naive.tzinfo is not None:
        raise LocalTimeError("Enter a local date and time without a time zone.")
    if not 1971 <= naive.year <= 9998:
        # Far-off years cannot be converted between zones (and are never valid).
        raise LocalTimeError("Enter a date and time in the coming weeks.")
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise LocalTimeError(f"Unknown time zone {tz_name!r}.") from exc
    local = naive.replace(tzinfo=zone, fold=0)
    round_trip = local.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if round_trip != naive:
        raise LocalTimeError(
            f"{naive:%b %d, %H:%M} does not exist in {tz_name}: the clocks skip "
            "that hour for daylight saving time. Pick another time."
        )
    return local.astimezone(UTC)


def same_clock_time(when: datetime, old_tz: str, new_tz: str) -> tuple[datetime, bool]:
    """The instant that shows ``when``'s ``old_tz`` clock time on ``new_tz`` clocks.

    Returns (instant, shifted). A clock time the new zone skips for daylight
    saving becomes the time as far past the jump (02:30 on a night that jumps
    from 02:00 to 03:00 becomes 03:30), and ``shifted`` says so; a clock time
    that happens twice means its first occurrence, as when a person types it.
    """
    naive = to_local(when, old_tz).replace(tzinfo=None)
    zone = ZoneInfo(new_tz)
    # fold=0 reads a skipped time with the offset from before the jump, which
    # lands that far after it.
    instant = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    shifted = instant.astimezone(zone).replace(tzinfo=None) != naive
    return instant, shifted


def to_local(when: datetime, tz_name: str) -> datetime:
    """An aware instant shown in the person's zone."""
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return when.astimezone(zone)


def format_local(
    when: datetime | None, tz_name: str, fmt: str = "%b %d, %Y %H:%M"
) -> str:
    """``Dec 01, 2026 09:30 PST`` — always with the zone's abbreviation."""
    if when is None:
        return ""
    local = to_local(when, tz_name)
    return f"{local.strftime(fmt)} {local.tzname()}"


def input_value(when: datetime | None, tz_name: str) -> str:
    """The value a ``datetime-local`` input needs to show ``when`` to this person."""
    if when is None:
        return ""
    return to_local(when, tz_name).strftime("%Y-%m-%dT%H:%M")


_HEX_COLOR = re.compile(r"#([0-9a-fA-F]{6})")


def parse_hex_color(value: str | None) -> tuple[int, int, int] | None:
    """``#rrggbb`` (what a colour input sends) as an RGB tuple, else None."""
    match = _HEX_COLOR.fullmatch(value or "")
    if match is None:
        return None
    raw = bytes.fromhex(match.group(1))
    return raw[0], raw[1], raw[2]


def file_size(n_bytes: int) -> str:
    """``30 MB``, ``1.5 MB`` or ``200 KB``: a size the way people read it."""
    mb = n_bytes / (1024 * 1024)
    if mb >= 1:
        return f"{mb:.1f}".removesuffix(".0") + " MB"
    return f"{max(1, round(n_bytes / 1024))} KB"


def wants_json() -> bool:
    """True for fetch() calls, which get JSON errors instead of HTML pages."""
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and not request.accept_mimetypes["text/html"]


def is_safe_next(target: str | None) -> bool:
    """Only allow redirects back into this site after login (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and "\\" not in target


NO_ACCOUNT = (
    "That Instagram account is not connected to you any more. Choose one of "
    "your accounts, or connect it again."
)


def person_required(view):
    """Send anonymous visitors to the login page (or 401 JSON for fetch calls)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("person") is None:
            if wants_json():
                return {"ok": False, "error": "Please log in again."}, 401
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def login_required(view):
    """Let through a logged-in person looking at an account they hold.

    Anonymous visitors go to the login page (401 JSON for fetch calls). A
    person whose account was taken away meanwhile gets a 404 for a fetch call,
    and their list of accounts otherwise.
    """

    @person_required
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            if wants_json():
                return {"ok": False, "error": NO_ACCOUNT}, 404
            flash(NO_ACCOUNT, "warning")
            return redirect(url_for("accounts.index"))
        return view(*args, **kwargs)

    return wrapped
