"""Answering one Graph call: route it, run it, log it.

Paths the simulator does not serve get Meta's errors for them.
"""

import time
from typing import Any

from simulator.constants import CREATE_ENDPOINTS
from simulator.constants import VERSION_RE
from simulator.errors import GraphError
from simulator.errors import unsupported
from simulator.helpers import iso
from simulator.params import create_kind
from simulator.records import GraphRequest
from simulator.records import Reply
from simulator.records import Route
from simulator.records import error_reply
from simulator.world.state import WorldState


class DispatchMixin(WorldState):
    """``handle()``: latency, routing, the call itself and the call log."""

    def handle(self, req: GraphRequest) -> Reply:
        """Answer one Graph call like Meta: latency, faults, the real work, logging."""
        started = time.time()
        latency = self._settings.latency_ms / 1000.0
        if latency > 0:
            time.sleep(latency)
        route = self._route(req)
        with self._lock:
            self._in_flight.append(route.endpoint)
        try:
            usage_headers, throttled = self._count_call(route)  # UsageMixin
            if throttled is not None:
                reply = error_reply(throttled, fault="throttled")
            else:
                reply = self._answer(req, route, self._next_fault(req, route))
            reply.headers.update(usage_headers)
        finally:
            with self._lock:
                if route.endpoint in self._in_flight:  # reset() may have cleared it
                    self._in_flight.remove(route.endpoint)
        self._log_call(req, route, reply, started)
        return reply

    def in_flight(self) -> list[str]:
        """Endpoints of the calls being answered right now (calls() logs replies)."""
        with self._lock:
            return list(self._in_flight)

    def calls(self) -> list[dict[str, Any]]:
        """Return the log of every Graph call (control endpoints are not logged)."""
        with self._lock:
            return [dict(call) for call in self._calls]

    def _invoke(self, req: GraphRequest, route: Route) -> Reply:
        try:
            return Reply(200, route.handler(req, route))
        except GraphError as error:
            return error_reply(error)

    def _log_call(
        self, req: GraphRequest, route: Route, reply: Reply, started: float
    ) -> None:
        body = reply.body if isinstance(reply.body, dict) else {}
        container_id = route.container_id
        media_id = comment_id = None
        if reply.status == 200 and route.endpoint in CREATE_ENDPOINTS:
            container_id = body.get("id")
        if reply.status == 200 and route.endpoint in ("publish", "media"):
            media_id = body.get("id")
        if route.endpoint in ("comment", "comments"):
            media_id = route.object_id
        if reply.status == 200 and route.endpoint == "comment":
            comment_id = body.get("id")
        with self._lock:
            token = self._tokens.get(req.token or "")
            self._calls.append(
                {
                    "t": iso(started),
                    "method": req.method,
                    "endpoint": route.endpoint,
                    "path": req.path,
                    "ig_user_id": route.ig_user_id,
                    "container_id": container_id,
                    "media_id": media_id,
                    "comment_id": comment_id,
                    "fb_user_id": token.fb_user_id if token else None,
                    "status": reply.status,
                    "error_code": reply.error_code,
                    "fault": reply.fault,
                    "token_in_url": req.token_in_url,
                }
            )

    def _route(self, req: GraphRequest) -> Route:
        parts = [part for part in req.path.split("/") if part]
        if parts and VERSION_RE.fullmatch(parts[0]):
            parts = parts[1:]
        fixed = {
            "oauth/access_token": ("exchange", self._exchange),
            "debug_token": ("debug_token", self._debug_token),
            "me": ("me", self._me),
            "me/accounts": ("accounts", self._accounts),
        }
        key = "/".join(parts)
        if key in fixed:
            endpoint, handler = fixed[key]
            return Route(endpoint, handler, object_id=parts[0])
        if len(parts) == 1:
            return self._route_object(parts[0])
        if len(parts) == 2:
            return self._route_edge(req, parts[0], parts[1])
        return Route("unknown", self._unknown_path, object_id=key)

    def _route_object(self, object_id: str) -> Route:
        with self._lock:
            if object_id in self._ig:
                return Route("ig_user", self._ig_user, object_id, ig_user_id=object_id)
            if object_id in self._containers:
                owner = self._containers[object_id].ig_user_id
                return Route("status", self._status, object_id, owner, object_id)
            if object_id in self._media:
                owner = self._media[object_id].ig_user_id
                return Route("media", self._media_object, object_id, owner)
            if object_id in self._pages:
                ig_user_id = self._pages[object_id].ig_user_id
                return Route("page", self._page, object_id, ig_user_id)
            if object_id in self._users:
                return Route("me", self._me, object_id)
        return Route("unknown", self._unknown_path, object_id)

    def _route_edge(self, req: GraphRequest, object_id: str, edge: str) -> Route:
        edges = {
            ("media", "POST"): ("create", self._create),
            ("media", "GET"): ("media_list", self._media_list),
            ("stories", "GET"): ("stories", self._stories_list),
            ("media_publish", "POST"): ("publish", self._publish),
            ("content_publishing_limit", "GET"): ("limit", self._limit),
            ("comments", "POST"): ("comment", self._comment),
            ("comments", "GET"): ("comments", self._comment_list),
        }
        found = edges.get((edge, req.method))
        if found is None:
            return Route("unknown", self._unknown_path, f"{object_id}/{edge}")
        endpoint, handler = found
        if endpoint == "create":
            # Faults and the call log tell an item or a carousel from an image.
            endpoint = {"item": "create_item", "carousel": "create_carousel"}.get(
                create_kind(req.params), "create"
            )
        if edge == "comments":
            with self._lock:
                media = self._media.get(object_id)
            owner = media.ig_user_id if media else None
            return Route(endpoint, handler, object_id, owner)
        container_id = req.params.get("creation_id") if endpoint == "publish" else None
        return Route(endpoint, handler, object_id, object_id, container_id)

    def _node_type(self, object_id: str) -> str | None:
        """Meta's node type name for an id, or None when no such object exists."""
        kinds = (
            (self._ig, "IGUser"),
            (self._containers, "ShadowIGMediaBuilder"),
            (self._media, "IGMedia"),
            (self._pages, "Page"),
            (self._users, "User"),
        )
        if object_id == "me":
            return "User"
        return next((name for table, name in kinds if object_id in table), None)

    def _unknown_path(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """Answer a path the simulator does not serve the way Graph does."""
        parts = (route.object_id or "").split("/")
        with self._lock:
            self._auth(req)
            node_type = self._node_type(parts[0])
        if node_type is None:
            raise unsupported(req.method, parts[0])
        if len(parts) == 2:
            raise GraphError(
                100,
                f"(#100) Tried accessing nonexisting field ({parts[1]}) on node type "
                f"({node_type})",
            )
        raise GraphError(2500, f"Unknown path components: /{'/'.join(parts[1:])}")
