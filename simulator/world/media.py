"""Published posts: the ``published()`` record and the Graph reads of posts.

``GET /{ig-user-id}/media`` lists an account's posts (its existing history and
those published through the simulator), newest first and paged with cursors;
``GET /{ig-media-id}`` shows one. Picture URLs point at the simulated CDN
(``FeedMixin``) and expire like Meta's.
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
            return [
                self._published_record(media)
                for media in self._media.values()
                if not media.existing
            ]

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
            "media_type": media.media_type,
            "children": [dict(child) for child in media.children],
            "user_tags": [dict(tag) for tag in media.user_tags],
            "collaborators": list(media.collaborators),
            "media_product_type": media.product_type,
            "video": asdict(media.video) if media.video else None,
        }

    def _media_values(self, media: Media, base_url: str) -> dict[str, Any]:
        video = media.media_type == "VIDEO"

        def comments_count() -> int:  # computed only when asked for
            return sum(1 for c in self._comments.values() if c.media_id == media.id)

        values: dict[str, Any] = {
            "id": media.id,
            "media_type": media.media_type,
            "media_product_type": media.product_type,
            # Videos: media_url is the video, thumbnail_url its cover picture.
            "media_url": lambda: self._cdn_url(
                media, base_url, "mp4" if video else "jpg"
            ),
            "permalink": self._permalink(media),
            "shortcode": media.shortcode,
            "timestamp": ig_timestamp(media.published_at),
            "username": self._ig[media.ig_user_id].username,
            "owner": Node(id=media.ig_user_id),
            "like_count": 0,
            "comments_count": comments_count,
            "is_comment_enabled": True,
        }
        if video:
            values["thumbnail_url"] = lambda: self._cdn_url(media, base_url)
        if media.caption:
            values["caption"] = media.caption
        if media.alt_text:
            values["alt_text"] = media.alt_text
        if media.children:
            values["children"] = {
                "data": [{"id": child["container_id"]} for child in media.children]
            }
        return values

    def _permalink(self, media: Media) -> str:
        if media.product_type == "STORY":
            username = self._ig[media.ig_user_id].username
            return f"https://www.instagram.com/stories/{username}/{media.id}/"
        kind = "reel" if media.product_type == "REELS" else "p"
        return f"https://www.instagram.com/{kind}/{media.shortcode}/"

    def _media_list(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``GET /{ig-user-id}/media``: the account's posts, newest first."""
        with self._lock:
            token = self._auth(req)
            account = self._managed_ig(token, route.ig_user_id or "", "GET")
            spec = req.params.get("fields")
            posts = sorted(
                (
                    m
                    for m in self._media.values()
                    if m.ig_user_id == account.id
                    and self._visible(m)
                    # Stories have their own edge (GET /{ig-user-id}/stories).
                    and m.product_type != "STORY"
                ),
                key=lambda m: (m.published_at, int(m.id)),
                reverse=True,
            )
            base = req.base_url
            items = [select(self._media_values(m, base), spec, ("id",)) for m in posts]
            return paginate(req, items)

    def _media_object(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``GET /{ig-media-id}``: one published post."""
        with self._lock:
            token = self._auth(req)
            media = self._media[route.object_id or ""]
            if (
                req.method != "GET"
                or not self._visible(media)
                or not self._manages(token.fb_user_id, media.ig_user_id)
            ):
                raise unsupported(req.method, media.id)
            values = self._media_values(media, req.base_url)
            return select(values, req.params.get("fields"), ("id",))
