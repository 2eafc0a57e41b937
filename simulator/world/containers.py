"""Media containers and publishing.

``POST /{ig-user-id}/media`` crawls the image into a container (a post's, or a
carousel item's), ``GET /{container-id}`` reports its status,
``media_publish`` turns it into a post. Carousels are made in ``carousels.py``.
"""

import hashlib
import logging
import time
from dataclasses import asdict
from typing import Any

from simulator.constants import STATUS_TEXT
from simulator.errors import creation_failed
from simulator.errors import invalid_param
from simulator.errors import media_expired
from simulator.errors import media_not_found
from simulator.errors import missing_param
from simulator.errors import not_ready
from simulator.errors import unsupported
from simulator.helpers import iso
from simulator.helpers import select
from simulator.helpers import shortcode
from simulator.imaging import crawl
from simulator.imaging import inspect_image
from simulator.params import parse_create
from simulator.records import Container
from simulator.records import GraphRequest
from simulator.records import Media
from simulator.records import Route
from simulator.world.state import WorldState
from simulator.world.video import VIDEO_ERROR_TEXT

logger = logging.getLogger("ospost.simulator")


class ContainersMixin(WorldState):
    """Creating containers, their status, and publishing them."""

    def containers(self) -> list[dict[str, Any]]:
        """Return every media container with its current ``status_code``."""
        with self._lock:
            now = time.time()
            return [
                self._container_record(item, now) for item in self._containers.values()
            ]

    def _create(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``POST /{ig-user-id}/media``: crawl the image and make a container
        (a single image or a carousel item), or make a carousel."""
        media_type = req.params.get("media_type", "IMAGE").upper()
        if media_type in ("REELS", "STORIES"):
            return self._create_reel_or_story(req, route, media_type)
        if media_type == "VIDEO":
            return self._create_video_item(req, route)
        ig_user_id = route.ig_user_id or ""
        with self._lock:
            token = self._auth(req)
            self._managed_ig(token, ig_user_id, "POST")
            self._require_scope(token, "instagram_content_publish")
            timeout = self._settings.crawler_timeout
        params = parse_create(req.params)
        with self._lock:
            self._check_people(params.usernames())
        if params.kind == "carousel":
            return self._create_carousel(token.fb_user_id, ig_user_id, params)
        data = crawl(params.image_url, timeout)  # outside the lock: may hit this server
        image_format, width, height = inspect_image(data)
        with self._lock:
            container_id = self._ids.take("container")
            container = Container(
                id=container_id,
                ig_user_id=ig_user_id,
                fb_user_id=token.fb_user_id,
                image_url=params.image_url,
                caption=params.caption,
                alt_text=params.alt_text,
                image_sha256=hashlib.sha256(data).hexdigest(),
                width=width,
                height=height,
                size=len(data),
                image_format=image_format,
                created_at=time.time(),
                is_carousel_item=params.kind == "item",
                user_tags=params.user_tags,
                collaborators=params.collaborators,
                ready_after=self._item_ready_after(container_id, params.kind),
            )
            self._containers[container.id] = container
        return {"id": container.id}

    def _item_ready_after(self, container_id: str, kind: str) -> float | None:
        """Carousel items finish at different times (0.5x to 1.5x the usual
        delay, fixed per container); None: the setting in force decides."""
        if kind != "item":
            return None
        factor = 0.5 + (int(container_id) % 5) / 4
        return self._settings.container_ready_after * factor

    def _container_status(self, container: Container, now: float) -> str:
        if container.media_id is not None:
            return "PUBLISHED"
        if container.forced_status:
            return container.forced_status
        age = now - container.created_at
        if age >= self._settings.container_ttl:
            return "EXPIRED"
        if age >= self._processing_seconds(container):
            return "ERROR" if self._video_failed(container) else "FINISHED"
        return "IN_PROGRESS"

    def _status_text(self, container: Container, status_code: str) -> str:
        if status_code == container.forced_status and container.forced_detail:
            return container.forced_detail
        if status_code == "ERROR" and self._video_failed(container):
            return VIDEO_ERROR_TEXT
        return STATUS_TEXT[status_code]

    def _status(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``GET /{container-id}``: IN_PROGRESS, FINISHED, PUBLISHED, EXPIRED, ERROR."""
        with self._lock:
            token = self._auth(req)
            container = self._containers[route.container_id or ""]
            if req.method != "GET" or not self._manages(
                token.fb_user_id, container.ig_user_id
            ):
                raise unsupported(req.method, container.id)
            code = self._container_status(container, time.time())
            values = {
                "id": container.id,
                "status_code": code,
                "status": self._status_text(container, code),
            }
            return select(values, req.params.get("fields"), ("id",))

    def _container_record(self, container: Container, now: float) -> dict[str, Any]:
        status_code = self._container_status(container, now)
        return {
            "id": container.id,
            "ig_user_id": container.ig_user_id,
            "fb_user_id": container.fb_user_id,
            "image_url": container.image_url,
            "caption": container.caption,
            "alt_text": container.alt_text,
            "image_sha256": container.image_sha256,
            "width": container.width,
            "height": container.height,
            "size": container.size,
            "format": container.image_format,
            "created_at": iso(container.created_at),
            "status_code": status_code,
            "status": self._status_text(container, status_code),
            "media_id": container.media_id,
            "media_type": container.media_type,
            "is_carousel_item": container.is_carousel_item,
            "children": list(container.children),
            "user_tags": [dict(tag) for tag in container.user_tags],
            "collaborators": list(container.collaborators),
            "media_product_type": container.product,
            "video": asdict(container.video) if container.video else None,
        }

    def _publish(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``POST /{ig-user-id}/media_publish``: make a FINISHED container a post."""
        ig_user_id = route.ig_user_id or ""
        with self._lock:
            token = self._auth(req)
            self._managed_ig(token, ig_user_id, "POST")
            self._require_scope(token, "instagram_content_publish")
            creation_id = req.params.get("creation_id")
            if not creation_id:
                raise missing_param("creation_id")
            container = self._containers.get(creation_id)
            if container is None or container.ig_user_id != ig_user_id:
                raise media_not_found(creation_id)
            if container.is_carousel_item:
                raise invalid_param(
                    "creation_id", "is a carousel item: publish its carousel"
                )
            now = time.time()
            self._check_publishable(container, now)
            self._check_quota(ig_user_id, now)
            media = self._make_media(container, now)
            return {"id": media.id}

    def _check_publishable(self, container: Container, now: float) -> None:
        status_code = self._container_status(container, now)
        if status_code == "PUBLISHED":
            raise media_not_found(container.id, "has already been published")
        if status_code == "EXPIRED":
            raise media_expired()
        if status_code == "ERROR":
            self._check_video_publishable(container)
            raise creation_failed()
        if status_code != "FINISHED":
            raise not_ready()

    def _make_media(self, container: Container, now: float) -> Media:
        media_id = self._ids.take("media")
        children = [self._containers[child] for child in container.children]
        media = Media(
            id=media_id,
            ig_user_id=container.ig_user_id,
            container_id=container.id,
            caption=container.caption,
            alt_text=container.alt_text,
            image_url=container.image_url,
            image_sha256=container.image_sha256,
            width=container.width,
            height=container.height,
            image_format=container.image_format,
            published_at=now,
            shortcode=shortcode(media_id),
            media_type=_published_type(container),
            children=[child_record(child) for child in children],
            user_tags=[dict(tag) for tag in container.user_tags],
            collaborators=list(container.collaborators),
            product_type=container.product,
            video=container.video,
        )
        container.media_id = media_id
        for child in children:
            child.media_id = media_id  # an item lives on in one carousel only
        self._media[media_id] = media
        logger.info("published media %s on IG account %s", media_id, media.ig_user_id)
        return media


def _published_type(container: Container) -> str:
    """The published post's media_type: CAROUSEL_ALBUM, VIDEO or IMAGE."""
    if container.children:
        return "CAROUSEL_ALBUM"
    return "VIDEO" if container.video else "IMAGE"


def child_record(child: Container) -> dict[str, Any]:
    """What a published carousel remembers of one item."""
    return {
        "container_id": child.id,
        "media_type": "VIDEO" if child.video else "IMAGE",
        "video": asdict(child.video) if child.video else None,
        "image_url": child.image_url,
        "image_sha256": child.image_sha256,
        "alt_text": child.alt_text,
        "user_tags": [dict(tag) for tag in child.user_tags],
        "width": child.width,
        "height": child.height,
    }
