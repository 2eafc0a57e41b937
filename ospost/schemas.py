"""The JSON bodies Ospost accepts, and the one way routes read them.

Every JSON route calls ``parse_json(Schema)``: msgspec decodes the raw body
straight into a typed Struct, so a wrong type, an oversized body or a nesting
bomb becomes a 400 ``{"ok": false, "error": ...}`` that says what is wrong,
never a 500. Python's ``json`` module (behind ``request.get_json()``) is not used:
it recurses once per nesting level and a 100,000-deep array overflows it.
"""

from __future__ import annotations

from typing import Annotated
from typing import TypeVar

import msgspec
from flask import Flask
from flask import request
from werkzeug.exceptions import BadRequest

T = TypeVar("T")

# The browser's bodies are tiny; a reorder of every schedulable post (100 a
# day for MAX_SCHEDULE_DAYS) stays far below the reorder limit.
LOGIN_MAX_BYTES = 16 * 1024
REORDER_MAX_BYTES = 256 * 1024

PostId = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]


class FacebookAuthResponse(msgspec.Struct):
    """The part of the JS SDK's ``authResponse`` we read (the rest is ignored)."""

    accessToken: str | None = None  # the SDK spells it so


class LoginRequest(msgspec.Struct):
    """What the login page posts: the SDK token and the person's choices."""

    accessToken: str | None = None  # the SDK spells it so
    authResponse: FacebookAuthResponse | None = None
    ig_id: str | int | None = None
    timezone: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    next: Annotated[str, msgspec.Meta(max_length=2048)] | None = None

    @property
    def token(self) -> str | None:
        """The short-lived token, sent flat or inside ``authResponse``."""
        if self.accessToken:
            return self.accessToken
        return self.authResponse.accessToken if self.authResponse else None


class ReorderRequest(msgspec.Struct):
    """The grid's new visual order, newest first, as post ids."""

    order: Annotated[list[PostId], msgspec.Meta(max_length=20_000)]


class RestoreItem(msgspec.Struct):
    """One post an undo puts back: its id, time and the ``updated_at`` the
    page last saw (ISO 8601 with offsets, as the move's answer gave them)."""

    id: PostId
    scheduled_at: Annotated[str, msgspec.Meta(max_length=40)]
    updated_at: Annotated[str, msgspec.Meta(max_length=40)]


class RestoreRequest(msgspec.Struct):
    """An undo of a move: the posts to put back, all or none."""

    posts: Annotated[list[RestoreItem], msgspec.Meta(min_length=1, max_length=1000)]


class CalendarAction(msgspec.Struct):
    """A calendar or queue action sent by the calendar page: a new local time
    (``move``), the person's go-ahead after a clash warning (``confirm``), or
    the signed token of the change to undo."""

    local: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    confirm: bool | int | Annotated[str, msgspec.Meta(max_length=10)] | None = None
    undo: Annotated[str, msgspec.Meta(max_length=2048)] | None = None


class BulkQueueRequest(msgspec.Struct):
    """Add all to queue on the bulk upload page: the drafts, in order."""

    ids: Annotated[list[PostId], msgspec.Meta(min_length=1, max_length=1000)]


class InvalidJSON(BadRequest):
    """A JSON body that cannot be read as its schema; the description says why."""


def parse_json(schema: type[T], *, what: str, max_bytes: int) -> T:
    """Read the request body as ``schema``, or raise InvalidJSON saying what is wrong.

    ``what`` names the body for the person ("the new order"); ``max_bytes`` caps
    what is read before any parsing happens.
    """
    if (request.content_length or 0) > max_bytes:
        raise InvalidJSON(f"Send {what} as JSON of at most {max_bytes} bytes.")
    raw = request.get_data(cache=True)
    if len(raw) > max_bytes:  # chunked bodies carry no Content-Length
        raise InvalidJSON(f"Send {what} as JSON of at most {max_bytes} bytes.")
    try:
        return msgspec.json.decode(raw, type=schema)
    except msgspec.ValidationError as exc:
        raise InvalidJSON(f"Send {what} as JSON: {exc}.") from None
    except msgspec.DecodeError:
        raise InvalidJSON(f"Send {what} as JSON.") from None
    except RecursionError:
        # msgspec stops at the interpreter's recursion limit and unwinds cleanly.
        raise InvalidJSON(f"Send {what} as JSON without deep nesting.") from None


def init_app(app: Flask) -> None:
    """Answer unreadable JSON bodies with ``{"ok": false, "error": ...}`` and 400."""

    @app.errorhandler(InvalidJSON)
    def invalid_json(exc: InvalidJSON):
        return {"ok": False, "error": exc.description}, 400
