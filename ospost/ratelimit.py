"""Rate limits: how often one network or one person may log in, upload and change.

Flask-Limiter counts requests in ``RATELIMIT_STORAGE_URI``. ``memory://`` (the
default) counts inside each process, which is right for one process (``make
run``); with several gunicorn workers or hosts each would count on its own and
let through N times the limit, so production sets ``redis://host:6379`` and
every worker shares the counts. If Redis goes away the counts fall back to
memory, per worker, instead of failing requests.

A limited request is answered 429 before the view runs (so a refused login costs
no call to Meta), with ``Retry-After`` and a sentence saying when to try again:
``{"ok": false, "error": ...}`` for fetch calls, the error page otherwise.
Logins are counted per IP address: who the person is only becomes known by
asking Meta, which is the cost being limited. Uploads and other changes are
counted per person and, more loosely, per IP address.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from flask import Flask
from flask import current_app
from flask import g
from flask import render_template
from flask import request
from flask_limiter import Limiter
from flask_limiter import RateLimitExceeded

import helpers

log = logging.getLogger(__name__)

# The settings' defaults (limits strings, e.g. "10 per minute;100 per hour").
DEFAULTS = {
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_STORAGE_URI": "memory://",
    # A person logs in about once a fortnight; a script guessing tokens does not.
    "RATELIMIT_LOGIN_PER_IP": "10 per minute;100 per hour",
    # Adding or editing a post by hand takes longer than 3 s each.
    "RATELIMIT_UPLOADS_PER_PERSON": "20 per minute",
    "RATELIMIT_UPLOADS_PER_IP": "60 per minute",
    # Bulk upload sends each photo on its own: 50 in a minute is a normal batch.
    "RATELIMIT_BULK_PER_PERSON": "120 per minute",
    "RATELIMIT_BULK_PER_IP": "300 per minute",
    # Reorders, moves (a key held down), removals, publish-now, account changes.
    "RATELIMIT_MUTATIONS_PER_PERSON": "60 per minute",
    "RATELIMIT_MUTATIONS_PER_IP": "300 per minute",
}


def _client_ip() -> str:
    # Behind a proxy, ProxyFix (configured hops only) has already set remote_addr.
    return request.remote_addr or "unknown"


def _person() -> str:
    person = g.get("person")
    return f"person:{person.id}" if person is not None else f"ip:{_client_ip()}"


limiter = Limiter(
    key_func=_client_ip,
    # A moving window never lets more than the limit through in any period;
    # a fixed window would allow twice the limit across a window boundary.
    strategy="moving-window",
    headers_enabled=False,  # Retry-After is set on the 429 itself
    in_memory_fallback_enabled=True,
    swallow_errors=True,
)


def _limits(action: str, *rules: tuple[str, Callable[[], str], str]):
    """A decorator applying each (scope, key function, setting) limit on POST."""

    def decorate(view):
        for scope, key_func, setting in rules:
            view = limiter.shared_limit(
                lambda setting=setting: current_app.config[setting],
                scope=scope,
                key_func=key_func,
                methods=["POST"],
                error_message=action,
            )(view)
        return view

    return decorate


login = _limits(
    "Too many login attempts from your network.",
    ("login-ip", _client_ip, "RATELIMIT_LOGIN_PER_IP"),
)
uploads = _limits(
    "Too many posts added or edited in a short time.",
    ("uploads-person", _person, "RATELIMIT_UPLOADS_PER_PERSON"),
    ("uploads-ip", _client_ip, "RATELIMIT_UPLOADS_PER_IP"),
)
bulk = _limits(
    "Too many photos uploaded in a short time.",
    ("bulk-person", _person, "RATELIMIT_BULK_PER_PERSON"),
    ("bulk-ip", _client_ip, "RATELIMIT_BULK_PER_IP"),
)
mutations = _limits(
    "Too many changes in a short time.",
    ("mutations-person", _person, "RATELIMIT_MUTATIONS_PER_PERSON"),
    ("mutations-ip", _client_ip, "RATELIMIT_MUTATIONS_PER_IP"),
)


def init_app(app: Flask) -> None:
    """Count requests for ``app`` and answer limited ones with a clear 429.

    Call after the hook that loads ``g.person``: limits per person need it.
    """
    for name, value in DEFAULTS.items():
        app.config.setdefault(name, value)
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _too_many_requests)
    storage = app.config["RATELIMIT_STORAGE_URI"]
    production = not (app.config.get("TESTING") or app.config["DEMO"] or app.debug)
    if production and app.config["RATELIMIT_ENABLED"] and storage.startswith("memory"):
        log.warning(
            "rate limits are counted in memory, separately in each worker and "
            "host; with several, set RATELIMIT_STORAGE_URI=redis://host:6379"
        )


def _too_many_requests(exc: RateLimitExceeded):
    wait = _seconds_until_allowed()
    message = f"{exc.description} Try again in {_duration(wait)}."
    if helpers.wants_json():
        response = current_app.make_response(({"ok": False, "error": message}, 429))
    else:
        page = render_template("error.html", code=429, message=message)
        response = current_app.make_response((page, 429))
    response.headers["Retry-After"] = str(wait)
    return response


def _seconds_until_allowed() -> int:
    breached = limiter.current_limit
    if breached is None:
        return 60
    # The moment the oldest counted request leaves the window.
    return max(1, math.ceil(breached.window.reset_time - time.time()))


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"
