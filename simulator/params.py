"""Reading ``POST /{ig-user-id}/media`` the way Meta does, for its three uses.

A single image (``image_url``, caption, alt text, people tags, collaborators),
a carousel item (``is_carousel_item=true``: image, alt text and tags only) and
a carousel (``media_type=CAROUSEL``: ``children``, caption, collaborators).
Fields Meta refuses for a use are refused with Meta's errors; whether a
tagged person or collaborator exists and is public is the world's business
(``world/people.py``).
"""

import json
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from simulator.constants import ALT_TEXT_MAX_CHARS
from simulator.constants import CAROUSEL_MAX_ITEMS
from simulator.constants import CAROUSEL_MIN_ITEMS
from simulator.constants import COLLABORATORS_MAX
from simulator.constants import USER_TAGS_MAX
from simulator.constants import USERNAME_RE
from simulator.errors import GraphError
from simulator.errors import cannot_load_users
from simulator.errors import carousel_size
from simulator.errors import invalid_param
from simulator.errors import missing_param
from simulator.errors import not_allowed_on_item
from simulator.errors import too_many_collaborators
from simulator.errors import too_many_mentions
from simulator.helpers import check_caption


@dataclass
class CreateParams:
    """A validated container request; ``kind`` is image, item or carousel."""

    kind: str
    image_url: str = ""
    caption: str = ""
    alt_text: str = ""
    user_tags: list[dict[str, Any]] = field(default_factory=list)
    collaborators: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)

    def usernames(self) -> list[str]:
        """Everyone this container names: tagged people and collaborators."""
        tagged = [tag["username"] for tag in self.user_tags]
        return list(dict.fromkeys(tagged + self.collaborators))


def create_kind(params: dict[str, str]) -> str:
    """Which container a ``POST /media`` asks for (also its endpoint name)."""
    if params.get("media_type", "").upper() == "CAROUSEL":
        return "carousel"
    if params.get("is_carousel_item", "").lower() == "true":
        return "item"
    return "image"


def parse_video_item(params: dict[str, str]) -> str:
    """Validate a carousel's video item (``media_type=VIDEO``,
    ``is_carousel_item=true``, ``video_url``); returns the video's URL.

    Meta takes VIDEO only inside carousels (a video post is a Reel), and, as
    for image items, nothing that belongs on the carousel; people tags are
    not supported on videos inside carousels (graph-api.md §3.1).
    """
    if params.get("is_carousel_item", "").lower() != "true":
        raise GraphError(
            100,
            "The VIDEO media type is only for carousel items; publish a video "
            "as a Reel (media_type=REELS).",
            subcode=2207023,
            title="Unknown media type",
            user_msg="Media type VIDEO is not supported here.",
        )
    for name in ("caption", "collaborators", "location_id"):
        if params.get(name):
            raise not_allowed_on_item(name)
    if params.get("user_tags"):
        raise invalid_param("user_tags", "is not supported on videos in carousels")
    if params.get("image_url"):
        raise invalid_param("image_url", "is not allowed for a video item")
    video_url = params.get("video_url", "").strip()
    if not video_url:
        raise missing_param("video_url")
    return video_url


def parse_create(params: dict[str, str]) -> CreateParams:
    """Validate a ``POST /{ig-user-id}/media`` request like Meta."""
    media_type = params.get("media_type", "IMAGE").upper()
    if media_type not in ("IMAGE", "CAROUSEL"):
        raise GraphError(
            100,
            "The simulator supports images, carousels (of images and videos), "
            "Reels and Stories.",
            subcode=2207023,
            title="Unknown media type",
            user_msg=f"Media type {media_type} is not supported here.",
        )
    kind = create_kind(params)
    if kind == "carousel":
        return _carousel(params)
    image_url = params.get("image_url", "").strip()
    if not image_url:
        raise missing_param("image_url")
    alt_text = params.get("alt_text", "")
    if len(alt_text) > ALT_TEXT_MAX_CHARS:
        raise invalid_param("alt_text", f"must be at most {ALT_TEXT_MAX_CHARS} chars")
    tags = _user_tags(params.get("user_tags"))
    if kind == "item":
        # Postiz #1547: Meta refuses parent-only fields on an item.
        for name in ("caption", "collaborators", "location_id"):
            if params.get(name):
                raise not_allowed_on_item(name)
        return CreateParams(kind, image_url, "", alt_text, tags)
    caption = params.get("caption", "")
    check_caption(caption)
    collaborators = parse_collaborators(params.get("collaborators"))
    return CreateParams(kind, image_url, caption, alt_text, tags, collaborators)


def _carousel(params: dict[str, str]) -> CreateParams:
    raw = params.get("children", "")
    if not raw.strip():
        raise missing_param("children")
    children = [part.strip() for part in raw.split(",") if part.strip()]
    if not CAROUSEL_MIN_ITEMS <= len(children) <= CAROUSEL_MAX_ITEMS:
        raise carousel_size(len(children))
    if params.get("user_tags"):
        raise invalid_param("user_tags", "is not allowed for carousel; tag its items")
    if params.get("image_url"):
        raise invalid_param("image_url", "is not allowed for carousel")
    caption = params.get("caption", "")
    check_caption(caption)
    collaborators = parse_collaborators(params.get("collaborators"))
    return CreateParams(
        "carousel", caption=caption, collaborators=collaborators, children=children
    )


def _json_list(raw: str, name: str) -> list[Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, list):
        raise invalid_param(name, "must be a JSON array")
    return value


def _user_tags(raw: str | None) -> list[dict[str, Any]]:
    """``[{"username": "a", "x": 0.5, "y": 0.8}]``: at most 20, x and y in 0..1."""
    if not raw:
        return []
    tags = []
    for entry in _json_list(raw, "user_tags"):
        if not isinstance(entry, dict) or not isinstance(entry.get("username"), str):
            raise invalid_param("user_tags", "entries need a username, x and y")
        try:
            x, y = float(entry["x"]), float(entry["y"])
        except (KeyError, TypeError, ValueError):
            raise invalid_param("user_tags", "entries need numeric x and y") from None
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise invalid_param("user_tags", "x and y must be between 0.0 and 1.0")
        tags.append({"username": entry["username"], "x": x, "y": y})
    if len(tags) > USER_TAGS_MAX:
        raise too_many_mentions()
    _check_names([tag["username"] for tag in tags])
    return tags


def parse_collaborators(raw: str | None) -> list[str]:
    """A JSON array of usernames (a comma-separated list is read too)."""
    if not raw:
        return []
    if raw.lstrip().startswith("["):
        names = _json_list(raw, "collaborators")
    else:
        names = [part.strip() for part in raw.split(",") if part.strip()]
    if not all(isinstance(name, str) for name in names):
        raise invalid_param("collaborators", "must be an array of usernames")
    if len(names) > COLLABORATORS_MAX:
        raise too_many_collaborators(len(names))
    _check_names(names)
    return names


def _check_names(names: list[str]) -> None:
    # A leading "@" or any other stray character: Meta cannot load the user.
    bad = [name for name in names if not USERNAME_RE.fullmatch(name)]
    if bad:
        raise cannot_load_users(bad)
