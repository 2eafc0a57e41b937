"""Faults (scripted by ``add_fault()`` or random) and how one bends a call."""

import time
from typing import Any

from simulator.constants import CREATE_ENDPOINTS
from simulator.constants import ENDPOINTS
from simulator.records import CONTAINER_FAULT_STATES
from simulator.records import FAULT_MATCH_KEYS
from simulator.records import FAULT_RESPONSE_KEYS
from simulator.records import Fault
from simulator.records import GraphRequest
from simulator.records import Reply
from simulator.records import Route
from simulator.records import fault_from_response
from simulator.records import random_fault
from simulator.world.state import WorldState


class FaultsMixin(WorldState):
    """Scripted and random faults, and applying one to a call."""

    def add_fault(
        self, match: dict[str, Any], response: dict[str, Any], times: int | None = 1
    ) -> None:
        """Script a fault for calls matching ``match``; ``times=None`` means forever."""
        unknown = set(match) - FAULT_MATCH_KEYS | set(response) - FAULT_RESPONSE_KEYS
        if unknown:
            raise ValueError(f"unknown fault key(s): {', '.join(sorted(unknown))}")
        endpoint = match.get("endpoint", "*")
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {ENDPOINTS}")
        state = response.get("container_status")
        if state is not None and state not in CONTAINER_FAULT_STATES:
            raise ValueError("container_status must be ERROR or EXPIRED")
        if times is not None and int(times) < 1:
            raise ValueError("times must be a positive number or None")
        with self._lock:
            self._faults.append([dict(match), dict(response), times])

    def _answer(self, req: GraphRequest, route: Route, fault: Fault | None) -> Reply:
        """Run the call, bent by ``fault`` (delay, error, lost response, state)."""
        if fault is None:
            return self._invoke(req, route)
        if fault.delay > 0 and not fault.after:
            time.sleep(fault.delay)
        if fault.container_status and route.container_id:
            self._force_container(route.container_id, fault)
        failure = fault.failure()
        if failure is not None and not fault.after:
            return failure
        reply = self._invoke(req, route)
        if (
            fault.container_status
            and route.endpoint in CREATE_ENDPOINTS
            and reply.status == 200
        ):
            self._force_container(reply.body["id"], fault)
        if fault.after and fault.delay > 0:
            time.sleep(fault.delay)
        final = failure or reply
        final.fault = fault.label
        return final

    def _next_fault(self, req: GraphRequest, route: Route) -> Fault | None:
        """Consume the first matching scripted fault, else maybe draw a random one."""
        with self._lock:
            token = self._tokens.get(req.token or "")
            facts = {
                "endpoint": route.endpoint,
                "ig_user_id": route.ig_user_id,
                "fb_user_id": token.fb_user_id if token else None,
                "container_id": route.container_id,
                "media_type": self._media_type_fact(req, route),
            }
            for entry in self._faults:
                match, response, times = entry
                if not self._fault_matches(match, facts):
                    continue
                if times is not None:
                    entry[2] = times - 1
                    if entry[2] <= 0:
                        self._faults.remove(entry)
                user = facts["fb_user_id"] or ""
                return fault_from_response(response, user, self.app_id)
            settings = self._settings
            if settings.fail_rate > 0 and self._rng.random() < settings.fail_rate:
                kind = self._rng.choice(settings.fail_kinds)
                return random_fault(kind, route.endpoint, settings)
        return None

    def _media_type_fact(self, req: GraphRequest, route: Route) -> str | None:
        """IMAGE, CAROUSEL, REELS or STORIES: asked for by a create, or of the
        container."""
        if route.endpoint in CREATE_ENDPOINTS:
            return req.params.get("media_type", "IMAGE").upper()
        container = self._containers.get(route.container_id or "")
        if container is None:
            return None
        if container.product in ("REELS", "STORY"):
            return {"REELS": "REELS", "STORY": "STORIES"}[container.product]
        return container.media_type

    @staticmethod
    def _fault_matches(match: dict[str, Any], facts: dict[str, Any]) -> bool:
        for key, wanted in match.items():
            if key == "endpoint" and wanted == "*":
                continue
            if facts.get(key) != str(wanted):
                return False
        return True

    def _force_container(self, container_id: str, fault: Fault) -> None:
        with self._lock:
            container = self._containers.get(container_id)
            if container is not None and container.media_id is None:
                container.forced_status = fault.container_status
                container.forced_detail = fault.container_detail
