"""Reels and Stories: ``media_type=REELS`` and ``media_type=STORIES`` containers.

A carousel may hold videos too: an item container with ``media_type=VIDEO``,
``is_carousel_item=true`` and ``video_url`` is fetched and checked like a
Reel's video (within the carousel-video limits of ``VIDEO_LIMITS``) and
processed for as long; the carousel refuses it until it is FINISHED
(``carousels.py``).

A Reel needs ``video_url`` and takes ``caption``, ``collaborators`` (up to
3), ``share_to_feed``, ``cover_url`` or ``thumb_offset``; a Story takes
``image_url`` or ``video_url`` and nothing else (Meta ignores a caption).
Videos are downloaded and inspected at once but stay ``IN_PROGRESS`` for
``video_processing_seconds``, then turn ``FINISHED`` or, for a video Meta
can't use, ``ERROR`` (2207026).  Live stories are listed by
``GET /{ig-user-id}/stories`` (not ``/media``), for 24 hours.
"""

import hashlib
import os
import time
from typing import Any

from simulator.errors import GraphError
from simulator.errors import missing_param
from simulator.errors import unsupported_video
from simulator.helpers import check_caption
from simulator.helpers import paginate
from simulator.helpers import select
from simulator.imaging import crawl
from simulator.imaging import inspect_image
from simulator.params import parse_collaborators
from simulator.params import parse_video_item
from simulator.records import Container
from simulator.records import GraphRequest
from simulator.records import Route
from simulator.video import VIDEO_LIMITS
from simulator.video import VideoPart
from simulator.video import crawl_video
from simulator.video import inspect_video
from simulator.world.state import WorldState

PRODUCTS = {"REELS": "REELS", "STORIES": "STORY"}
STORY_SECONDS = 86400
VIDEO_ERROR_TEXT = "Error: Media upload has failed with error code 2207026"


class VideoMixin(WorldState):
    """Reel and Story containers, their processing, and the stories edge."""

    def _create_reel_or_story(
        self, req: GraphRequest, route: Route, media_type: str
    ) -> dict[str, Any]:
        """``POST /{ig-user-id}/media`` with ``media_type`` REELS or STORIES."""
        ig_user_id = route.ig_user_id or ""
        with self._lock:
            token = self._auth(req)
            self._managed_ig(token, ig_user_id, "POST")
            self._require_scope(token, "instagram_content_publish")
            timeout = self._settings.crawler_timeout
        product = PRODUCTS[media_type]
        params = req.params
        video_url = params.get("video_url", "").strip()
        image_url = params.get("image_url", "").strip()
        caption = ""
        if product == "REELS":
            if not video_url:
                raise missing_param("video_url")
            caption = params.get("caption", "")
            check_caption(caption)
        elif not (video_url or image_url):
            raise GraphError(
                100, "(#100) The parameter image_url or video_url is required"
            )
        container = Container(
            id="", ig_user_id=ig_user_id, fb_user_id=token.fb_user_id,
            image_url=image_url if not video_url else "", caption=caption,
            alt_text="", image_sha256="", width=0, height=0, size=0,
            image_format="VIDEO" if video_url else "", created_at=0.0,
            product=product,
        )  # fmt: skip
        if product == "REELS":
            container.collaborators = parse_collaborators(params.get("collaborators"))
            with self._lock:
                self._check_people(container.collaborators)
        if video_url:
            container.video = self._fetch_video(req, video_url, product, timeout)
            if product == "REELS":
                _reel_options(container.video, params, timeout)
                container.video.collaborators = tuple(container.collaborators)
        else:
            self._fetch_story_image(container, image_url, timeout)
        with self._lock:
            container.id = self._ids.take("container")
            container.created_at = time.time()
            self._containers[container.id] = container
        return {"id": container.id}

    def _create_video_item(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``POST /{ig-user-id}/media`` with ``media_type=VIDEO`` and
        ``is_carousel_item=true``: a carousel's video item."""
        ig_user_id = route.ig_user_id or ""
        with self._lock:
            token = self._auth(req)
            self._managed_ig(token, ig_user_id, "POST")
            self._require_scope(token, "instagram_content_publish")
            timeout = self._settings.crawler_timeout
        video_url = parse_video_item(req.params)
        part = self._fetch_video(req, video_url, "CAROUSEL_ITEM", timeout)
        container = Container(
            id="", ig_user_id=ig_user_id, fb_user_id=token.fb_user_id,
            image_url="", caption="", alt_text="", image_sha256="",
            width=part.width, height=part.height, size=part.size,
            image_format="VIDEO", created_at=0.0, media_type="VIDEO",
            is_carousel_item=True, video=part,
        )  # fmt: skip
        with self._lock:
            container.id = self._ids.take("container")
            container.created_at = time.time()
            self._containers[container.id] = container
        return {"id": container.id}

    def _fetch_video(
        self, req: GraphRequest, url: str, product: str, timeout: float
    ) -> VideoPart:
        """Download and inspect a video like Meta (outside the lock)."""
        max_bytes = VIDEO_LIMITS[product][2]
        path, size, cut = crawl_video(url, timeout, max_bytes)
        part = VideoPart(url=url, size=size)
        try:
            with open(path, "rb") as fh:
                part.sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
            if cut:
                part.problem = f"the file is over {max_bytes // 1_000_000} MB"
            else:
                inspect_video(path, part, product)
        finally:
            os.unlink(path)
        part.thumbnail_url = f"{req.base_url}_sim/image/1080x1920.jpg"
        return part

    @staticmethod
    def _fetch_story_image(container: Container, url: str, timeout: float) -> None:
        data = crawl(url, timeout)
        found, width, height = inspect_image(data, check_ratio=False)
        container.image_sha256 = hashlib.sha256(data).hexdigest()
        container.width, container.height, container.size = width, height, len(data)
        container.image_format = found

    def _processing_seconds(self, container: Container) -> float:
        """How long Meta takes over a container: videos longer than images,
        carousel items each their own time."""
        if container.video is not None:
            return self._settings.video_processing_seconds
        if container.ready_after is not None:
            return container.ready_after
        return self._settings.container_ready_after

    @staticmethod
    def _video_failed(container: Container) -> bool:
        return container.video is not None and container.video.problem is not None

    def _check_video_publishable(self, container: Container) -> None:
        if self._video_failed(container):
            raise unsupported_video()

    def _stories_list(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``GET /{ig-user-id}/stories``: the account's live stories, newest first."""
        with self._lock:
            token = self._auth(req)
            account = self._managed_ig(token, route.ig_user_id or "", "GET")
            since = time.time() - STORY_SECONDS
            live = [
                media
                for media in self._media.values()
                if media.ig_user_id == account.id
                and media.product_type == "STORY"
                and media.published_at > since
            ]
            spec = req.params.get("fields")
            base = req.base_url
            items = [
                select(self._media_values(m, base), spec, ("id",)) for m in live[::-1]
            ]
            return paginate(req, items)


def _reel_options(part: VideoPart, params: dict[str, str], timeout: float) -> None:
    """Read and check a Reel's cover, share_to_feed and collaborators."""
    part.share_to_feed = _flag(params, "share_to_feed", default=True)
    cover_url = params.get("cover_url", "").strip()
    if cover_url:  # Meta uses cover_url and ignores thumb_offset then
        inspect_image(crawl(cover_url, timeout), check_ratio=False)
        part.cover_url = part.thumbnail_url = cover_url
    elif params.get("thumb_offset", "") != "":
        try:
            part.thumb_offset = int(params["thumb_offset"])
        except ValueError:
            part.thumb_offset = -1
        if part.thumb_offset < 0:
            raise GraphError(100, "(#100) Param thumb_offset must be a number")


def _flag(params: dict[str, str], name: str, default: bool) -> bool:
    value = params.get(name, "").strip().lower()
    if value == "":
        return default
    if value not in ("true", "false", "1", "0"):
        raise GraphError(100, f"(#100) Param {name} must be a boolean")
    return value in ("true", "1")
