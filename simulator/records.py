"""The simulated world's records, one Graph call and its reply, and faults.

Users, Pages, IG accounts, tokens, containers and media are plain dataclasses;
a fault bends one call (delay, error, lost response, container state).
"""

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import TYPE_CHECKING
from typing import Any

from simulator.constants import PAGE_TASKS
from simulator.errors import CODE_MESSAGES
from simulator.errors import TRANSIENT_CODES
from simulator.errors import GraphError
from simulator.errors import error_for_code
from simulator.errors import not_ready

if TYPE_CHECKING:  # settings.py imports this module's fault table
    from simulator.settings import Settings
    from simulator.video import VideoPart


@dataclass
class User:
    id: str
    name: str
    handle: str | None
    page_ids: list[str] = field(default_factory=list)


@dataclass
class Page:
    id: str
    name: str
    owner_id: str
    ig_user_id: str | None
    tasks: tuple[str, ...] = PAGE_TASKS
    # Other people's roles on the Page (and the creator's, once changed):
    # Facebook user id -> their tasks; () means the role was taken away.
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class IgAccount:
    id: str
    username: str
    name: str
    page_id: str


@dataclass
class Token:
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
class Container:
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
    # IMAGE (a post or a carousel item) or CAROUSEL (the parent).
    media_type: str = "IMAGE"
    is_carousel_item: bool = False
    children: list[str] = field(default_factory=list)
    user_tags: list[dict[str, Any]] = field(default_factory=list)
    collaborators: list[str] = field(default_factory=list)
    # Seconds until Meta has processed it (carousel items differ).
    ready_after: float | None = None
    product: str = "FEED"  # media_product_type once published: FEED, REELS, STORY
    video: "VideoPart | None" = None


@dataclass
class Media:
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
    media_type: str = "IMAGE"  # IMAGE, VIDEO or CAROUSEL_ALBUM
    product_type: str = "FEED"  # FEED or REELS
    # Part of the account's history before the simulation started (not made
    # through media_publish, so not in ``published()``).
    existing: bool = False
    # A carousel's items in order: container id, image and tags of each.
    children: list[dict[str, Any]] = field(default_factory=list)
    user_tags: list[dict[str, Any]] = field(default_factory=list)
    collaborators: list[str] = field(default_factory=list)
    video: "VideoPart | None" = None  # a Reel's or Story's video, as Meta saw it


@dataclass
class Comment:
    id: str
    media_id: str
    ig_user_id: str
    username: str
    text: str
    created_at: float


class Node(dict):
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
class Route:
    endpoint: str
    handler: Callable[[GraphRequest, "Route"], dict[str, Any]]
    object_id: str | None = None
    ig_user_id: str | None = None
    container_id: str | None = None


@dataclass
class Fault:
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
            return error_reply(self.error, fault=self.label)
        if self.plain_status is not None:
            return _plain_reply(self.plain_status, self.label)
        return None


def error_reply(error: GraphError, fault: str | None = None) -> Reply:
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


FAULT_MATCH_KEYS = frozenset(
    {"endpoint", "ig_user_id", "fb_user_id", "container_id", "media_type"}
)
FAULT_RESPONSE_KEYS = frozenset(
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
CONTAINER_FAULT_STATES = ("ERROR", "EXPIRED")


def fault_from_response(response: dict[str, Any], user: str, app: str) -> Fault:
    """Turn a scripted ``add_fault`` response into the fault to apply."""
    fault = Fault(
        label="scripted",
        delay=float(response.get("delay", 0.0)),
        after=bool(response.get("after", False)),
        container_status=response.get("container_status"),
        container_detail=response.get("status"),
    )
    if "code" in response:
        code = int(response["code"])
        fault.error = error_for_code(code, response, user, app)
    elif "http" in response:
        fault.plain_status = int(response["http"])
    return fault


def _random_error(code: int, http: int = 400) -> GraphError:
    return GraphError(
        code, CODE_MESSAGES[code], http=http, transient=code in TRANSIENT_CODES
    )


RANDOM_FAULTS: dict[str, Callable[[], GraphError] | None] = {
    "http500": None,
    "timeout": None,
    "not_ready": not_ready,
    "code1": lambda: _random_error(1, 500),
    "code2": lambda: _random_error(2, 500),
    "code4": lambda: _random_error(4),
    "code17": lambda: _random_error(17),
    "code32": lambda: _random_error(32),
    "code341": lambda: _random_error(341),
    "code613": lambda: _random_error(613),
    "code80002": lambda: _random_error(80002),
}


def random_fault(kind: str, endpoint: str, settings: "Settings") -> Fault:
    """Build the fault for one random ``fail_kinds`` draw on ``endpoint``."""
    if kind == "timeout":
        # A publish or comment that times out really happened: only the
        # response is lost.
        after = endpoint in ("publish", "comment")
        return Fault(label=kind, delay=settings.timeout_delay, after=after)
    if kind == "not_ready" and endpoint != "publish":
        kind = "http500"
    factory = RANDOM_FAULTS[kind]
    if factory is None:
        return Fault(label=kind, plain_status=500)
    return Fault(label=kind, error=factory())
