"""Carousel containers: ``POST /{ig-user-id}/media`` with ``media_type=CAROUSEL``.

Meta takes 2-10 item containers (``children``) of the same account, each made
with ``is_carousel_item=true`` and FINISHED; the carousel carries the caption
and collaborators. An unready item fails like publishing too early
(9007/2207027), an unknown or foreign one like a missing container
(24/2207006), an expired one -2/2207020, an errored one -1/2207032.
"""

import time
from typing import Any

from simulator.errors import creation_failed
from simulator.errors import invalid_param
from simulator.errors import media_expired
from simulator.errors import media_not_found
from simulator.errors import not_ready
from simulator.params import CreateParams
from simulator.records import Container
from simulator.world.state import WorldState


class CarouselsMixin(WorldState):
    """Making a carousel container from item containers."""

    def _create_carousel(
        self, fb_user_id: str, ig_user_id: str, params: CreateParams
    ) -> dict[str, Any]:
        if len(set(params.children)) != len(params.children):
            raise invalid_param("children", "must not name an item twice")
        with self._lock:
            now = time.time()
            items = [self._usable_item(c, ig_user_id, now) for c in params.children]
            container = Container(
                id=self._ids.take("container"),
                ig_user_id=ig_user_id,
                fb_user_id=fb_user_id,
                image_url="",
                caption=params.caption,
                alt_text="",
                image_sha256="",
                # Instagram shows every item in the first one's shape.
                width=items[0].width,
                height=items[0].height,
                size=sum(item.size for item in items),
                image_format=items[0].image_format,
                created_at=now,
                media_type="CAROUSEL",
                children=list(params.children),
                collaborators=params.collaborators,
            )
            self._containers[container.id] = container
        return {"id": container.id}

    def _usable_item(self, child_id: str, ig_user_id: str, now: float) -> Container:
        """An item container this carousel may use, else Meta's error for it."""
        child = self._containers.get(child_id)
        if child is None or child.ig_user_id != ig_user_id:
            raise media_not_found(child_id)
        if not child.is_carousel_item:
            raise invalid_param(
                "children", f"{child_id} was not made with is_carousel_item=true"
            )
        status = self._container_status(child, now)
        if status == "PUBLISHED":
            raise media_not_found(child_id, "has already been published")
        if status == "EXPIRED":
            raise media_expired()
        if status == "ERROR":
            raise creation_failed()
        if status != "FINISHED":
            raise not_ready()
        return child
