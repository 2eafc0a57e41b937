"""The Graph API calls that make Reel and Story containers (graph-api.md §7.1,
§7.2) and a carousel's video items (§7.4); ``GraphClient`` has them. Published
and checked like any container."""

from __future__ import annotations

import json


class VideoCalls:
    """``POST /{ig-user-id}/media`` with ``media_type`` REELS or STORIES."""

    def create_reel(
        self,
        ig_user_id: str,
        token: str,
        *,
        video_url: str,
        caption: str,
        share_to_feed: bool,
        cover_url: str | None = None,
        thumb_offset_ms: int | None = None,
        collaborators: list[str] | None = None,
    ) -> str:
        """Ask Meta to fetch our video and prepare a Reel; returns the container
        id. The cover is ``cover_url`` (an image) or the frame at
        ``thumb_offset_ms``; Meta uses cover_url when both are sent."""
        data = {
            "media_type": "REELS",
            "video_url": video_url,
            "caption": caption,
            "share_to_feed": "true" if share_to_feed else "false",
        }
        if cover_url:
            data["cover_url"] = cover_url
        elif thumb_offset_ms is not None:
            data["thumb_offset"] = str(int(thumb_offset_ms))
        if collaborators:
            data["collaborators"] = json.dumps(collaborators, separators=(",", ":"))
        return self._create(ig_user_id, token, data)  # type: ignore[attr-defined]

    def create_story(
        self,
        ig_user_id: str,
        token: str,
        *,
        image_url: str | None = None,
        video_url: str | None = None,
    ) -> str:
        """Prepare a Story from one image or one video (no caption: Meta
        ignores it); returns the container id."""
        data = {"media_type": "STORIES"}
        if video_url:
            data["video_url"] = video_url
        else:
            data["image_url"] = image_url or ""
        return self._create(ig_user_id, token, data)  # type: ignore[attr-defined]

    def create_carousel_video_item(
        self, ig_user_id: str, token: str, *, video_url: str
    ) -> str:
        """Ask Meta to fetch our video as one item of a carousel
        (``media_type=VIDEO``; no caption, alt text or people tags: Meta takes
        none on a video item); returns its container id."""
        data = {"media_type": "VIDEO", "is_carousel_item": "true"}
        data["video_url"] = video_url
        return self._create(ig_user_id, token, data)  # type: ignore[attr-defined]

    def recent_stories(self, ig_user_id: str, token: str) -> list[dict]:
        """The account's live Stories (they are not on the /media edge), to
        find one published by a lost request."""
        body = self.request(  # type: ignore[attr-defined]
            "GET",
            f"{ig_user_id}/stories",
            token=token,
            params={"fields": "id,caption,timestamp,permalink"},
        )
        return list(body.get("data") or [])
