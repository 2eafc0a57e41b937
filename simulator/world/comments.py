"""Comments on published posts: ``POST`` and ``GET /{ig-media-id}/comments``.

Both need the ``instagram_manage_comments`` permission (10, HTTP 403 without
it). A comment is made by the post's own account, as a scheduler's first
comment is; the list answers ``id``, ``text``, ``username``, ``timestamp``.
"""

import time
from typing import Any

from simulator.errors import missing_param
from simulator.errors import unsupported
from simulator.helpers import check_caption
from simulator.helpers import ig_timestamp
from simulator.helpers import iso
from simulator.helpers import paginate
from simulator.helpers import select
from simulator.records import Comment
from simulator.records import GraphRequest
from simulator.records import Media
from simulator.records import Node
from simulator.records import Route
from simulator.world.state import WorldState


class CommentsMixin(WorldState):
    """Commenting on a post and reading its comments."""

    def comments(self) -> list[dict[str, Any]]:
        """Return every comment made through the API, oldest first."""
        with self._lock:
            return [
                {
                    "id": c.id,
                    "media_id": c.media_id,
                    "ig_user_id": c.ig_user_id,
                    "username": c.username,
                    "text": c.text,
                    "created_at": iso(c.created_at),
                }
                for c in self._comments.values()
            ]

    def _own_media(self, req: GraphRequest, route: Route) -> Media:
        token = self._auth(req)
        media = self._media.get(route.object_id or "")
        if media is None or not self._manages(token.fb_user_id, media.ig_user_id):
            raise unsupported(req.method, route.object_id or "")
        self._require_scope(token, "instagram_manage_comments")
        return media

    def _comment(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``POST /{ig-media-id}/comments?message=...``: comment as the account."""
        with self._lock:
            media = self._own_media(req, route)
            message = req.params.get("message", "")
            if not message.strip():
                raise missing_param("message")
            check_caption(message)  # comments follow the caption's limits
            comment = Comment(
                id=self._ids.take("comment"),
                media_id=media.id,
                ig_user_id=media.ig_user_id,
                username=self._ig[media.ig_user_id].username,
                text=message,
                created_at=time.time(),
            )
            self._comments[comment.id] = comment
            return {"id": comment.id}

    def _comment_list(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``GET /{ig-media-id}/comments``: the post's comments, oldest first."""
        with self._lock:
            media = self._own_media(req, route)
            spec = req.params.get("fields")
            items = [
                select(self._comment_values(c), spec, ("id", "text", "timestamp"))
                for c in self._comments.values()
                if c.media_id == media.id
            ]
            return paginate(req, items)

    @staticmethod
    def _comment_values(comment: Comment) -> dict[str, Any]:
        return {
            "id": comment.id,
            "text": comment.text,
            "username": comment.username,
            "timestamp": ig_timestamp(comment.created_at),
            "like_count": 0,
            "hidden": False,
            "from": Node(id=comment.ig_user_id, username=comment.username),
        }
