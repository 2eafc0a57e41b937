"""What Meta answers when a call does not simply succeed: ``GraphError`` with
Meta's code and subcode, ``classify`` (what a scheduler should do about it:
retry, wait, make a new container, ask for a new login or give up), and the
rate-limit usage Meta reports in its headers (``Usage``, ``parse_usage``).

``ospost.graph`` re-exports these names; callers import them from there.
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Retry classes from Meta's error reference (shared/docs/graph-api.md §5.3).
# 368 (temporarily blocked for policy reasons): Meta's advice is to wait and retry.
TRANSIENT_CODES = {1, 2, 4, 17, 32, 341, 368, 613, 80002}
# 2207052 (Meta could not fetch the image) often clears on a second attempt.
TRANSIENT_SUBCODES = {2207001, 2207003, 2207008, 2207032, 2207052}
NOT_READY_SUBCODES = {2207027}
RECREATE_SUBCODES = {2207020, 2207053}
QUOTA_SUBCODES = {2207042}
# Meta could not download the media from the URL it was given (9004/2207052).
MEDIA_FETCH_CODE, MEDIA_FETCH_SUBCODE = 9004, 2207052
FETCH_HELP_SECTION = "Meta must be able to fetch your images"
FETCH_HELP_LINK = "README.md#meta-must-be-able-to-fetch-your-images"
# Subcodes that must never be retried even though their code (e.g. 4) usually
# is: 2207051 means Meta suspects the action is spam. 2207018 (code 110): a
# tagged person or collaborator is unknown or private; 2207028: a carousel
# without 2-10 items. Both need the person to change the post.
PERMANENT_SUBCODES = {2207051, 2207018, 2207028}
# What the person can do about a refusal, added to Meta's own sentence.
ADVICE = {
    2207018: "Check the usernames of the people tagged and the collaborators: "
    "each must be an existing, public Instagram account.",
    2207028: "A carousel needs 2 to 10 images.",
}
REAUTH_CODES = {102, 190}
REAUTH_SUBCODES = {458, 459, 460, 463, 464, 467, 492}
# App, user, Page, custom and Instagram-account (BUC) rate limits (§5.2).
RATE_LIMIT_CODES = {4, 17, 32, 613, 80002}
# 4/2207051 is "suspected as spam", not a rate limit.
NOT_RATE_LIMIT_SUBCODES = {2207051}
# Meta throttles at 100%; callers that can wait stop here (graph-api.md §5.4).
HIGH_USAGE_PERCENT = 80
USAGE_KEYS = ("call_count", "total_time", "total_cputime")


class ErrorKind(enum.StrEnum):
    TRANSIENT = "transient"
    NOT_READY = "not_ready"
    RECREATE = "recreate"
    QUOTA = "quota"
    REAUTH = "reauth"
    PERMANENT = "permanent"


class GraphError(Exception):
    """Meta refused a request, or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
        fbtrace_id: str | None = None,
        error_type: str | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.user_title = user_title
        self.user_msg = user_msg
        self.fbtrace_id = fbtrace_id
        self.error_type = error_type
        self.usage = usage
        # The image URL Meta was asked to fetch, when the call gave it one.
        self.media_url: str | None = None

    @property
    def rate_limited(self) -> bool:
        """Meta refused the call for making too many (back off, do not retry now)."""
        if self.code is None:
            return self.http_status == 429
        return (
            self.code in RATE_LIMIT_CODES
            and self.subcode not in NOT_RATE_LIMIT_SUBCODES
        )

    @property
    def media_fetch_failed(self) -> bool:
        """Meta could not download the image (9004 / subcode 2207052)."""
        return self.code == MEDIA_FETCH_CODE or self.subcode == MEDIA_FETCH_SUBCODE

    @property
    def kind(self) -> ErrorKind:
        """What a scheduler should do about this error."""
        return classify(self.code, self.subcode, self.http_status, self.error_type)

    def user_message(self) -> str:
        """The best sentence to show a person: Meta's own text when it gives one,
        for an image Meta could not download which URL, and what to do about it
        when Ospost knows."""
        if self.media_fetch_failed:
            return media_fetch_message(self.media_url, self.user_msg or self.message)
        text = self.user_msg or self.message
        advice = ADVICE.get(self.subcode or 0)
        return f"{text.rstrip('.')}. {advice}" if advice else text

    def __str__(self) -> str:
        parts = [self.message]
        if self.code is not None:
            parts.append(
                f"(code {self.code}" + (f"/{self.subcode})" if self.subcode else ")")
            )
        return " ".join(parts)


def media_fetch_message(url: str | None, meta_says: str) -> str:
    """Why Meta could not download a post's image, naming the URL it tried, and
    where the person finds how to fix it (the README section and the account
    page's check, next to APP_URL)."""
    if url is None:
        what = f"Meta could not download the image ({meta_says})"
        account = ""
    else:
        what = f"Meta could not download the image from {url}"
        base = url.split("/static/tmp/", 1)[0]
        account = f" The account page checks it: {base}/account#app-url"
    return (
        f"{what}. Meta's servers fetch every image through APP_URL, so that "
        "address must be reachable from the internet, over https and without "
        f"login: see “{FETCH_HELP_SECTION}” in Ospost's {FETCH_HELP_LINK}."
        f"{account}"
    )


class GraphNetworkError(GraphError):
    """The request did not get an answer (timeout, refused connection, bad gateway)."""


def classify(
    code: int | None,
    subcode: int | None,
    http_status: int | None = None,
    error_type: str | None = None,
) -> ErrorKind:
    """Sort a Meta error into the action a scheduler should take."""
    if code is None:
        # No Meta error body: network trouble or a bare 5xx is worth retrying.
        if http_status is None or http_status >= 500 or http_status == 429:
            return ErrorKind.TRANSIENT
        return ErrorKind.PERMANENT
    if subcode in NOT_READY_SUBCODES:
        return ErrorKind.NOT_READY
    if subcode in QUOTA_SUBCODES:
        return ErrorKind.QUOTA
    if subcode in RECREATE_SUBCODES:
        return ErrorKind.RECREATE
    if subcode in PERMANENT_SUBCODES:
        return ErrorKind.PERMANENT
    if code in TRANSIENT_CODES or subcode in TRANSIENT_SUBCODES:
        return ErrorKind.TRANSIENT
    if code in REAUTH_CODES or subcode in REAUTH_SUBCODES:
        return ErrorKind.REAUTH
    if error_type == "OAuthException" and subcode is None and code == 190:
        return ErrorKind.REAUTH
    return ErrorKind.PERMANENT


@dataclass(frozen=True)
class Usage:
    """Meta's rate-limit headers of one answer, as percentages of the limits.

    ``app`` is ``X-App-Usage`` (the app's hourly platform limit); ``accounts``
    maps each business object id of ``X-Business-Use-Case-Usage`` to its highest
    percentages over the entries (e.g. the ``instagram`` one);
    ``regain_minutes`` is the longest ``estimated_time_to_regain_access``.
    """

    app: dict[str, int]
    accounts: dict[str, dict[str, int]]
    regain_minutes: int = 0

    @property
    def highest(self) -> int:
        """The highest percentage of any limit in the answer (0 without headers)."""
        values = [*self.app.values()]
        for shares in self.accounts.values():
            values.extend(shares.values())
        return max(values, default=0)

    def is_high(self, threshold: int = HIGH_USAGE_PERCENT) -> bool:
        """True when calls should stop for a while: a limit is nearly used up,
        or Meta already says when access comes back."""
        return self.highest >= threshold or self.regain_minutes > 0


def parse_usage(headers) -> Usage | None:
    """Read ``X-App-Usage`` and ``X-Business-Use-Case-Usage`` from ``headers``.

    Returns None when neither is there. A malformed header is ignored (and
    logged): it must never turn a good answer into an error.
    """
    app_raw = headers.get("X-App-Usage")
    buc_raw = headers.get("X-Business-Use-Case-Usage")
    if not app_raw and not buc_raw:
        return None
    app = _shares(_json_header("X-App-Usage", app_raw))
    accounts: dict[str, dict[str, int]] = {}
    regain = 0
    buc = _json_header("X-Business-Use-Case-Usage", buc_raw)
    for object_id, entries in (buc if isinstance(buc, dict) else {}).items():
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list):
            continue
        highest: dict[str, int] = {}
        for entry in entries:
            for key, value in _shares(entry).items():
                highest[key] = max(highest.get(key, 0), value)
            if isinstance(entry, dict):
                minutes = as_int(entry.get("estimated_time_to_regain_access"))
                regain = max(regain, minutes or 0)
        accounts[str(object_id)] = highest
    return Usage(app=app, accounts=accounts, regain_minutes=regain)


def _json_header(name: str, raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        log.warning("ignoring a malformed %s header", name)
        return None


def _shares(entry: Any) -> dict[str, int]:
    """The percentages of one usage entry, clamped to 0..100."""
    if not isinstance(entry, dict):
        return {}
    shares = {}
    for key in USAGE_KEYS:
        value = as_int(entry.get(key))
        if value is not None:
            shares[key] = min(max(value, 0), 100)
    return shares


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
