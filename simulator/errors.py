"""Meta's errors, exactly as Meta sends them.

:class:`GraphError` renders the ``{"error": {...}}`` envelope; the builders below
make each error the simulator answers with, including the ones faults ask for.
"""

import secrets
import time
from datetime import UTC
from datetime import datetime
from typing import Any

from simulator.constants import CAPTION_MAX_CHARS
from simulator.constants import CAPTION_MAX_HASHTAGS
from simulator.constants import CAPTION_MAX_MENTIONS
from simulator.constants import CAROUSEL_MAX_ITEMS
from simulator.constants import CAROUSEL_MIN_ITEMS
from simulator.constants import COLLABORATORS_MAX
from simulator.constants import GRAPH_DOCS


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
CODE_MESSAGES = {
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
    110: "Invalid user id",
    9007: "Media ID is not available",
    80002: "There have been too many calls to this Instagram account. Wait a bit and "
    "try again.",
}
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80002})


def _format_fb_time(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%A, %d-%b-%y %H:%M:%S UTC")


def bad_token_error() -> GraphError:
    return GraphError(190, CODE_MESSAGES[190])


def expired_error(expires_at: float, now: float) -> GraphError:
    message = (
        "Error validating access token: Session has expired on "
        f"{_format_fb_time(expires_at)}. The current time is {_format_fb_time(now)}."
    )
    return GraphError(190, message, subcode=463)


def session_error(subcode: int, user: str, app: str) -> GraphError:
    template = _SESSION_MESSAGES.get(
        subcode, "Error validating access token: The session has been invalidated."
    )
    return GraphError(190, template.format(user=user, app=app), subcode=subcode)


def unsupported(method: str, object_id: str) -> GraphError:
    message = (
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not "
        "exist, cannot be loaded due to missing permissions, or does not support this "
        f"operation. Please read the Graph API documentation at {GRAPH_DOCS}"
    )
    return GraphError(100, message, subcode=33, kind="GraphMethodException")


def no_permission() -> GraphError:
    return GraphError(10, CODE_MESSAGES[10], http=403)


def missing_param(name: str) -> GraphError:
    return GraphError(100, f"(#100) The parameter {name} is required")


def _ig_error(code: int, subcode: int, message: str, title: str, user_msg: str):
    return GraphError(code, message, subcode=subcode, title=title, user_msg=user_msg)


def fetch_failed(url: str) -> GraphError:
    return _ig_error(
        9004,
        2207052,
        "Only photo or video can be accepted as media type.",
        "Media download has failed.",
        f"The media could not be fetched from this uri: {url}",
    )


def too_large() -> GraphError:
    return _ig_error(
        36000,
        2207004,
        "The image size is too large.",
        "Image size too large",
        "The image is too large to download. It should be less than 8 MiB.",
    )


def bad_format(found: str) -> GraphError:
    return _ig_error(
        36001,
        2207005,
        "The image format is not supported.",
        "Unsupported format",
        f"The image format ({found}) is not supported. Supported formats are: JPEG.",
    )


def bad_ratio(width: int, height: int) -> GraphError:
    return _ig_error(
        36003,
        2207009,
        "The aspect ratio is not supported.",
        "Invalid aspect ratio",
        f"The submitted image with aspect ratio ('{width}/{height}',) cannot be "
        "published. Please submit an image with a valid aspect ratio.",
    )


def caption_too_long() -> GraphError:
    return _ig_error(
        36004,
        2207010,
        "The caption is too long.",
        "Caption too long",
        f"The caption exceeded the maximum length of {CAPTION_MAX_CHARS} characters "
        f"or contains more than {CAPTION_MAX_HASHTAGS} hashtags.",
    )


def too_many_mentions() -> GraphError:
    return _ig_error(
        100,
        2207040,
        "Invalid parameter",
        "Too many tags",
        f"Cannot use more than {CAPTION_MAX_MENTIONS} tags per created media.",
    )


def not_ready() -> GraphError:
    return _ig_error(
        9007,
        2207027,
        "Media ID is not available",
        "Media not ready for publishing",
        "The media is not ready for publishing, please wait for a moment",
    )


def media_not_found(container_id: str, why: str = "cannot be found") -> GraphError:
    return _ig_error(
        24,
        2207006,
        "The requested resource does not exist",
        "Media not found",
        f"The media with id {container_id} {why}.",
    )


def media_expired() -> GraphError:
    return _ig_error(
        -2,
        2207020,
        "The media you are trying to access has expired. Please try to upload again.",
        "Media expired",
        "The media container has expired. Create a new container and publish it.",
    )


def creation_failed() -> GraphError:
    return _ig_error(
        -1,
        2207032,
        "Create media fail, please try to re-create media",
        "Failed to create media",
        "Media processing failed. Please create a new container.",
    )


def unsupported_video() -> GraphError:
    return _ig_error(
        352,
        2207026,
        "The video format is not supported. Please check spec for supported "
        "video formats.",
        "Unsupported video format",
        "The video format is not supported. Please check spec for supported "
        "video formats.",
    )


def quota_reached(total: int) -> GraphError:
    return _ig_error(
        9,
        2207042,
        "Application request limit reached",
        "The maximum number of posts that were published has been reached.",
        f"You reached the maximum of {total} posts that can be published with the "
        "Content Publishing API in a 24-hour moving window.",
    )


def cannot_load_users(usernames: list[str]) -> GraphError:
    """A tagged person or collaborator who is unknown or private (as Meta
    answered a scheduler's collaborator tag, 110/2207018)."""
    return _ig_error(
        110,
        2207018,
        "Invalid user id",
        "Cannot load user with a private profile or invalid username",
        f"The following user(s) cannot be accessed: {', '.join(usernames)}",
    )


def not_allowed_on_item(param: str) -> GraphError:
    """What Meta answers when a carousel item carries a parent-only field."""
    return GraphError(100, f"The param {param} is not allowed for carousel child")


def carousel_size(count: int) -> GraphError:
    return _ig_error(
        100,
        2207028,
        "Invalid parameter",
        "Carousel validation failed",
        f"The carousel has {count} items; it needs {CAROUSEL_MIN_ITEMS} to "
        f"{CAROUSEL_MAX_ITEMS} (too little or too many attachments).",
    )


def too_many_collaborators(count: int) -> GraphError:
    return GraphError(
        100,
        f"(#100) Param collaborators must contain at most {COLLABORATORS_MAX} "
        f"usernames ({count} given)",
    )


def invalid_param(name: str, why: str) -> GraphError:
    return GraphError(100, f"(#100) Param {name} {why}")


def error_for_code(code: int, response: dict[str, Any], user: str, app: str):
    """Build the GraphError a scripted fault ``response`` asks for."""
    subcode = response.get("subcode")
    message = response.get("message")
    if message is None and code == 190 and subcode == 463:
        message = expired_error(time.time() - 60, time.time()).message
    elif message is None and code == 190 and subcode is not None:
        message = session_error(int(subcode), user, app).message
    default_http = 403 if code == 10 or 200 <= code < 300 else 400
    return GraphError(
        code,
        message or CODE_MESSAGES.get(code, "An unknown error occurred"),
        subcode=subcode,
        http=int(response.get("http", default_http)),
        kind=response.get("type", "OAuthException"),
        title=response.get("user_title"),
        user_msg=response.get("user_msg"),
        transient=bool(response.get("transient", code in TRANSIENT_CODES)),
    )
