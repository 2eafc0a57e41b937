"""Small pure helpers for Graph requests and replies.

``appsecret_proof``, ``fields`` selection, cursors, caption checks and Meta's
timestamp formats; nothing here touches the world's state.
"""

import base64
import hashlib
import hmac
from datetime import UTC
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from simulator.constants import ALT_TEXT_MAX_CHARS
from simulator.constants import CAPTION_MAX_CHARS
from simulator.constants import CAPTION_MAX_HASHTAGS
from simulator.constants import CAPTION_MAX_MENTIONS
from simulator.constants import DEFAULT_APP_SECRET
from simulator.constants import HASHTAG_RE
from simulator.constants import MENTION_RE
from simulator.constants import PAGE_SIZE
from simulator.constants import URL_SECRETS
from simulator.errors import GraphError
from simulator.errors import caption_too_long
from simulator.errors import missing_param
from simulator.errors import too_many_mentions
from simulator.records import GraphRequest
from simulator.records import Node


def appsecret_proof(token: str, app_secret: str = DEFAULT_APP_SECRET) -> str:
    """Return the ``appsecret_proof`` Meta expects for ``token`` (HMAC-SHA256 hex)."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(object_id: str) -> str:
    return b64url(object_id.encode())


def shortcode(media_id: str) -> str:
    return b64url(hashlib.sha1(media_id.encode()).digest())[:11]


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


def select(
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
        if isinstance(value, Node):
            value = select(value, sub, ("id",))
        selected[name] = value
    if "id" in values:
        selected.setdefault("id", values["id"])
    return selected


def check_caption(caption: str) -> None:
    """Raise Meta's error for a caption over its length, hashtag or @tag limits."""
    if len(caption) > CAPTION_MAX_CHARS:
        raise caption_too_long()
    if len(HASHTAG_RE.findall(caption)) > CAPTION_MAX_HASHTAGS:
        raise caption_too_long()
    if len(MENTION_RE.findall(caption)) > CAPTION_MAX_MENTIONS:
        raise too_many_mentions()


def create_params(params: dict[str, str]) -> tuple[str, str, str]:
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
        raise missing_param("image_url")
    caption = params.get("caption", "")
    alt_text = params.get("alt_text", "")
    check_caption(caption)
    if len(alt_text) > ALT_TEXT_MAX_CHARS:
        raise GraphError(
            100, f"(#100) Param alt_text must be at most {ALT_TEXT_MAX_CHARS} chars"
        )
    return image_url, caption, alt_text


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


def ig_timestamp(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def paginate(req: GraphRequest, items: list[dict[str, Any]]):
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
        query = {k: v for k, v in req.params.items() if k not in URL_SECRETS}
        if req.token_in_url and req.token:
            query["access_token"] = req.token
        query.update(limit=str(limit), after=paging["cursors"]["after"])
        path = req.path.lstrip("/")
        paging["next"] = f"{req.base_url}{path}?{urlencode(query)}"
    return {"data": chunk, "paging": paging}
