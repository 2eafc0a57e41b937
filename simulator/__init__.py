"""Instagram Graph API simulator (Facebook Login variant): demo mode, tests, benches.

Meta cannot be reached from this machine, so this module plays Meta: it answers the
Graph endpoints Ospost uses with Meta's JSON shapes, error envelopes and codes (see
/work/shared/docs/graph-api.md), and it acts as Meta's crawler by downloading every
``image_url`` it is given.

What belongs here: the simulated world (:class:`GraphWorld`), its Flask front end
(:func:`create_simulator`), a real threaded HTTP server around it
(:class:`SimulatorServer`) and a CLI (``python -m simulator --port 5001``).

Built-in fake Facebook users (same ids after construction and after ``reset()``;
``DEMO_USERS`` maps handle -> fb_user_id):

* ``demo``  -- fb_user_id 10000000000001 "Demo User": Page "Ospost Demo Café"
  200000000000001 -> IG business account 17841400000000001 ``ospost.demo``.
* ``multi`` -- fb_user_id 10000000000002 "Multi Page Owner": Pages "Multi One"
  200000000000002 -> IG 17841400000000002 ``multi.one``; "Multi Two" 200000000000003
  -> IG 17841400000000003 ``multi.two``; "Multi Blog" 200000000000004, no IG account.
* ``noig``  -- fb_user_id 10000000000003 "No Instagram": Page "Plain Page"
  200000000000005, no IG account.
* ``other`` -- fb_user_id 10000000000004 "Other Person": Page "Other Brand"
  200000000000006 -> IG 17841400000000004 ``other.brand``.

Users made with ``add_user()`` get fresh ids from 10000000000101 (users),
200000000000101 (pages) and 17841400000000101 (IG accounts) upwards.

Errors, as Meta sends them (HTTP 400 unless noted):

* no token: 104 (2500 on ``/me``); unparsable token: 190; expired: 190/463;
  invalidated: 190/<subcode> (460 password change, 458, 459, 464, 467, 492);
  bad ``appsecret_proof`` or missing when required: 100 (``GraphMethodException``).
* exchange: wrong ``client_id`` 101, wrong ``client_secret`` 1, other app's token 190.
* ``debug_token``: bad app token 190, user token as app token 100, input token of
  another app 100; dead input tokens answer ``is_valid: false`` plus ``error``.
* unknown object, or one the user cannot see: 100/33; unknown edge: 100
  ("Tried accessing nonexisting field"); deeper unknown paths: 2500.
* create/publish on an IG account the user does not manage: 10, HTTP 403.
* crawler: fetch failed 9004/2207052, not JPEG (MPO too) 36001/2207005,
  > 8 MiB 36000/2207004, ratio outside 0.8..1.91 36003/2207009.
* caption > 2,200 chars or > 30 hashtags 36004/2207010; > 20 @mentions 100/2207040.
* publish: unknown/foreign/already published container 24/2207006, not finished
  9007/2207027, expired -2/2207020, container in ERROR -1/2207032, quota 9/2207042.
"""

import argparse
import base64
import functools
import hashlib
import hmac
import io
import json
import logging
import random
import re
import secrets
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import Self
from urllib.parse import urlencode

import urllib3
from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from flask import request
from PIL import Image
from PIL import ImageDraw
from PIL import UnidentifiedImageError
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server
from werkzeug.wrappers import Request as WerkzeugRequest
from werkzeug.wrappers import Response as WerkzeugResponse

logger = logging.getLogger("ospost.simulator")

DEFAULT_APP_ID = "1234567890123456"
DEFAULT_APP_SECRET = "demo-app-secret"
DEFAULT_API_VERSION = "v21.0"
APP_NAME = "Ospost"

DEMO_USERS = {
    "demo": "10000000000001",
    "multi": "10000000000002",
    "noig": "10000000000003",
    "other": "10000000000004",
}

DEFAULT_SCOPES = (
    "instagram_basic",
    "instagram_content_publish",
    "pages_show_list",
    "pages_read_engagement",
    "business_management",
    "public_profile",
)
PAGE_TASKS = ("ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE")
DEFAULT_FAIL_KINDS = (
    "http500",
    "timeout",
    "code1",
    "code2",
    "code4",
    "code17",
    "code613",
    "not_ready",
)
ENDPOINTS = (
    "exchange",
    "debug_token",
    "me",
    "accounts",
    "page",
    "ig_user",
    "create",
    "status",
    "publish",
    "limit",
    "media_list",
    "media",
    "unknown",
)

CRAWLER_USER_AGENT = "facebookexternalhit/1.1"
MAX_IMAGE_BYTES = 8 * 1024 * 1024
MIN_ASPECT_RATIO = 0.8
MAX_ASPECT_RATIO = 1.91
CAPTION_MAX_CHARS = 2200
CAPTION_MAX_HASHTAGS = 30
CAPTION_MAX_MENTIONS = 20
ALT_TEXT_MAX_CHARS = 1000
DATA_ACCESS_SECONDS = 90 * 86400
PAGE_SIZE = 25

_VERSION_RE = re.compile(r"v\d+\.\d+")
_HASHTAG_RE = re.compile(r"#\w+")
_MENTION_RE = re.compile(r"@[\w.]+")
_URL_SECRETS = ("access_token", "fb_exchange_token", "input_token", "client_secret")
_GRAPH_DOCS = "https://developers.facebook.com/docs/graph-api"

_BUILTIN_USERS = (
    (
        "demo",
        "Demo User",
        (("200000000000001", "Ospost Demo Café", "17841400000000001", "ospost.demo"),),
    ),
    (
        "multi",
        "Multi Page Owner",
        (
            ("200000000000002", "Multi One", "17841400000000002", "multi.one"),
            ("200000000000003", "Multi Two", "17841400000000003", "multi.two"),
            ("200000000000004", "Multi Blog", None, None),
        ),
    ),
    ("noig", "No Instagram", (("200000000000005", "Plain Page", None, None),)),
    (
        "other",
        "Other Person",
        (("200000000000006", "Other Brand", "17841400000000004", "other.brand"),),
    ),
)

_STATUS_TEXT = {
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
    "PUBLISHED": "Published: Media has been successfully published.",
    "EXPIRED": "Expired: Media was not published within 24 hours of creation.",
    "ERROR": "Error: Media upload has failed with error code 2207001",
}


# --------------------------------------------------------------------------- settings


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _to_optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _to_fail_kinds(value: Any) -> tuple[str, ...]:
    kinds = tuple(value.split(",")) if isinstance(value, str) else tuple(value)
    unknown = [kind for kind in kinds if kind not in _RANDOM_FAULTS]
    if unknown or not kinds:
        raise ValueError(f"fail_kinds must be a non-empty subset of {_RANDOM_FAULTS}")
    return kinds


_SETTING_TYPES: dict[str, Callable[[Any], Any]] = {
    "latency_ms": float,
    "container_ready_after": float,
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
}


@dataclass(frozen=True)
class Settings:
    """Knobs of the simulated world; change them with ``GraphWorld.configure()``."""

    latency_ms: float = 0
    container_ready_after: float = 2.0
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

    def updated(self, **changes: Any) -> Self:
        """Return a copy with ``changes`` applied; unknown names raise ValueError."""
        known = {item.name for item in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown simulator setting(s): {', '.join(unknown)}")
        coerced = {name: _SETTING_TYPES[name](value) for name, value in changes.items()}
        if not 0.0 <= coerced.get("fail_rate", 0.0) <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        return replace(self, **coerced)

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-friendly values."""
        values = asdict(self)
        values["fail_kinds"] = list(self.fail_kinds)
        return values


# --------------------------------------------------------------------------- errors


class GraphError(Exception):
    """A Graph API error that renders as Meta's ``{"error": {...}}`` envelope."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        http: int = 400,
        kind: str = "OAuthException",
        title: str | None = None,
        user_msg: str | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode
        self.http = http
        self.kind = kind
        self.title = title
        self.user_msg = user_msg
        self.transient = transient

    def body(self) -> dict[str, Any]:
        """Return the JSON body Meta sends for this error (fresh fbtrace_id)."""
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.kind,
            "code": self.code,
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["is_transient"] = self.transient
        if self.title:
            error["error_user_title"] = self.title
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)[:22]
        return {"error": error}


_SESSION_MESSAGES = {
    458: "Error validating access token: User {user} has not authorized application "
    "{app}.",
    459: "Error validating access token: You cannot access the app till you log in to "
    "www.facebook.com and follow the instructions given.",
    460: "Error validating access token: The session has been invalidated because the "
    "user changed their password or Facebook has changed the session for security "
    "reasons.",
    464: "Error validating access token: Sessions for the user {user} are not allowed "
    "because the user is not a confirmed user.",
    467: "Error validating access token: The session is invalid because the user "
    "logged out.",
    492: "Error validating access token: The session is invalid because the user "
    "lacks a role on the Page.",
}

# Default messages for scripted faults and random fault kinds, keyed by Graph code.
_CODE_MESSAGES = {
    -1: "An unexpected error has occurred. Please retry your request later.",
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    4: "(#4) Application request limit reached",
    9: "Application request limit reached",
    10: "(#10) Application does not have permission for this action",
    17: "(#17) User request limit reached",
    24: "The requested resource does not exist",
    32: "(#32) Page request limit reached",
    100: "(#100) Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    200: "(#200) Permissions error",
    341: "(#341) Application limit reached",
    368: "(#368) The action attempted has been deemed abusive or is otherwise "
    "disallowed",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    9007: "Media ID is not available",
    80002: "There have been too many calls to this Instagram account. Wait a bit and "
    "try again.",
}
_TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80002})


def _format_fb_time(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%A, %d-%b-%y %H:%M:%S UTC")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


def _ig_timestamp(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _bad_token_error() -> GraphError:
    return GraphError(190, _CODE_MESSAGES[190])


def _expired_error(expires_at: float, now: float) -> GraphError:
    message = (
        "Error validating access token: Session has expired on "
        f"{_format_fb_time(expires_at)}. The current time is {_format_fb_time(now)}."
    )
    return GraphError(190, message, subcode=463)


def _session_error(subcode: int, user: str, app: str) -> GraphError:
    template = _SESSION_MESSAGES.get(
        subcode, "Error validating access token: The session has been invalidated."
    )
    return GraphError(190, template.format(user=user, app=app), subcode=subcode)


def _unsupported(method: str, object_id: str) -> GraphError:
    message = (
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not "
        "exist, cannot be loaded due to missing permissions, or does not support this "
        f"operation. Please read the Graph API documentation at {_GRAPH_DOCS}"
    )
    return GraphError(100, message, subcode=33, kind="GraphMethodException")


def _no_permission() -> GraphError:
    return GraphError(10, _CODE_MESSAGES[10], http=403)


def _missing_param(name: str) -> GraphError:
    return GraphError(100, f"(#100) The parameter {name} is required")


def _ig_error(code: int, subcode: int, message: str, title: str, user_msg: str):
    return GraphError(code, message, subcode=subcode, title=title, user_msg=user_msg)


def _fetch_failed(url: str) -> GraphError:
    return _ig_error(
        9004,
        2207052,
        "Only photo or video can be accepted as media type.",
        "Media download has failed.",
        f"The media could not be fetched from this uri: {url}",
    )


def _too_large() -> GraphError:
    return _ig_error(
        36000,
        2207004,
        "The image size is too large.",
        "Image size too large",
        "The image is too large to download. It should be less than 8 MiB.",
    )


def _bad_format(found: str) -> GraphError:
    return _ig_error(
        36001,
        2207005,
        "The image format is not supported.",
        "Unsupported format",
        f"The image format ({found}) is not supported. Supported formats are: JPEG.",
    )


def _bad_ratio(width: int, height: int) -> GraphError:
    return _ig_error(
        36003,
        2207009,
        "The aspect ratio is not supported.",
        "Invalid aspect ratio",
        f"The submitted image with aspect ratio ('{width}/{height}',) cannot be "
        "published. Please submit an image with a valid aspect ratio.",
    )


def _caption_too_long() -> GraphError:
    return _ig_error(
        36004,
        2207010,
        "The caption is too long.",
        "Caption too long",
        f"The caption exceeded the maximum length of {CAPTION_MAX_CHARS} characters "
        f"or contains more than {CAPTION_MAX_HASHTAGS} hashtags.",
    )


def _too_many_mentions() -> GraphError:
    return _ig_error(
        100,
        2207040,
        "Invalid parameter",
        "Too many tags",
        f"Cannot use more than {CAPTION_MAX_MENTIONS} tags per created media.",
    )


def _not_ready() -> GraphError:
    return _ig_error(
        9007,
        2207027,
        "Media ID is not available",
        "Media not ready for publishing",
        "The media is not ready for publishing, please wait for a moment",
    )


def _media_not_found(container_id: str, why: str = "cannot be found") -> GraphError:
    return _ig_error(
        24,
        2207006,
        "The requested resource does not exist",
        "Media not found",
        f"The media with id {container_id} {why}.",
    )


def _media_expired() -> GraphError:
    return _ig_error(
        -2,
        2207020,
        "The media you are trying to access has expired. Please try to upload again.",
        "Media expired",
        "The media container has expired. Create a new container and publish it.",
    )


def _creation_failed() -> GraphError:
    return _ig_error(
        -1,
        2207032,
        "Create media fail, please try to re-create media",
        "Failed to create media",
        "Media processing failed. Please create a new container.",
    )


def _quota_reached(total: int) -> GraphError:
    return _ig_error(
        9,
        2207042,
        "Application request limit reached",
        "The maximum number of posts that were published has been reached.",
        f"You reached the maximum of {total} posts that can be published with the "
        "Content Publishing API in a 24-hour moving window.",
    )


def _error_for_code(code: int, response: dict[str, Any], user: str, app: str):
    """Build the GraphError a scripted fault ``response`` asks for."""
    subcode = response.get("subcode")
    message = response.get("message")
    if message is None and code == 190 and subcode == 463:
        message = _expired_error(time.time() - 60, time.time()).message
    elif message is None and code == 190 and subcode is not None:
        message = _session_error(int(subcode), user, app).message
    default_http = 403 if code == 10 or 200 <= code < 300 else 400
    return GraphError(
        code,
        message or _CODE_MESSAGES.get(code, "An unknown error occurred"),
        subcode=subcode,
        http=int(response.get("http", default_http)),
        kind=response.get("type", "OAuthException"),
        title=response.get("user_title"),
        user_msg=response.get("user_msg"),
        transient=bool(response.get("transient", code in _TRANSIENT_CODES)),
    )


# --------------------------------------------------------------------------- model


@dataclass
class _User:
    id: str
    name: str
    handle: str | None
    page_ids: list[str] = field(default_factory=list)


@dataclass
class _Page:
    id: str
    name: str
    owner_id: str
    ig_user_id: str | None
    tasks: tuple[str, ...] = PAGE_TASKS


@dataclass
class _IgAccount:
    id: str
    username: str
    name: str
    page_id: str


@dataclass
class _Token:
    value: str
    fb_user_id: str
    app_id: str
    issued_at: float
    expires_at: float  # 0 means "never" (page tokens from long-lived user tokens)
    scopes: tuple[str, ...]
    kind: str = "USER"
    page_id: str | None = None
    revoked_subcode: int | None = None


@dataclass
class _Container:
    id: str
    ig_user_id: str
    fb_user_id: str
    image_url: str
    caption: str
    alt_text: str
    image_sha256: str
    width: int
    height: int
    size: int
    image_format: str
    created_at: float
    forced_status: str | None = None
    forced_detail: str | None = None
    media_id: str | None = None


@dataclass
class _Media:
    id: str
    ig_user_id: str
    container_id: str
    caption: str
    alt_text: str
    image_url: str
    image_sha256: str
    width: int
    height: int
    image_format: str
    published_at: float
    shortcode: str


class _Node(dict):
    """A nested Graph object inside a response; ``fields`` can select into it."""


@dataclass
class GraphRequest:
    """One Graph call, already parsed from HTTP (or built by hand in unit tests)."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    token_in_url: bool = False
    base_url: str = "http://127.0.0.1/"


@dataclass
class Reply:
    """What the simulator answers: status, JSON dict (or plain text) and headers."""

    status: int
    body: dict[str, Any] | str
    error_code: int | None = None
    fault: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Route:
    endpoint: str
    handler: Callable[[GraphRequest, "_Route"], dict[str, Any]]
    object_id: str | None = None
    ig_user_id: str | None = None
    container_id: str | None = None


@dataclass
class _Fault:
    label: str
    delay: float = 0.0
    after: bool = False
    error: GraphError | None = None
    plain_status: int | None = None
    container_status: str | None = None
    container_detail: str | None = None

    def failure(self) -> Reply | None:
        """Return the error reply this fault forces, if any."""
        if self.error is not None:
            return _error_reply(self.error, fault=self.label)
        if self.plain_status is not None:
            return _plain_reply(self.plain_status, self.label)
        return None


def _error_reply(error: GraphError, fault: str | None = None) -> Reply:
    headers = {}
    if error.code == 190:
        reason = error.message.encode("ascii", "replace").decode().replace('"', "'")
        headers["WWW-Authenticate"] = (
            f'OAuth "Facebook Platform" "invalid_token" "{reason}"'
        )
    return Reply(error.http, error.body(), error.code, fault, headers)


def _plain_reply(status: int, fault: str | None = None) -> Reply:
    text = "Internal Server Error" if status >= 500 else "Bad Request"
    return Reply(status, text, None, fault)


_FAULT_MATCH_KEYS = frozenset({"endpoint", "ig_user_id", "fb_user_id", "container_id"})
_FAULT_RESPONSE_KEYS = frozenset(
    {
        "http",
        "code",
        "subcode",
        "message",
        "type",
        "user_title",
        "user_msg",
        "transient",
        "delay",
        "after",
        "container_status",
        "status",
    }
)
_CONTAINER_FAULT_STATES = ("ERROR", "EXPIRED")


def _fault_from_response(response: dict[str, Any], user: str, app: str) -> _Fault:
    """Turn a scripted ``add_fault`` response into the fault to apply."""
    fault = _Fault(
        label="scripted",
        delay=float(response.get("delay", 0.0)),
        after=bool(response.get("after", False)),
        container_status=response.get("container_status"),
        container_detail=response.get("status"),
    )
    if "code" in response:
        code = int(response["code"])
        fault.error = _error_for_code(code, response, user, app)
    elif "http" in response:
        fault.plain_status = int(response["http"])
    return fault


def _random_error(code: int, http: int = 400) -> GraphError:
    return GraphError(
        code, _CODE_MESSAGES[code], http=http, transient=code in _TRANSIENT_CODES
    )


_RANDOM_FAULTS: dict[str, Callable[[], GraphError] | None] = {
    "http500": None,
    "timeout": None,
    "not_ready": _not_ready,
    "code1": lambda: _random_error(1, 500),
    "code2": lambda: _random_error(2, 500),
    "code4": lambda: _random_error(4),
    "code17": lambda: _random_error(17),
    "code32": lambda: _random_error(32),
    "code341": lambda: _random_error(341),
    "code613": lambda: _random_error(613),
    "code80002": lambda: _random_error(80002),
}


def _random_fault(kind: str, endpoint: str, settings: Settings) -> _Fault:
    """Build the fault for one random ``fail_kinds`` draw on ``endpoint``."""
    if kind == "timeout":
        # A publish that times out really happened: only the response is lost.
        after = endpoint == "publish"
        return _Fault(label=kind, delay=settings.timeout_delay, after=after)
    if kind == "not_ready" and endpoint != "publish":
        kind = "http500"
    factory = _RANDOM_FAULTS[kind]
    if factory is None:
        return _Fault(label=kind, plain_status=500)
    return _Fault(label=kind, error=factory())


# --------------------------------------------------------------------------- helpers


def appsecret_proof(token: str, app_secret: str = DEFAULT_APP_SECRET) -> str:
    """Return the ``appsecret_proof`` Meta expects for ``token`` (HMAC-SHA256 hex)."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(object_id: str) -> str:
    return _b64url(object_id.encode())


def _shortcode(media_id: str) -> str:
    return _b64url(hashlib.sha1(media_id.encode()).digest())[:11]


def _parse_fields(spec: str | None) -> dict[str, str | None]:
    """Split a Graph ``fields`` list such as ``a,b{c,d}`` into names and sub-lists."""
    result: dict[str, str | None] = {}
    depth = start = 0
    text = (spec or "") + ","
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            item = text[start:index].strip()
            start = index + 1
            if item:
                name, _, rest = item.partition("{")
                result[name.strip()] = rest[:-1] if rest.endswith("}") else None
    return result


def _select(
    values: dict[str, Any], spec: str | None, default: tuple[str, ...]
) -> dict[str, Any]:
    """Return the requested ``fields`` of a node, plus its id, the way Graph does."""
    requested = _parse_fields(spec) or dict.fromkeys(default)
    selected: dict[str, Any] = {}
    for name, sub in requested.items():
        if name not in values:
            continue
        value = values[name]
        if callable(value):
            value = value()
        if isinstance(value, _Node):
            value = _select(value, sub, ("id",))
        selected[name] = value
    if "id" in values:
        selected.setdefault("id", values["id"])
    return selected


def _check_caption(caption: str) -> None:
    if len(caption) > CAPTION_MAX_CHARS:
        raise _caption_too_long()
    if len(_HASHTAG_RE.findall(caption)) > CAPTION_MAX_HASHTAGS:
        raise _caption_too_long()
    if len(_MENTION_RE.findall(caption)) > CAPTION_MAX_MENTIONS:
        raise _too_many_mentions()


def _create_params(params: dict[str, str]) -> tuple[str, str, str]:
    """Validate ``POST /{ig-user-id}/media`` input; return url, caption, alt text."""
    media_type = params.get("media_type", "IMAGE").upper()
    if media_type != "IMAGE":
        raise GraphError(
            100,
            "The simulator only supports single-image feed posts.",
            subcode=2207023,
            title="Unknown media type",
            user_msg=f"Media type {media_type} is not supported here.",
        )
    image_url = params.get("image_url", "").strip()
    if not image_url:
        raise _missing_param("image_url")
    caption = params.get("caption", "")
    alt_text = params.get("alt_text", "")
    _check_caption(caption)
    if len(alt_text) > ALT_TEXT_MAX_CHARS:
        raise GraphError(
            100, f"(#100) Param alt_text must be at most {ALT_TEXT_MAX_CHARS} chars"
        )
    return image_url, caption, alt_text


# One pool for every crawl: creating a client per fetch cost more CPU than
# the fetch itself in a burst.
_CRAWLER = urllib3.PoolManager(
    num_pools=8,
    maxsize=8,
    headers={"User-Agent": CRAWLER_USER_AGENT, "Accept": "*/*"},
)


def _crawl(url: str, timeout: float) -> bytes:
    """Download ``url`` like Meta's crawler; any failure is Meta's 9004/2207052."""
    try:
        resp = _CRAWLER.request(
            "GET", url, timeout=timeout, retries=False, preload_content=False
        )
    except (urllib3.exceptions.HTTPError, ValueError) as exc:
        logger.info("crawler could not fetch %s: %s", url, exc)
        raise _fetch_failed(url) from exc
    complete = False
    try:
        if resp.status != 200:
            raise _fetch_failed(url)
        data = bytearray()
        for chunk in resp.stream(65536):
            data.extend(chunk)
            if len(data) > MAX_IMAGE_BYTES:
                raise _too_large()
        complete = True
        return bytes(data)
    except urllib3.exceptions.HTTPError as exc:
        logger.info("crawler could not fetch %s: %s", url, exc)
        raise _fetch_failed(url) from exc
    finally:
        if not complete:
            resp.close()  # unread bytes must not reach the next fetch
        resp.release_conn()


def _inspect_image(data: bytes) -> tuple[str, int, int]:
    """Return (format, width, height) of a publishable JPEG or raise Meta's error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                found, width, height = image.format or "unknown", *image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
        raise _bad_format("unknown") from exc
    if found != "JPEG":  # MPO (multi-picture "extended" JPEG) is rejected as well
        raise _bad_format(found)
    if not MIN_ASPECT_RATIO <= width / height <= MAX_ASPECT_RATIO:
        raise _bad_ratio(width, height)
    return found, width, height


@functools.lru_cache(maxsize=256)
def avatar_png(ig_user_id: str) -> bytes:
    """Return a small PNG avatar whose colour is derived from the account id."""
    digest = hashlib.sha256(ig_user_id.encode()).digest()
    image = Image.new("RGB", (150, 150), (digest[0], digest[1], digest[2]))
    draw = ImageDraw.Draw(image)
    draw.ellipse((35, 35, 115, 115), fill=(digest[3], digest[4], digest[5]))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@functools.lru_cache(maxsize=64)
def sample_image(width: int, height: int, image_format: str = "JPEG") -> bytes:
    """Return a generated test image of the given size and Pillow format."""
    image = Image.new("RGB", (width, height), (220, 120, 60))
    ImageDraw.Draw(image).rectangle(
        (width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill=(40, 90, 160)
    )
    buffer = io.BytesIO()
    if image_format == "MPO":
        image.save(buffer, "MPO", save_all=True, append_images=[image.copy()])
    else:
        image.save(buffer, image_format)
    return buffer.getvalue()


# --------------------------------------------------------------------------- world


class _Ids:
    """Monotonic id sources; they never restart, so ids stay unique across resets."""

    def __init__(self) -> None:
        self._next = {
            "user": 10000000000101,
            "page": 200000000000101,
            "ig": 17841400000000101,
            "container": 17890000000000001,
            "media": 17920000000000001,
        }

    def take(self, kind: str) -> str:
        value = self._next[kind]
        self._next[kind] = value + 1
        return str(value)


class GraphWorld:
    """All simulator state (users, tokens, containers, media, faults, call log).

    Thread-safe: one re-entrant lock guards the state; network fetches and sleeps
    happen outside it.  Tests can drive it directly through its plain Python API.
    """

    def __init__(
        self,
        app_id: str = DEFAULT_APP_ID,
        app_secret: str = DEFAULT_APP_SECRET,
        **settings: Any,
    ) -> None:
        self.app_id = str(app_id)
        self.app_secret = app_secret
        self._defaults = Settings().updated(**settings)
        self._lock = threading.RLock()
        self._ids = _Ids()
        self.reset()

    # ----------------------------------------------------------- public Python API

    @property
    def settings(self) -> Settings:
        """The settings in force right now."""
        return self._settings

    @property
    def app_token(self) -> str:
        """The ``{app-id}|{app-secret}`` app token ``/debug_token`` accepts."""
        return f"{self.app_id}|{self.app_secret}"

    def configure(self, **settings: Any) -> None:
        """Change settings (see :class:`Settings`); a new ``seed`` reseeds faults."""
        with self._lock:
            self._settings = self._settings.updated(**settings)
            if "seed" in settings:
                self._rng = random.Random(self._settings.seed)

    def reset(self) -> None:
        """Return to the built-in users and this world's construction settings."""
        with self._lock:
            self._settings = self._defaults
            self._rng = random.Random(self._settings.seed)
            self._users: dict[str, _User] = {}
            self._pages: dict[str, _Page] = {}
            self._ig: dict[str, _IgAccount] = {}
            self._tokens: dict[str, _Token] = {}
            self._page_tokens: dict[tuple[str, str], str] = {}
            self._containers: dict[str, _Container] = {}
            self._media: dict[str, _Media] = {}
            self._faults: list[list[Any]] = []
            self._calls: list[dict[str, Any]] = []
            self._in_flight: list[str] = []
            for handle, name, pages in _BUILTIN_USERS:
                self._install_user(DEMO_USERS[handle], name, handle, pages)

    def add_user(self, name: str, pages: list[dict[str, Any]]) -> dict[str, Any]:
        """Create a Facebook user with Pages (optionally IG-linked); return its ids."""
        with self._lock:
            specs = []
            for page in pages:
                ig_username = page.get("ig_username")
                ig_id = self._ids.take("ig") if ig_username else None
                specs.append((self._ids.take("page"), page["name"], ig_id, ig_username))
            user_id = self._ids.take("user")
            self._install_user(user_id, name, None, specs)
            for spec, page in zip(specs, pages, strict=True):
                if page.get("tasks") is not None:
                    self._pages[spec[0]].tasks = tuple(page["tasks"])
            return self._user_summary(self._users[user_id])

    def users(self) -> list[dict[str, Any]]:
        """Return every user with their Pages and linked IG accounts."""
        with self._lock:
            return [self._user_summary(user) for user in self._users.values()]

    def issue_token(
        self,
        fb_user_id: str,
        app_id: str | None = None,
        expires_in: int | None = None,
        scopes: list[str] | None = None,
    ) -> dict[str, Any]:
        """Log a user in through the "JS SDK" and return an authResponse-like dict.

        ``fb_user_id`` may also be a DEMO_USERS handle.  ``app_id`` mints a token of
        another app; ``expires_in <= 0`` mints a token that is already expired.
        """
        with self._lock:
            user_id = self._resolve_user(fb_user_id)
            ttl = self._settings.short_token_ttl
            if expires_in is not None:
                ttl = int(expires_in)
            granted = tuple(scopes) if scopes is not None else DEFAULT_SCOPES
            token = self._mint(user_id, str(app_id or self.app_id), ttl, granted)
            return {
                "accessToken": token.value,
                "expiresIn": max(int(ttl), 0),
                "userID": user_id,
                "grantedScopes": ",".join(granted),
                "signedRequest": self._signed_request(token),
            }

    def invalidate_tokens(self, fb_user_id: str, subcode: int = 460) -> None:
        """Kill every token of a user (e.g. password change): 190/<subcode> from now."""
        with self._lock:
            user_id = self._resolve_user(fb_user_id)
            for token in self._tokens.values():
                if token.fb_user_id == user_id:
                    token.revoked_subcode = int(subcode)

    def add_fault(
        self, match: dict[str, Any], response: dict[str, Any], times: int | None = 1
    ) -> None:
        """Script a fault for calls matching ``match``; ``times=None`` means forever."""
        unknown = set(match) - _FAULT_MATCH_KEYS | set(response) - _FAULT_RESPONSE_KEYS
        if unknown:
            raise ValueError(f"unknown fault key(s): {', '.join(sorted(unknown))}")
        endpoint = match.get("endpoint", "*")
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {ENDPOINTS}")
        state = response.get("container_status")
        if state is not None and state not in _CONTAINER_FAULT_STATES:
            raise ValueError("container_status must be ERROR or EXPIRED")
        if times is not None and int(times) < 1:
            raise ValueError("times must be a positive number or None")
        with self._lock:
            self._faults.append([dict(match), dict(response), times])

    def published(self) -> list[dict[str, Any]]:
        """Return every live post created by ``media_publish``, oldest first."""
        with self._lock:
            return [self._published_record(media) for media in self._media.values()]

    def calls(self) -> list[dict[str, Any]]:
        """Return the log of every Graph call (control endpoints are not logged)."""
        with self._lock:
            return [dict(call) for call in self._calls]

    def containers(self) -> list[dict[str, Any]]:
        """Return every media container with its current ``status_code``."""
        with self._lock:
            now = time.time()
            return [
                self._container_record(item, now) for item in self._containers.values()
            ]

    def has_ig_account(self, ig_user_id: str) -> bool:
        """Tell whether an IG business account with this id exists."""
        with self._lock:
            return ig_user_id in self._ig

    # ----------------------------------------------------------- request handling

    def handle(self, req: GraphRequest) -> Reply:
        """Answer one Graph call like Meta: latency, faults, the real work, logging."""
        started = time.time()
        latency = self._settings.latency_ms / 1000.0
        if latency > 0:
            time.sleep(latency)
        route = self._route(req)
        with self._lock:
            self._in_flight.append(route.endpoint)
        try:
            fault = self._next_fault(req, route)
            reply = self._answer(req, route, fault)
        finally:
            with self._lock:
                if route.endpoint in self._in_flight:  # reset() may have cleared it
                    self._in_flight.remove(route.endpoint)
        self._log_call(req, route, reply, started)
        return reply

    def in_flight(self) -> list[str]:
        """Endpoints of the calls being answered right now (calls() logs replies)."""
        with self._lock:
            return list(self._in_flight)

    def _answer(self, req: GraphRequest, route: _Route, fault: _Fault | None) -> Reply:
        """Run the call, bent by ``fault`` (delay, error, lost response, state)."""
        if fault is None:
            return self._invoke(req, route)
        if fault.delay > 0 and not fault.after:
            time.sleep(fault.delay)
        if fault.container_status and route.container_id:
            self._force_container(route.container_id, fault)
        failure = fault.failure()
        if failure is not None and not fault.after:
            return failure
        reply = self._invoke(req, route)
        if (
            fault.container_status
            and route.endpoint == "create"
            and reply.status == 200
        ):
            self._force_container(reply.body["id"], fault)
        if fault.after and fault.delay > 0:
            time.sleep(fault.delay)
        final = failure or reply
        final.fault = fault.label
        return final

    def _invoke(self, req: GraphRequest, route: _Route) -> Reply:
        try:
            return Reply(200, route.handler(req, route))
        except GraphError as error:
            return _error_reply(error)

    def _next_fault(self, req: GraphRequest, route: _Route) -> _Fault | None:
        """Consume the first matching scripted fault, else maybe draw a random one."""
        with self._lock:
            token = self._tokens.get(req.token or "")
            facts = {
                "endpoint": route.endpoint,
                "ig_user_id": route.ig_user_id,
                "fb_user_id": token.fb_user_id if token else None,
                "container_id": route.container_id,
            }
            for entry in self._faults:
                match, response, times = entry
                if not self._fault_matches(match, facts):
                    continue
                if times is not None:
                    entry[2] = times - 1
                    if entry[2] <= 0:
                        self._faults.remove(entry)
                user = facts["fb_user_id"] or ""
                return _fault_from_response(response, user, self.app_id)
            settings = self._settings
            if settings.fail_rate > 0 and self._rng.random() < settings.fail_rate:
                kind = self._rng.choice(settings.fail_kinds)
                return _random_fault(kind, route.endpoint, settings)
        return None

    @staticmethod
    def _fault_matches(match: dict[str, Any], facts: dict[str, Any]) -> bool:
        for key, wanted in match.items():
            if key == "endpoint" and wanted == "*":
                continue
            if facts.get(key) != str(wanted):
                return False
        return True

    def _force_container(self, container_id: str, fault: _Fault) -> None:
        with self._lock:
            container = self._containers.get(container_id)
            if container is not None and container.media_id is None:
                container.forced_status = fault.container_status
                container.forced_detail = fault.container_detail

    def _log_call(
        self, req: GraphRequest, route: _Route, reply: Reply, started: float
    ) -> None:
        body = reply.body if isinstance(reply.body, dict) else {}
        container_id = route.container_id
        media_id = None
        if reply.status == 200 and route.endpoint == "create":
            container_id = body.get("id")
        if reply.status == 200 and route.endpoint in ("publish", "media"):
            media_id = body.get("id")
        with self._lock:
            token = self._tokens.get(req.token or "")
            self._calls.append(
                {
                    "t": _iso(started),
                    "method": req.method,
                    "endpoint": route.endpoint,
                    "path": req.path,
                    "ig_user_id": route.ig_user_id,
                    "container_id": container_id,
                    "media_id": media_id,
                    "fb_user_id": token.fb_user_id if token else None,
                    "status": reply.status,
                    "error_code": reply.error_code,
                    "fault": reply.fault,
                    "token_in_url": req.token_in_url,
                }
            )

    # ----------------------------------------------------------- routing

    def _route(self, req: GraphRequest) -> _Route:
        parts = [part for part in req.path.split("/") if part]
        if parts and _VERSION_RE.fullmatch(parts[0]):
            parts = parts[1:]
        fixed = {
            "oauth/access_token": ("exchange", self._exchange),
            "debug_token": ("debug_token", self._debug_token),
            "me": ("me", self._me),
            "me/accounts": ("accounts", self._accounts),
        }
        key = "/".join(parts)
        if key in fixed:
            endpoint, handler = fixed[key]
            return _Route(endpoint, handler, object_id=parts[0])
        if len(parts) == 1:
            return self._route_object(parts[0])
        if len(parts) == 2:
            return self._route_edge(req, parts[0], parts[1])
        return _Route("unknown", self._unknown_path, object_id=key)

    def _route_object(self, object_id: str) -> _Route:
        with self._lock:
            if object_id in self._ig:
                return _Route("ig_user", self._ig_user, object_id, ig_user_id=object_id)
            if object_id in self._containers:
                owner = self._containers[object_id].ig_user_id
                return _Route("status", self._status, object_id, owner, object_id)
            if object_id in self._media:
                owner = self._media[object_id].ig_user_id
                return _Route("media", self._media_object, object_id, owner)
            if object_id in self._pages:
                ig_user_id = self._pages[object_id].ig_user_id
                return _Route("page", self._page, object_id, ig_user_id)
            if object_id in self._users:
                return _Route("me", self._me, object_id)
        return _Route("unknown", self._unknown_path, object_id)

    def _route_edge(self, req: GraphRequest, object_id: str, edge: str) -> _Route:
        edges = {
            ("media", "POST"): ("create", self._create),
            ("media", "GET"): ("media_list", self._media_list),
            ("media_publish", "POST"): ("publish", self._publish),
            ("content_publishing_limit", "GET"): ("limit", self._limit),
        }
        found = edges.get((edge, req.method))
        if found is None:
            return _Route("unknown", self._unknown_path, f"{object_id}/{edge}")
        endpoint, handler = found
        container_id = req.params.get("creation_id") if endpoint == "publish" else None
        return _Route(endpoint, handler, object_id, object_id, container_id)

    # ----------------------------------------------------------- auth

    def _auth(self, req: GraphRequest, *, about_me: bool = False) -> _Token:
        """Return the caller's live token or raise Meta's error for it (lock held)."""
        if not req.token:
            if about_me:
                raise GraphError(
                    2500,
                    "An active access token must be used to query information about "
                    "the current user.",
                )
            raise GraphError(
                104, "An access token is required to request this resource."
            )
        token = self._tokens.get(req.token)
        if token is None:
            raise _bad_token_error()
        self._check_proof(req, token)
        problem = self._token_problem(token, time.time())
        if problem is not None:
            raise problem
        return token

    def _check_proof(self, req: GraphRequest, token: _Token) -> None:
        proof = req.params.get("appsecret_proof")
        if proof is None:
            if self._settings.require_appsecret_proof:
                raise GraphError(
                    100,
                    "API calls from the server require an appsecret_proof argument",
                    kind="GraphMethodException",
                )
            return
        expected = appsecret_proof(token.value, self._secret_for(token.app_id))
        if not hmac.compare_digest(proof, expected):
            raise GraphError(
                100,
                "Invalid appsecret_proof provided in the API argument",
                kind="GraphMethodException",
            )

    def _secret_for(self, app_id: str) -> str:
        # Tokens of other apps are signed with that app's (unknown to us) secret.
        return self.app_secret if app_id == self.app_id else f"secret-of-{app_id}"

    def _token_problem(self, token: _Token, now: float) -> GraphError | None:
        if token.revoked_subcode is not None:
            return _session_error(token.revoked_subcode, token.fb_user_id, token.app_id)
        if token.expires_at and token.expires_at <= now:
            return _expired_error(token.expires_at, now)
        return None

    def _mint(
        self,
        fb_user_id: str,
        app_id: str,
        ttl: float | None,
        scopes: tuple[str, ...],
        *,
        kind: str = "USER",
        page_id: str | None = None,
    ) -> _Token:
        now = time.time()
        if ttl is None:
            expires_at = 0.0
        else:
            expires_at = now + (ttl if ttl > 0 else min(ttl, -1))
        value = "EAA" + secrets.token_hex(4) + "ZD" + secrets.token_hex(44)
        token = _Token(
            value, fb_user_id, app_id, now, expires_at, scopes, kind, page_id
        )
        self._tokens[value] = token
        return token

    def _signed_request(self, token: _Token) -> str:
        payload = {
            "algorithm": "HMAC-SHA256",
            "code": secrets.token_urlsafe(32),
            "issued_at": int(token.issued_at),
            "user_id": token.fb_user_id,
        }
        encoded = _b64url(json.dumps(payload, separators=(",", ":")).encode())
        key = self._secret_for(token.app_id).encode()
        signature = hmac.new(key, encoded.encode(), hashlib.sha256).digest()
        return f"{_b64url(signature)}.{encoded}"

    def _page_token(self, user_token: _Token, page: _Page) -> str:
        """Mint (once) the Page token ``/me/accounts`` hands out with a user token."""
        key = (user_token.value, page.id)
        if key not in self._page_tokens:
            # Meta: no expiry when derived from a long-lived user token, else 1 hour.
            ttl = None
            if not self._is_long(user_token):
                ttl = max(user_token.expires_at - time.time(), 1)
            token = self._mint(
                user_token.fb_user_id,
                user_token.app_id,
                ttl,
                user_token.scopes,
                kind="PAGE",
                page_id=page.id,
            )
            self._page_tokens[key] = token.value
        return self._page_tokens[key]

    def _is_long(self, token: _Token) -> bool:
        return token.expires_at - token.issued_at > self._settings.short_token_ttl

    # ----------------------------------------------------------- users and pages

    def _resolve_user(self, ref: str) -> str:
        ref = str(ref)
        if ref in self._users:
            return ref
        if ref in DEMO_USERS and DEMO_USERS[ref] in self._users:
            return DEMO_USERS[ref]
        raise LookupError(f"unknown Facebook user {ref!r}")

    def _install_user(self, user_id: str, name: str, handle: str | None, pages) -> None:
        user = _User(user_id, name, handle)
        for page_id, page_name, ig_id, ig_username in pages:
            self._pages[page_id] = _Page(page_id, page_name, user_id, ig_id)
            if ig_id:
                self._ig[ig_id] = _IgAccount(ig_id, ig_username, page_name, page_id)
            user.page_ids.append(page_id)
        self._users[user_id] = user

    def _user_summary(self, user: _User) -> dict[str, Any]:
        pages = []
        for page_id in user.page_ids:
            page = self._pages[page_id]
            ig = self._ig.get(page.ig_user_id or "")
            pages.append(
                {
                    "id": page.id,
                    "name": page.name,
                    "ig_user_id": page.ig_user_id,
                    "ig_username": ig.username if ig else None,
                }
            )
        return {"fb_user_id": user.id, "name": user.name, "pages": pages}

    def _manages(self, fb_user_id: str, ig_user_id: str) -> bool:
        account = self._ig.get(ig_user_id)
        if account is None:
            return False
        page = self._pages[account.page_id]
        can_post = {"MANAGE", "CREATE_CONTENT"} & set(page.tasks)
        return page.owner_id == fb_user_id and bool(can_post)

    def _managed_ig(self, token: _Token, ig_user_id: str, method: str) -> _IgAccount:
        """Return the IG account if the token's user manages it, else Meta's error."""
        account = self._ig.get(ig_user_id)
        if account is None:
            raise _unsupported(method, ig_user_id)
        if not self._manages(token.fb_user_id, ig_user_id):
            if method == "GET":
                raise _unsupported(method, ig_user_id)
            raise _no_permission()
        return account

    @staticmethod
    def _require_scope(token: _Token, scope: str) -> None:
        if scope not in token.scopes:
            raise _no_permission()

    def _ig_values(self, account: _IgAccount, base_url: str) -> _Node:
        def media_count() -> int:  # computed only when the field is asked for
            return sum(1 for m in self._media.values() if m.ig_user_id == account.id)

        return _Node(
            id=account.id,
            username=account.username,
            name=account.name,
            profile_picture_url=f"{base_url}_sim/avatar/{account.id}.png",
            followers_count=1000 + int(account.id) % 9000,
            follows_count=100 + int(account.id) % 400,
            media_count=media_count,
            biography="",
            website="",
        )

    def _page_values(self, page: _Page, token: _Token, base_url: str) -> _Node:
        values = _Node(
            id=page.id,
            name=page.name,
            category="Brand",
            tasks=list(page.tasks),
            access_token=lambda: self._page_token(token, page),
        )
        if page.ig_user_id:
            account = self._ig[page.ig_user_id]
            values["instagram_business_account"] = self._ig_values(account, base_url)
        return values

    def _paginate(self, req: GraphRequest, items: list[dict[str, Any]]):
        """Page a result list with Meta's ``limit``/``after`` cursors and ``paging``."""
        try:
            limit = min(max(int(req.params.get("limit", PAGE_SIZE)), 1), 100)
        except ValueError:
            limit = PAGE_SIZE
        cursors = [_cursor(item["id"]) for item in items]
        after = req.params.get("after")
        start = cursors.index(after) + 1 if after in cursors else 0
        chunk = items[start : start + limit]
        if not chunk:
            return {"data": []}
        paging: dict[str, Any] = {
            "cursors": {
                "before": cursors[start],
                "after": cursors[start + len(chunk) - 1],
            }
        }
        if start + limit < len(items):
            query = {k: v for k, v in req.params.items() if k not in _URL_SECRETS}
            if req.token_in_url and req.token:
                query["access_token"] = req.token
            query.update(limit=str(limit), after=paging["cursors"]["after"])
            path = req.path.lstrip("/")
            paging["next"] = f"{req.base_url}{path}?{urlencode(query)}"
        return {"data": chunk, "paging": paging}

    # ----------------------------------------------------------- token endpoints

    def _exchange(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``/oauth/access_token``: fb_exchange_token (and client_credentials)."""
        params = req.params
        if not params.get("client_id"):
            raise GraphError(101, "Missing client_id parameter.")
        if params["client_id"] != self.app_id:
            raise GraphError(
                101, "Error validating application. Invalid application ID."
            )
        if params.get("client_secret") != self.app_secret:
            raise GraphError(1, "Error validating client secret.")
        grant_type = params.get("grant_type")
        if grant_type == "client_credentials":
            return {"access_token": self.app_token, "token_type": "bearer"}
        if grant_type != "fb_exchange_token":
            raise GraphError(100, f"(#100) Unsupported grant_type: {grant_type}")
        if not params.get("fb_exchange_token"):
            raise _missing_param("fb_exchange_token")
        with self._lock:
            return self._exchange_token(params["fb_exchange_token"])

    def _exchange_token(self, value: str) -> dict[str, Any]:
        token = self._tokens.get(value)
        if token is None:
            raise _bad_token_error()
        if token.app_id != self.app_id:
            raise GraphError(
                190,
                "Error validating access token: The access token does not belong to "
                f"application {self.app_id}",
            )
        problem = self._token_problem(token, time.time())
        if problem is not None:
            raise problem
        ttl = self._settings.long_token_ttl
        fresh = self._mint(token.fb_user_id, token.app_id, ttl, token.scopes)
        return {"access_token": fresh.value, "token_type": "bearer", "expires_in": ttl}

    def _debug_token(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``/debug_token``: inspect ``input_token`` with the app token."""
        with self._lock:
            self._check_app_token(req.token)
            value = req.params.get("input_token")
            if not value:
                raise GraphError(100, "(#100) The parameter input_token is required")
            token = self._tokens.get(value)
            if token is None:
                error = {"code": 190, "message": _CODE_MESSAGES[190]}
                return {"data": {"error": error, "is_valid": False, "scopes": []}}
            if token.app_id != self.app_id:
                raise GraphError(
                    100,
                    "(#100) The App_id in the input_token did not match the Viewing "
                    "App",
                )
            return {"data": self._token_data(token)}

    def _check_app_token(self, value: str | None) -> None:
        if not value:
            raise GraphError(
                104, "An access token is required to request this resource."
            )
        if "|" not in value:
            raise GraphError(
                100,
                "(#100) You must provide an app access token, or a user access token "
                "that is an owner or developer of the app",
            )
        if value != self.app_token:
            raise GraphError(190, "Invalid OAuth access token signature.")

    def _token_data(self, token: _Token) -> dict[str, Any]:
        data: dict[str, Any] = {
            "app_id": token.app_id,
            "type": token.kind,
            "application": APP_NAME,
            "data_access_expires_at": int(token.issued_at + DATA_ACCESS_SECONDS),
            "expires_at": int(token.expires_at),
            "is_valid": True,
            "issued_at": int(token.issued_at),
            "scopes": list(token.scopes),
            "granular_scopes": self._granular_scopes(token),
            "user_id": token.fb_user_id,
        }
        if token.page_id:
            data["profile_id"] = token.page_id
        problem = self._token_problem(token, time.time())
        if problem is not None:
            data["is_valid"] = False
            data["error"] = {
                "code": problem.code,
                "message": problem.message,
                "subcode": problem.subcode,
            }
        return data

    def _granular_scopes(self, token: _Token) -> list[dict[str, Any]]:
        user = self._users.get(token.fb_user_id)
        page_ids = list(user.page_ids) if user else []
        ig_ids = [
            self._pages[p].ig_user_id for p in page_ids if self._pages[p].ig_user_id
        ]
        targets = {
            "pages_show_list": page_ids,
            "pages_read_engagement": page_ids,
            "instagram_basic": ig_ids,
            "instagram_content_publish": ig_ids,
        }
        granular = []
        for scope in token.scopes:
            entry: dict[str, Any] = {"scope": scope}
            if scope in targets:
                entry["target_ids"] = targets[scope]
            granular.append(entry)
        return granular

    # ----------------------------------------------------------- user, pages, IG

    def _me(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``/me`` (or ``/{user-id}`` of the caller): the Facebook user."""
        if req.method != "GET":
            raise _unsupported(req.method, route.object_id or "me")
        with self._lock:
            token = self._auth(req, about_me=True)
            if route.object_id not in ("me", token.fb_user_id):
                raise _unsupported(req.method, route.object_id or "")
            user = self._users[token.fb_user_id]
            values = {"id": user.id, "name": user.name}
            return _select(values, req.params.get("fields"), ("name", "id"))

    def _accounts(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``/me/accounts``: the caller's Pages (IG account only when linked)."""
        if req.method != "GET":
            raise _unsupported(req.method, "me")
        with self._lock:
            token = self._auth(req, about_me=True)
            user = self._users[token.fb_user_id]
            shown = user.page_ids if "pages_show_list" in token.scopes else []
            spec = req.params.get("fields")
            default = ("access_token", "category", "name", "id", "tasks")
            items = [
                _select(
                    self._page_values(self._pages[pid], token, req.base_url),
                    spec,
                    default,
                )
                for pid in shown
            ]
            return self._paginate(req, items)

    def _page(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``/{page-id}``: a Page the caller manages."""
        with self._lock:
            token = self._auth(req)
            page = self._pages[route.object_id or ""]
            if page.owner_id != token.fb_user_id or req.method != "GET":
                raise _unsupported(req.method, page.id)
            values = self._page_values(page, token, req.base_url)
            return _select(values, req.params.get("fields"), ("name", "id"))

    def _ig_user(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``/{ig-user-id}``: the IG business account profile."""
        with self._lock:
            token = self._auth(req)
            account = self._managed_ig(token, route.object_id or "", "GET")
            if req.method != "GET":
                raise _unsupported(req.method, account.id)
            self._require_scope(token, "instagram_basic")
            values = self._ig_values(account, req.base_url)
            return _select(values, req.params.get("fields"), ("id",))

    # ----------------------------------------------------------- publishing

    def _create(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``POST /{ig-user-id}/media``: crawl the image and make a container."""
        ig_user_id = route.ig_user_id or ""
        with self._lock:
            token = self._auth(req)
            self._managed_ig(token, ig_user_id, "POST")
            self._require_scope(token, "instagram_content_publish")
            timeout = self._settings.crawler_timeout
        image_url, caption, alt_text = _create_params(req.params)
        data = _crawl(image_url, timeout)  # outside the lock: may hit this server
        image_format, width, height = _inspect_image(data)
        with self._lock:
            container = _Container(
                id=self._ids.take("container"),
                ig_user_id=ig_user_id,
                fb_user_id=token.fb_user_id,
                image_url=image_url,
                caption=caption,
                alt_text=alt_text,
                image_sha256=hashlib.sha256(data).hexdigest(),
                width=width,
                height=height,
                size=len(data),
                image_format=image_format,
                created_at=time.time(),
            )
            self._containers[container.id] = container
        return {"id": container.id}

    def _container_status(self, container: _Container, now: float) -> str:
        if container.media_id is not None:
            return "PUBLISHED"
        if container.forced_status:
            return container.forced_status
        age = now - container.created_at
        if age >= self._settings.container_ttl:
            return "EXPIRED"
        if age >= self._settings.container_ready_after:
            return "FINISHED"
        return "IN_PROGRESS"

    def _status_text(self, container: _Container, status_code: str) -> str:
        if status_code == container.forced_status and container.forced_detail:
            return container.forced_detail
        return _STATUS_TEXT[status_code]

    def _status(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``GET /{container-id}``: IN_PROGRESS, FINISHED, PUBLISHED, EXPIRED, ERROR."""
        with self._lock:
            token = self._auth(req)
            container = self._containers[route.container_id or ""]
            if req.method != "GET" or not self._manages(
                token.fb_user_id, container.ig_user_id
            ):
                raise _unsupported(req.method, container.id)
            code = self._container_status(container, time.time())
            values = {
                "id": container.id,
                "status_code": code,
                "status": self._status_text(container, code),
            }
            return _select(values, req.params.get("fields"), ("id",))

    def _publish(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``POST /{ig-user-id}/media_publish``: make a FINISHED container a post."""
        ig_user_id = route.ig_user_id or ""
        with self._lock:
            token = self._auth(req)
            self._managed_ig(token, ig_user_id, "POST")
            self._require_scope(token, "instagram_content_publish")
            creation_id = req.params.get("creation_id")
            if not creation_id:
                raise _missing_param("creation_id")
            container = self._containers.get(creation_id)
            if container is None or container.ig_user_id != ig_user_id:
                raise _media_not_found(creation_id)
            now = time.time()
            self._check_publishable(container, now)
            self._check_quota(ig_user_id, now)
            media = self._make_media(container, now)
            return {"id": media.id}

    def _check_publishable(self, container: _Container, now: float) -> None:
        status_code = self._container_status(container, now)
        if status_code == "PUBLISHED":
            raise _media_not_found(container.id, "has already been published")
        if status_code == "EXPIRED":
            raise _media_expired()
        if status_code == "ERROR":
            raise _creation_failed()
        if status_code != "FINISHED":
            raise _not_ready()

    def _quota_usage(self, ig_user_id: str, since: float) -> int:
        return sum(
            1
            for media in self._media.values()
            if media.ig_user_id == ig_user_id and media.published_at > since
        )

    def _check_quota(self, ig_user_id: str, now: float) -> None:
        total = self._settings.quota_total
        window_start = now - self._settings.quota_duration
        if self._quota_usage(ig_user_id, window_start) >= total:
            raise _quota_reached(total)

    def _make_media(self, container: _Container, now: float) -> _Media:
        media_id = self._ids.take("media")
        media = _Media(
            id=media_id,
            ig_user_id=container.ig_user_id,
            container_id=container.id,
            caption=container.caption,
            alt_text=container.alt_text,
            image_url=container.image_url,
            image_sha256=container.image_sha256,
            width=container.width,
            height=container.height,
            image_format=container.image_format,
            published_at=now,
            shortcode=_shortcode(media_id),
        )
        container.media_id = media_id
        self._media[media_id] = media
        logger.info("published media %s on IG account %s", media_id, media.ig_user_id)
        return media

    def _limit(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
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
                "data": [_select(values, req.params.get("fields"), ("quota_usage",))]
            }

    def _media_values(self, media: _Media) -> dict[str, Any]:
        values: dict[str, Any] = {
            "id": media.id,
            "media_type": "IMAGE",
            "media_product_type": "FEED",
            "media_url": media.image_url,
            "permalink": f"https://www.instagram.com/p/{media.shortcode}/",
            "shortcode": media.shortcode,
            "timestamp": _ig_timestamp(media.published_at),
            "username": self._ig[media.ig_user_id].username,
            "owner": _Node(id=media.ig_user_id),
            "like_count": 0,
            "comments_count": 0,
            "is_comment_enabled": True,
        }
        if media.caption:
            values["caption"] = media.caption
        if media.alt_text:
            values["alt_text"] = media.alt_text
        return values

    def _media_list(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``GET /{ig-user-id}/media``: the account's posts, newest first."""
        with self._lock:
            token = self._auth(req)
            account = self._managed_ig(token, route.ig_user_id or "", "GET")
            spec = req.params.get("fields")
            posts = [m for m in self._media.values() if m.ig_user_id == account.id]
            items = [_select(self._media_values(m), spec, ("id",)) for m in posts[::-1]]
            return self._paginate(req, items)

    def _media_object(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``GET /{ig-media-id}``: one published post."""
        with self._lock:
            token = self._auth(req)
            media = self._media[route.object_id or ""]
            if req.method != "GET" or not self._manages(
                token.fb_user_id, media.ig_user_id
            ):
                raise _unsupported(req.method, media.id)
            return _select(self._media_values(media), req.params.get("fields"), ("id",))

    def _node_type(self, object_id: str) -> str | None:
        """Meta's node type name for an id, or None when no such object exists."""
        kinds = (
            (self._ig, "IGUser"),
            (self._containers, "ShadowIGMediaBuilder"),
            (self._media, "IGMedia"),
            (self._pages, "Page"),
            (self._users, "User"),
        )
        if object_id == "me":
            return "User"
        return next((name for table, name in kinds if object_id in table), None)

    def _unknown_path(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """Answer a path the simulator does not serve the way Graph does."""
        parts = (route.object_id or "").split("/")
        with self._lock:
            self._auth(req)
            node_type = self._node_type(parts[0])
        if node_type is None:
            raise _unsupported(req.method, parts[0])
        if len(parts) == 2:
            raise GraphError(
                100,
                f"(#100) Tried accessing nonexisting field ({parts[1]}) on node type "
                f"({node_type})",
            )
        raise GraphError(2500, f"Unknown path components: /{'/'.join(parts[1:])}")

    # ----------------------------------------------------------- records

    @staticmethod
    def _published_record(media: _Media) -> dict[str, Any]:
        return {
            "media_id": media.id,
            "ig_user_id": media.ig_user_id,
            "container_id": media.container_id,
            "caption": media.caption,
            "alt_text": media.alt_text,
            "image_sha256": media.image_sha256,
            "width": media.width,
            "height": media.height,
            "format": media.image_format,
            "published_at": _iso(media.published_at),
        }

    def _container_record(self, container: _Container, now: float) -> dict[str, Any]:
        status_code = self._container_status(container, now)
        return {
            "id": container.id,
            "ig_user_id": container.ig_user_id,
            "fb_user_id": container.fb_user_id,
            "image_url": container.image_url,
            "caption": container.caption,
            "alt_text": container.alt_text,
            "image_sha256": container.image_sha256,
            "width": container.width,
            "height": container.height,
            "size": container.size,
            "format": container.image_format,
            "created_at": _iso(container.created_at),
            "status_code": status_code,
            "status": self._status_text(container, status_code),
            "media_id": container.media_id,
        }


# --------------------------------------------------------------------------- Flask


def _graph_world() -> GraphWorld:
    return current_app.extensions["graph_world"]


def _request_params(req: WerkzeugRequest) -> dict[str, str]:
    """Merge query string, form body and JSON body parameters (body wins)."""
    params = req.args.to_dict()
    params.update(req.form.to_dict())
    payload = req.get_json(silent=True) if req.is_json else None
    if isinstance(payload, dict):
        for key, value in payload.items():
            if isinstance(value, bool):
                params[key] = "true" if value else "false"
            elif isinstance(value, dict | list):
                params[key] = json.dumps(value)
            elif value is not None:
                params[key] = str(value)
    return params


def _request_token(req: WerkzeugRequest, params: dict[str, str]) -> str | None:
    """Return the access token from ``Authorization`` (Bearer/OAuth) or parameters."""
    scheme, _, value = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return params.get("access_token") or None


def _graph_response(world: GraphWorld, req: WerkzeugRequest) -> WerkzeugResponse:
    """Answer any Graph API path (versioned or not) through the world."""
    params = _request_params(req)
    graph_request = GraphRequest(
        method=req.method,
        path=req.path,
        params=params,
        token=_request_token(req, params),
        token_in_url=any(name in req.args for name in _URL_SECRETS),
        base_url=req.host_url,
    )
    reply = world.handle(graph_request)
    if isinstance(reply.body, str):
        response = WerkzeugResponse(reply.body, reply.status, mimetype="text/plain")
    else:
        body = json.dumps(reply.body, separators=(",", ":"))
        response = WerkzeugResponse(body, reply.status, mimetype="application/json")
    response.headers.update(reply.headers)
    return response


class _GraphFrontend:
    """Graph API paths go straight to the world; /_sim/ goes through Flask.

    Flask's dispatch (contexts, routing, hooks) cost more CPU per Graph call
    than the world's own work, and a burst test runs thousands of calls on the
    same cores as the app under test.
    """

    def __init__(self, flask_wsgi, world: GraphWorld) -> None:
        self.flask_wsgi = flask_wsgi
        self.world = world

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/_sim/"):
            return self.flask_wsgi(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "POST", "DELETE"):
            response = WerkzeugResponse("Method not allowed", 405)
        else:
            response = _graph_response(self.world, WerkzeugRequest(environ))
        return response(environ, start_response)


control = Blueprint("sim_control", __name__, url_prefix="/_sim")


def _payload() -> dict[str, Any]:
    payload = request.get_json(silent=True)
    return payload if isinstance(payload, dict) else {}


@control.errorhandler(LookupError)
def _control_not_found(error: LookupError):
    return jsonify(error=str(error).strip("'\"")), 404


@control.errorhandler(ValueError)
@control.errorhandler(TypeError)
def _control_bad_request(error: Exception):
    return jsonify(error=str(error)), 400


@control.post("/token")
def control_token():
    """Log a fake user in (what the JS SDK would do) and return the authResponse."""
    payload = _payload()
    if "fb_user_id" not in payload:
        raise ValueError("fb_user_id is required")
    return jsonify(
        _graph_world().issue_token(
            payload["fb_user_id"],
            app_id=payload.get("app_id"),
            expires_in=payload.get("expires_in"),
            scopes=payload.get("scopes"),
        )
    )


@control.post("/users")
def control_add_user():
    """Create a fake Facebook user with Pages and IG accounts."""
    payload = _payload()
    if not payload.get("name"):
        raise ValueError("name is required")
    return jsonify(_graph_world().add_user(payload["name"], payload.get("pages", [])))


@control.get("/users")
def control_users():
    """List the fake users with their Pages and IG accounts."""
    return jsonify(_graph_world().users())


@control.get("/settings")
def control_settings():
    """Show the settings in force."""
    return jsonify(_graph_world().settings.as_dict())


@control.post("/settings")
def control_configure():
    """Change settings; answers with the settings in force afterwards."""
    world = _graph_world()
    world.configure(**_payload())
    return jsonify(world.settings.as_dict())


@control.post("/faults")
def control_add_fault():
    """Script a fault (``match``, ``response``, ``times``)."""
    payload = _payload()
    times = payload.get("times", 1)
    _graph_world().add_fault(
        payload.get("match", {}), payload.get("response", {}), times
    )
    return jsonify(ok=True)


@control.post("/invalidate")
def control_invalidate():
    """Invalidate every token of a user (190 with the given subcode afterwards)."""
    payload = _payload()
    if "fb_user_id" not in payload:
        raise ValueError("fb_user_id is required")
    _graph_world().invalidate_tokens(payload["fb_user_id"], payload.get("subcode", 460))
    return jsonify(ok=True)


@control.post("/reset")
def control_reset():
    """Reset the world to its built-in users and settings."""
    _graph_world().reset()
    return jsonify(ok=True)


@control.get("/published")
def control_published():
    """List every post media_publish created."""
    return jsonify(_graph_world().published())


@control.get("/calls")
def control_calls():
    """List every Graph call the simulator answered."""
    return jsonify(_graph_world().calls())


@control.get("/containers")
def control_containers():
    """List every media container with its current status."""
    return jsonify(_graph_world().containers())


@control.get("/avatar/<ig_user_id>.png")
def control_avatar(ig_user_id: str):
    """Serve the generated profile picture of an IG account."""
    if not _graph_world().has_ig_account(ig_user_id):
        return jsonify(error=f"unknown IG account {ig_user_id}"), 404
    return Response(avatar_png(ig_user_id), mimetype="image/png")


@control.get("/image/<int:width>x<int:height>.<ext>")
def control_image(width: int, height: int, ext: str):
    """Serve a generated image (jpg, png or mpo) for demos and crawler tests."""
    formats = {"jpg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png")}
    formats["mpo"] = ("MPO", "image/jpeg")
    if ext not in formats or not (0 < width <= 4000 and 0 < height <= 4000):
        return jsonify(error="use /_sim/image/<w>x<h>.jpg|png|mpo up to 4000 px"), 404
    image_format, mimetype = formats[ext]
    return Response(sample_image(width, height, image_format), mimetype=mimetype)


def create_simulator(world: GraphWorld | None = None) -> Flask:
    """Build the simulator WSGI app; its world is ``app.extensions["graph_world"]``."""
    app = Flask(__name__)
    app.json.sort_keys = False
    world = world if world is not None else GraphWorld()
    app.extensions["graph_world"] = world
    app.register_blueprint(control)
    app.wsgi_app = _GraphFrontend(app.wsgi_app, world)
    return app


# --------------------------------------------------------------------------- server


class _QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug handler that logs requests at DEBUG instead of on stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s -> %s", self.command, self.path, code)


class SimulatorServer:
    """The simulator as a real threaded HTTP server in a daemon thread.

    Use ``with SimulatorServer() as sim:`` or ``start()``/``stop()``; point the app's
    ``FB_ENDPOINT`` at ``sim.graph_url``.
    """

    def __init__(
        self, world: GraphWorld | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.world = world if world is not None else GraphWorld()
        self.host = host
        self.port = port
        self.app = create_simulator(self.world)
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:5001``."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    @property
    def graph_url(self) -> str:
        """Versioned Graph base URL with a trailing slash (the app's FB_ENDPOINT)."""
        return f"{self.url}/{DEFAULT_API_VERSION}/"

    def start(self) -> Self:
        """Start serving (port 0 picks a free port); returns self."""
        if self._server is not None:
            return self
        self._server = make_server(
            self.host,
            self.port,
            self.app,
            threaded=True,
            request_handler=_QuietRequestHandler,
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="graph-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (requests still sleeping are abandoned)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- CLI


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m simulator", description="Instagram Graph API simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--app-id", default=DEFAULT_APP_ID)
    parser.add_argument("--app-secret", default=DEFAULT_APP_SECRET)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--ready-after", type=float, default=2.0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--quota-total", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until SIGTERM/SIGINT."""
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    world = GraphWorld(
        args.app_id,
        args.app_secret,
        latency_ms=args.latency_ms,
        container_ready_after=args.ready_after,
        fail_rate=args.fail_rate,
        quota_total=args.quota_total,
        seed=args.seed,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with SimulatorServer(world, args.host, args.port) as server:
        logger.info(
            "Graph API simulator listening on %s (FB_ENDPOINT %s, app id %s)",
            server.url,
            server.graph_url,
            world.app_id,
        )
        while not stop.wait(0.5):
            pass
    logger.info("Graph API simulator stopped")
    return 0
