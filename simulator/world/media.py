"""Published posts: the ``published()`` record and the Graph reads of posts.

``GET /{ig-user-id}/media`` lists an account's posts, ``GET /{ig-media-id}`` shows one.
"""

from dataclasses import asdict
from typing import Any

from simulator.errors import unsupported
from simulator.helpers import ig_timestamp
from simulator.helpers import iso
from simulator.helpers import paginate
from simulator.helpers import select
from simulator.records import GraphRequest
from simulator.records import Media
from simulator.records import Node
from simulator.records import Route
from simulator.world.state import WorldState


class MediaMixin(WorldState):
    """Reading published posts."""

    def published(self) -> list[dict[str, Any]]:
        """Return every live post created by ``media_publish``, oldest first."""
        with self._lock:
            return [self._published_record(media) for media in self._media.values()]

    @staticmethod
    def _published_record(media: Media) -> dict[str, Any]:
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
            "published_at": iso(media.published_at),
            "media_product_type": media.product,
            "video": asdict(media.video) if media.video else None,
        }

    def _media_values(self, media: Media) -> dict[str, Any]:
        values: dict[str, Any] = {
            "id": media.id,
            "media_type": "VIDEO" if media.video else "IMAGE",
            "media_product_type": media.product,
            "media_url": media.video.url if media.video else media.image_url,
            "permalink": self._permalink(media),
            "shortcode": media.shortcode,
            "timestamp": ig_timestamp(media.published_at),
            "username": self._ig[media.ig_user_id].username,
            "owner": Node(id=media.ig_user_id),
            "like_count": 0,
            "comments_count": 0,
            "is_comment_enabled": True,
        }
        if media.video and media.video.thumbnail_url:
            values["thumbnail_url"] = media.video.thumbnail_url
        if media.caption:
            values["caption"] = media.caption
        if media.alt_text:
            values["alt_text"] = media.alt_text
        return values

    def _permalink(self, media: Media) -> str:
        if media.product == "STORY":
            username = self._ig[media.ig_user_id].username
            return f"https://www.instagram.com/stories/{username}/{media.id}/"
        kind = "reel" if media.product == "REELS" else "p"
        return f"https://www.instagram.com/{kind}/{media.shortcode}/"

    def _media_list(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``GET /{ig-user-id}/media``: the account's posts, newest first."""
        with self._lock:
            token = self._auth(req)
            account = self._managed_ig(token, route.ig_user_id or "", "GET")
            spec = req.params.get("fields")
            # Stories have their own edge (GET /{ig-user-id}/stories), as at Meta.
            posts = [
                m
                for m in self._media.values()
                if m.ig_user_id == account.id and m.product != "STORY"
            ]
            items = [select(self._media_values(m), spec, ("id",)) for m in posts[::-1]]
            return paginate(req, items)

    def _media_object(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``GET /{ig-media-id}``: one published post."""
        with self._lock:
            token = self._auth(req)
            media = self._media[route.object_id or ""]
            if req.method != "GET" or not self._manages(
                token.fb_user_id, media.ig_user_id
            ):
                raise unsupported(req.method, media.id)
            return select(self._media_values(media), req.params.get("fields"), ("id",))
