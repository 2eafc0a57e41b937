"""Reading Meta's pages: the profile and the newest posts, as we keep them.

``fetch`` asks for the profile, then pages of ``/{ig-user-id}/media`` until it
has FEED_MAX_ITEMS, reaches the end, or Meta says a rate limit is close; the
rest of this module turns Meta's answers into plain, validated values.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from urllib.parse import urlsplit

from ospost.graph import GraphClient
from ospost.graph import GraphError
from ospost.graph import Usage

MEDIA_TYPES = {"IMAGE", "VIDEO", "CAROUSEL_ALBUM"}
INSTAGRAM_HOSTS = ("instagram.com", "www.instagram.com")


@dataclass
class Fetched:
    """What Meta answered in one refresh."""

    profile: dict = field(default_factory=dict)
    items: list[dict] = field(default_factory=list)
    complete: bool = False  # the newest FEED_MAX_ITEMS, or the whole feed
    usage: Usage | None = None
    error: GraphError | None = None


def fetch(client: GraphClient, user, *, limit: int, page_size: int) -> Fetched:
    """The profile, then pages of posts until enough, the end, or high usage."""
    client.last_usage = None  # this thread's client last served another account
    fetched = Fetched()
    token, ig_id = user.access_token, user.ig_account_id
    try:
        fetched.profile = client.profile(ig_id, token)
        fetched.usage = client.last_usage
        after = None
        while not is_high(fetched.usage):
            page = client.media_page(ig_id, token, after=after, limit=page_size)
            fetched.usage = client.last_usage or fetched.usage
            fetched.items += page.items
            if page.after is None or len(fetched.items) >= limit:
                fetched.complete = True
                break
            after = page.after
    except GraphError as exc:
        fetched.error = exc
        fetched.usage = exc.usage or client.last_usage or fetched.usage
    fetched.items = clean_items(fetched.items)[:limit]
    return fetched


def is_high(usage: Usage | None) -> bool:
    return usage is not None and usage.is_high()


def clean_items(raw: list[dict]) -> list[dict]:
    """Meta's posts as we keep them: valid ones, each once, newest first."""
    items, seen = [], set()
    for entry in raw:
        media_id = str(entry.get("id") or "")
        posted = parse_meta_time(entry.get("timestamp"))
        if not media_id.isdigit() or media_id in seen or posted is None:
            continue
        if entry.get("media_product_type") == "STORY":
            continue  # stories are not on the profile grid
        seen.add(media_id)
        media_type = str(entry.get("media_type") or "IMAGE")
        media_type = media_type if media_type in MEDIA_TYPES else "IMAGE"
        # Videos: media_url is the video itself, thumbnail_url its cover.
        picture = entry.get("thumbnail_url") or (
            entry.get("media_url") if media_type != "VIDEO" else None
        )
        permalink = entry.get("permalink")
        items.append(
            {
                "id": media_id,
                "media_type": media_type,
                "product_type": str(entry.get("media_product_type") or "FEED")[:32],
                "permalink": permalink if _is_instagram_url(permalink) else "",
                "caption": str(entry.get("caption") or "")[:2200],
                "posted_at": posted,
                "picture_url": picture if isinstance(picture, str) else None,
            }
        )
    items.sort(key=lambda item: (item["posted_at"], int(item["id"])), reverse=True)
    return items


def parse_meta_time(value) -> datetime | None:
    """Meta's ``2019-09-26T22:36:43+0000`` as an aware datetime (None if not)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def _is_instagram_url(url) -> bool:
    """Only links to Instagram itself become a tile's link (never javascript:)."""
    if not isinstance(url, str) or len(url) > 512:
        return False
    parts = urlsplit(url)
    return parts.scheme == "https" and (parts.hostname or "") in INSTAGRAM_HOSTS
