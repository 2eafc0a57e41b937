"""The simulated Meta: :class:`GraphWorld`.

It holds every user, token, container, post, fault and logged call, and answers
Graph calls in plain Python (no HTTP needed).
"""

import hashlib
import hmac
import json
import logging
import random
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

from simulator.constants import _BUILTIN_USERS
from simulator.constants import _STATUS_TEXT
from simulator.constants import _URL_SECRETS
from simulator.constants import _VERSION_RE
from simulator.constants import APP_NAME
from simulator.constants import DATA_ACCESS_SECONDS
from simulator.constants import DEFAULT_APP_ID
from simulator.constants import DEFAULT_APP_SECRET
from simulator.constants import DEFAULT_SCOPES
from simulator.constants import DEMO_USERS
from simulator.constants import ENDPOINTS
from simulator.constants import PAGE_SIZE
from simulator.errors import _CODE_MESSAGES
from simulator.errors import GraphError
from simulator.errors import _bad_token_error
from simulator.errors import _creation_failed
from simulator.errors import _expired_error
from simulator.errors import _media_expired
from simulator.errors import _media_not_found
from simulator.errors import _missing_param
from simulator.errors import _no_permission
from simulator.errors import _not_ready
from simulator.errors import _quota_reached
from simulator.errors import _session_error
from simulator.errors import _unsupported
from simulator.helpers import _b64url
from simulator.helpers import _create_params
from simulator.helpers import _cursor
from simulator.helpers import _ig_timestamp
from simulator.helpers import _iso
from simulator.helpers import _select
from simulator.helpers import _shortcode
from simulator.helpers import appsecret_proof
from simulator.imaging import _crawl
from simulator.imaging import _inspect_image
from simulator.records import _CONTAINER_FAULT_STATES
from simulator.records import _FAULT_MATCH_KEYS
from simulator.records import _FAULT_RESPONSE_KEYS
from simulator.records import GraphRequest
from simulator.records import Reply
from simulator.records import _Container
from simulator.records import _error_reply
from simulator.records import _Fault
from simulator.records import _fault_from_response
from simulator.records import _IgAccount
from simulator.records import _Media
from simulator.records import _Node
from simulator.records import _Page
from simulator.records import _random_fault
from simulator.records import _Route
from simulator.records import _Token
from simulator.records import _User
from simulator.settings import Settings

logger = logging.getLogger("ospost.simulator")


class _Ids:
    """Monotonic id sources; they never restart, so ids stay unique across resets."""

    def __init__(self) -> None:
        self._next = {
            "user": 10000000000101,
            "page": 200000000000101,
            "ig": 17841400000000101,
            "container": 17890000000000001,
            "media": 17920000000000001,
        }

    def take(self, kind: str) -> str:
        value = self._next[kind]
        self._next[kind] = value + 1
        return str(value)


class GraphWorld:
    """All simulator state (users, tokens, containers, media, faults, call log).

    Thread-safe: one re-entrant lock guards the state; network fetches and sleeps
    happen outside it.  Tests can drive it directly through its plain Python API.
    """

    def __init__(
        self,
        app_id: str = DEFAULT_APP_ID,
        app_secret: str = DEFAULT_APP_SECRET,
        **settings: Any,
    ) -> None:
        self.app_id = str(app_id)
        self.app_secret = app_secret
        self._defaults = Settings().updated(**settings)
        self._lock = threading.RLock()
        self._ids = _Ids()
        self.reset()

    # ----------------------------------------------------------- public Python API

    @property
    def settings(self) -> Settings:
        """The settings in force right now."""
        return self._settings

    @property
    def app_token(self) -> str:
        """The ``{app-id}|{app-secret}`` app token ``/debug_token`` accepts."""
        return f"{self.app_id}|{self.app_secret}"

    def configure(self, **settings: Any) -> None:
        """Change settings (see :class:`Settings`); a new ``seed`` reseeds faults."""
        with self._lock:
            self._settings = self._settings.updated(**settings)
            if "seed" in settings:
                self._rng = random.Random(self._settings.seed)

    def reset(self) -> None:
        """Return to the built-in users and this world's construction settings."""
        with self._lock:
            self._settings = self._defaults
            self._rng = random.Random(self._settings.seed)
            self._users: dict[str, _User] = {}
            self._pages: dict[str, _Page] = {}
            self._ig: dict[str, _IgAccount] = {}
            self._tokens: dict[str, _Token] = {}
            self._page_tokens: dict[tuple[str, str], str] = {}
            self._containers: dict[str, _Container] = {}
            self._media: dict[str, _Media] = {}
            self._faults: list[list[Any]] = []
            self._calls: list[dict[str, Any]] = []
            self._in_flight: list[str] = []
            for handle, name, pages in _BUILTIN_USERS:
                self._install_user(DEMO_USERS[handle], name, handle, pages)

    def add_user(self, name: str, pages: list[dict[str, Any]]) -> dict[str, Any]:
        """Create a Facebook user with Pages (optionally IG-linked); return its ids."""
        with self._lock:
            specs = []
            for page in pages:
                ig_username = page.get("ig_username")
                ig_id = self._ids.take("ig") if ig_username else None
                specs.append((self._ids.take("page"), page["name"], ig_id, ig_username))
            user_id = self._ids.take("user")
            self._install_user(user_id, name, None, specs)
            for spec, page in zip(specs, pages, strict=True):
                if page.get("tasks") is not None:
                    self._pages[spec[0]].tasks = tuple(page["tasks"])
            return self._user_summary(self._users[user_id])

    def users(self) -> list[dict[str, Any]]:
        """Return every user with their Pages and linked IG accounts."""
        with self._lock:
            return [self._user_summary(user) for user in self._users.values()]

    def issue_token(
        self,
        fb_user_id: str,
        app_id: str | None = None,
        expires_in: int | None = None,
        scopes: list[str] | None = None,
    ) -> dict[str, Any]:
        """Log a user in through the "JS SDK" and return an authResponse-like dict.

        ``fb_user_id`` may also be a DEMO_USERS handle.  ``app_id`` mints a token of
        another app; ``expires_in <= 0`` mints a token that is already expired.
        """
        with self._lock:
            user_id = self._resolve_user(fb_user_id)
            ttl = self._settings.short_token_ttl
            if expires_in is not None:
                ttl = int(expires_in)
            granted = tuple(scopes) if scopes is not None else DEFAULT_SCOPES
            token = self._mint(user_id, str(app_id or self.app_id), ttl, granted)
            return {
                "accessToken": token.value,
                "expiresIn": max(int(ttl), 0),
                "userID": user_id,
                "grantedScopes": ",".join(granted),
                "signedRequest": self._signed_request(token),
            }

    def invalidate_tokens(self, fb_user_id: str, subcode: int = 460) -> None:
        """Kill every token of a user (e.g. password change): 190/<subcode> from now."""
        with self._lock:
            user_id = self._resolve_user(fb_user_id)
            for token in self._tokens.values():
                if token.fb_user_id == user_id:
                    token.revoked_subcode = int(subcode)

    def add_fault(
        self, match: dict[str, Any], response: dict[str, Any], times: int | None = 1
    ) -> None:
        """Script a fault for calls matching ``match``; ``times=None`` means forever."""
        unknown = set(match) - _FAULT_MATCH_KEYS | set(response) - _FAULT_RESPONSE_KEYS
        if unknown:
            raise ValueError(f"unknown fault key(s): {', '.join(sorted(unknown))}")
        endpoint = match.get("endpoint", "*")
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {ENDPOINTS}")
        state = response.get("container_status")
        if state is not None and state not in _CONTAINER_FAULT_STATES:
            raise ValueError("container_status must be ERROR or EXPIRED")
        if times is not None and int(times) < 1:
            raise ValueError("times must be a positive number or None")
        with self._lock:
            self._faults.append([dict(match), dict(response), times])

    def published(self) -> list[dict[str, Any]]:
        """Return every live post created by ``media_publish``, oldest first."""
        with self._lock:
            return [self._published_record(media) for media in self._media.values()]

    def calls(self) -> list[dict[str, Any]]:
        """Return the log of every Graph call (control endpoints are not logged)."""
        with self._lock:
            return [dict(call) for call in self._calls]

    def containers(self) -> list[dict[str, Any]]:
        """Return every media container with its current ``status_code``."""
        with self._lock:
            now = time.time()
            return [
                self._container_record(item, now) for item in self._containers.values()
            ]

    def has_ig_account(self, ig_user_id: str) -> bool:
        """Tell whether an IG business account with this id exists."""
        with self._lock:
            return ig_user_id in self._ig

    # ----------------------------------------------------------- request handling

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
            fault = self._next_fault(req, route)
            reply = self._answer(req, route, fault)
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

    def _answer(self, req: GraphRequest, route: _Route, fault: _Fault | None) -> Reply:
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
            and route.endpoint == "create"
            and reply.status == 200
        ):
            self._force_container(reply.body["id"], fault)
        if fault.after and fault.delay > 0:
            time.sleep(fault.delay)
        final = failure or reply
        final.fault = fault.label
        return final

    def _invoke(self, req: GraphRequest, route: _Route) -> Reply:
        try:
            return Reply(200, route.handler(req, route))
        except GraphError as error:
            return _error_reply(error)

    def _next_fault(self, req: GraphRequest, route: _Route) -> _Fault | None:
        """Consume the first matching scripted fault, else maybe draw a random one."""
        with self._lock:
            token = self._tokens.get(req.token or "")
            facts = {
                "endpoint": route.endpoint,
                "ig_user_id": route.ig_user_id,
                "fb_user_id": token.fb_user_id if token else None,
                "container_id": route.container_id,
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
                return _fault_from_response(response, user, self.app_id)
            settings = self._settings
            if settings.fail_rate > 0 and self._rng.random() < settings.fail_rate:
                kind = self._rng.choice(settings.fail_kinds)
                return _random_fault(kind, route.endpoint, settings)
        return None

    @staticmethod
    def _fault_matches(match: dict[str, Any], facts: dict[str, Any]) -> bool:
        for key, wanted in match.items():
            if key == "endpoint" and wanted == "*":
                continue
            if facts.get(key) != str(wanted):
                return False
        return True

    def _force_container(self, container_id: str, fault: _Fault) -> None:
        with self._lock:
            container = self._containers.get(container_id)
            if container is not None and container.media_id is None:
                container.forced_status = fault.container_status
                container.forced_detail = fault.container_detail

    def _log_call(
        self, req: GraphRequest, route: _Route, reply: Reply, started: float
    ) -> None:
        body = reply.body if isinstance(reply.body, dict) else {}
        container_id = route.container_id
        media_id = None
        if reply.status == 200 and route.endpoint == "create":
            container_id = body.get("id")
        if reply.status == 200 and route.endpoint in ("publish", "media"):
            media_id = body.get("id")
        with self._lock:
            token = self._tokens.get(req.token or "")
            self._calls.append(
                {
                    "t": _iso(started),
                    "method": req.method,
                    "endpoint": route.endpoint,
                    "path": req.path,
                    "ig_user_id": route.ig_user_id,
                    "container_id": container_id,
                    "media_id": media_id,
                    "fb_user_id": token.fb_user_id if token else None,
                    "status": reply.status,
                    "error_code": reply.error_code,
                    "fault": reply.fault,
                    "token_in_url": req.token_in_url,
                }
            )

    # ----------------------------------------------------------- routing

    def _route(self, req: GraphRequest) -> _Route:
        parts = [part for part in req.path.split("/") if part]
        if parts and _VERSION_RE.fullmatch(parts[0]):
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
            return _Route(endpoint, handler, object_id=parts[0])
        if len(parts) == 1:
            return self._route_object(parts[0])
        if len(parts) == 2:
            return self._route_edge(req, parts[0], parts[1])
        return _Route("unknown", self._unknown_path, object_id=key)

    def _route_object(self, object_id: str) -> _Route:
        with self._lock:
            if object_id in self._ig:
                return _Route("ig_user", self._ig_user, object_id, ig_user_id=object_id)
            if object_id in self._containers:
                owner = self._containers[object_id].ig_user_id
                return _Route("status", self._status, object_id, owner, object_id)
            if object_id in self._media:
                owner = self._media[object_id].ig_user_id
                return _Route("media", self._media_object, object_id, owner)
            if object_id in self._pages:
                ig_user_id = self._pages[object_id].ig_user_id
                return _Route("page", self._page, object_id, ig_user_id)
            if object_id in self._users:
                return _Route("me", self._me, object_id)
        return _Route("unknown", self._unknown_path, object_id)

    def _route_edge(self, req: GraphRequest, object_id: str, edge: str) -> _Route:
        edges = {
            ("media", "POST"): ("create", self._create),
            ("media", "GET"): ("media_list", self._media_list),
            ("media_publish", "POST"): ("publish", self._publish),
            ("content_publishing_limit", "GET"): ("limit", self._limit),
        }
        found = edges.get((edge, req.method))
        if found is None:
            return _Route("unknown", self._unknown_path, f"{object_id}/{edge}")
        endpoint, handler = found
        container_id = req.params.get("creation_id") if endpoint == "publish" else None
        return _Route(endpoint, handler, object_id, object_id, container_id)

    # ----------------------------------------------------------- auth

    def _auth(self, req: GraphRequest, *, about_me: bool = False) -> _Token:
        """Return the caller's live token or raise Meta's error for it (lock held)."""
        if not req.token:
            if about_me:
                raise GraphError(
                    2500,
                    "An active access token must be used to query information about "
                    "the current user.",
                )
            raise GraphError(
                104, "An access token is required to request this resource."
            )
        token = self._tokens.get(req.token)
        if token is None:
            raise _bad_token_error()
        self._check_proof(req, token)
        problem = self._token_problem(token, time.time())
        if problem is not None:
            raise problem
        return token

    def _check_proof(self, req: GraphRequest, token: _Token) -> None:
        proof = req.params.get("appsecret_proof")
        if proof is None:
            if self._settings.require_appsecret_proof:
                raise GraphError(
                    100,
                    "API calls from the server require an appsecret_proof argument",
                    kind="GraphMethodException",
                )
            return
        expected = appsecret_proof(token.value, self._secret_for(token.app_id))
        if not hmac.compare_digest(proof, expected):
            raise GraphError(
                100,
                "Invalid appsecret_proof provided in the API argument",
                kind="GraphMethodException",
            )

    def _secret_for(self, app_id: str) -> str:
        # Tokens of other apps are signed with that app's (unknown to us) secret.
        return self.app_secret if app_id == self.app_id else f"secret-of-{app_id}"

    def _token_problem(self, token: _Token, now: float) -> GraphError | None:
        if token.revoked_subcode is not None:
            return _session_error(token.revoked_subcode, token.fb_user_id, token.app_id)
        if token.expires_at and token.expires_at <= now:
            return _expired_error(token.expires_at, now)
        return None

    def _mint(
        self,
        fb_user_id: str,
        app_id: str,
        ttl: float | None,
        scopes: tuple[str, ...],
        *,
        kind: str = "USER",
        page_id: str | None = None,
    ) -> _Token:
        now = time.time()
        if ttl is None:
            expires_at = 0.0
        else:
            expires_at = now + (ttl if ttl > 0 else min(ttl, -1))
        value = "EAA" + secrets.token_hex(4) + "ZD" + secrets.token_hex(44)
        token = _Token(
            value, fb_user_id, app_id, now, expires_at, scopes, kind, page_id
        )
        self._tokens[value] = token
        return token

    def _signed_request(self, token: _Token) -> str:
        payload = {
            "algorithm": "HMAC-SHA256",
            "code": secrets.token_urlsafe(32),
            "issued_at": int(token.issued_at),
            "user_id": token.fb_user_id,
        }
        encoded = _b64url(json.dumps(payload, separators=(",", ":")).encode())
        key = self._secret_for(token.app_id).encode()
        signature = hmac.new(key, encoded.encode(), hashlib.sha256).digest()
        return f"{_b64url(signature)}.{encoded}"

    def _page_token(self, user_token: _Token, page: _Page) -> str:
        """Mint (once) the Page token ``/me/accounts`` hands out with a user token."""
        key = (user_token.value, page.id)
        if key not in self._page_tokens:
            # Meta: no expiry when derived from a long-lived user token, else 1 hour.
            ttl = None
            if not self._is_long(user_token):
                ttl = max(user_token.expires_at - time.time(), 1)
            token = self._mint(
                user_token.fb_user_id,
                user_token.app_id,
                ttl,
                user_token.scopes,
                kind="PAGE",
                page_id=page.id,
            )
            self._page_tokens[key] = token.value
        return self._page_tokens[key]

    def _is_long(self, token: _Token) -> bool:
        return token.expires_at - token.issued_at > self._settings.short_token_ttl

    # ----------------------------------------------------------- users and pages

    def _resolve_user(self, ref: str) -> str:
        ref = str(ref)
        if ref in self._users:
            return ref
        if ref in DEMO_USERS and DEMO_USERS[ref] in self._users:
            return DEMO_USERS[ref]
        raise LookupError(f"unknown Facebook user {ref!r}")

    def _install_user(self, user_id: str, name: str, handle: str | None, pages) -> None:
        user = _User(user_id, name, handle)
        for page_id, page_name, ig_id, ig_username in pages:
            self._pages[page_id] = _Page(page_id, page_name, user_id, ig_id)
            if ig_id:
                self._ig[ig_id] = _IgAccount(ig_id, ig_username, page_name, page_id)
            user.page_ids.append(page_id)
        self._users[user_id] = user

    def _user_summary(self, user: _User) -> dict[str, Any]:
        pages = []
        for page_id in user.page_ids:
            page = self._pages[page_id]
            ig = self._ig.get(page.ig_user_id or "")
            pages.append(
                {
                    "id": page.id,
                    "name": page.name,
                    "ig_user_id": page.ig_user_id,
                    "ig_username": ig.username if ig else None,
                }
            )
        return {"fb_user_id": user.id, "name": user.name, "pages": pages}

    def _manages(self, fb_user_id: str, ig_user_id: str) -> bool:
        account = self._ig.get(ig_user_id)
        if account is None:
            return False
        page = self._pages[account.page_id]
        can_post = {"MANAGE", "CREATE_CONTENT"} & set(page.tasks)
        return page.owner_id == fb_user_id and bool(can_post)

    def _managed_ig(self, token: _Token, ig_user_id: str, method: str) -> _IgAccount:
        """Return the IG account if the token's user manages it, else Meta's error."""
        account = self._ig.get(ig_user_id)
        if account is None:
            raise _unsupported(method, ig_user_id)
        if not self._manages(token.fb_user_id, ig_user_id):
            if method == "GET":
                raise _unsupported(method, ig_user_id)
            raise _no_permission()
        return account

    @staticmethod
    def _require_scope(token: _Token, scope: str) -> None:
        if scope not in token.scopes:
            raise _no_permission()

    def _ig_values(self, account: _IgAccount, base_url: str) -> _Node:
        def media_count() -> int:  # computed only when the field is asked for
            return sum(1 for m in self._media.values() if m.ig_user_id == account.id)

        return _Node(
            id=account.id,
            username=account.username,
            name=account.name,
            profile_picture_url=f"{base_url}_sim/avatar/{account.id}.png",
            followers_count=1000 + int(account.id) % 9000,
            follows_count=100 + int(account.id) % 400,
            media_count=media_count,
            biography="",
            website="",
        )

    def _page_values(self, page: _Page, token: _Token, base_url: str) -> _Node:
        values = _Node(
            id=page.id,
            name=page.name,
            category="Brand",
            tasks=list(page.tasks),
            access_token=lambda: self._page_token(token, page),
        )
        if page.ig_user_id:
            account = self._ig[page.ig_user_id]
            values["instagram_business_account"] = self._ig_values(account, base_url)
        return values

    def _paginate(self, req: GraphRequest, items: list[dict[str, Any]]):
        """Page a result list with Meta's ``limit``/``after`` cursors and ``paging``."""
        try:
            limit = min(max(int(req.params.get("limit", PAGE_SIZE)), 1), 100)
        except ValueError:
            limit = PAGE_SIZE
        cursors = [_cursor(item["id"]) for item in items]
        after = req.params.get("after")
        start = cursors.index(after) + 1 if after in cursors else 0
        chunk = items[start : start + limit]
        if not chunk:
            return {"data": []}
        paging: dict[str, Any] = {
            "cursors": {
                "before": cursors[start],
                "after": cursors[start + len(chunk) - 1],
            }
        }
        if start + limit < len(items):
            query = {k: v for k, v in req.params.items() if k not in _URL_SECRETS}
            if req.token_in_url and req.token:
                query["access_token"] = req.token
            query.update(limit=str(limit), after=paging["cursors"]["after"])
            path = req.path.lstrip("/")
            paging["next"] = f"{req.base_url}{path}?{urlencode(query)}"
        return {"data": chunk, "paging": paging}

    # ----------------------------------------------------------- token endpoints

    def _exchange(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``/oauth/access_token``: fb_exchange_token (and client_credentials)."""
        params = req.params
        if not params.get("client_id"):
            raise GraphError(101, "Missing client_id parameter.")
        if params["client_id"] != self.app_id:
            raise GraphError(
                101, "Error validating application. Invalid application ID."
            )
        if params.get("client_secret") != self.app_secret:
            raise GraphError(1, "Error validating client secret.")
        grant_type = params.get("grant_type")
        if grant_type == "client_credentials":
            return {"access_token": self.app_token, "token_type": "bearer"}
        if grant_type != "fb_exchange_token":
            raise GraphError(100, f"(#100) Unsupported grant_type: {grant_type}")
        if not params.get("fb_exchange_token"):
            raise _missing_param("fb_exchange_token")
        with self._lock:
            return self._exchange_token(params["fb_exchange_token"])

    def _exchange_token(self, value: str) -> dict[str, Any]:
        token = self._tokens.get(value)
        if token is None:
            raise _bad_token_error()
        if token.app_id != self.app_id:
            raise GraphError(
                190,
                "Error validating access token: The access token does not belong to "
                f"application {self.app_id}",
            )
        problem = self._token_problem(token, time.time())
        if problem is not None:
            raise problem
        ttl = self._settings.long_token_ttl
        fresh = self._mint(token.fb_user_id, token.app_id, ttl, token.scopes)
        return {"access_token": fresh.value, "token_type": "bearer", "expires_in": ttl}

    def _debug_token(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``/debug_token``: inspect ``input_token`` with the app token."""
        with self._lock:
            self._check_app_token(req.token)
            value = req.params.get("input_token")
            if not value:
                raise GraphError(100, "(#100) The parameter input_token is required")
            token = self._tokens.get(value)
            if token is None:
                error = {"code": 190, "message": _CODE_MESSAGES[190]}
                return {"data": {"error": error, "is_valid": False, "scopes": []}}
            if token.app_id != self.app_id:
                raise GraphError(
                    100,
                    "(#100) The App_id in the input_token did not match the Viewing "
                    "App",
                )
            return {"data": self._token_data(token)}

    def _check_app_token(self, value: str | None) -> None:
        if not value:
            raise GraphError(
                104, "An access token is required to request this resource."
            )
        if "|" not in value:
            raise GraphError(
                100,
                "(#100) You must provide an app access token, or a user access token "
                "that is an owner or developer of the app",
            )
        if value != self.app_token:
            raise GraphError(190, "Invalid OAuth access token signature.")

    def _token_data(self, token: _Token) -> dict[str, Any]:
        data: dict[str, Any] = {
            "app_id": token.app_id,
            "type": token.kind,
            "application": APP_NAME,
            "data_access_expires_at": int(token.issued_at + DATA_ACCESS_SECONDS),
            "expires_at": int(token.expires_at),
            "is_valid": True,
            "issued_at": int(token.issued_at),
            "scopes": list(token.scopes),
            "granular_scopes": self._granular_scopes(token),
            "user_id": token.fb_user_id,
        }
        if token.page_id:
            data["profile_id"] = token.page_id
        problem = self._token_problem(token, time.time())
        if problem is not None:
            data["is_valid"] = False
            data["error"] = {
                "code": problem.code,
                "message": problem.message,
                "subcode": problem.subcode,
            }
        return data

    def _granular_scopes(self, token: _Token) -> list[dict[str, Any]]:
        user = self._users.get(token.fb_user_id)
        page_ids = list(user.page_ids) if user else []
        ig_ids = [
            self._pages[p].ig_user_id for p in page_ids if self._pages[p].ig_user_id
        ]
        targets = {
            "pages_show_list": page_ids,
            "pages_read_engagement": page_ids,
            "instagram_basic": ig_ids,
            "instagram_content_publish": ig_ids,
        }
        granular = []
        for scope in token.scopes:
            entry: dict[str, Any] = {"scope": scope}
            if scope in targets:
                entry["target_ids"] = targets[scope]
            granular.append(entry)
        return granular

    # ----------------------------------------------------------- user, pages, IG

    def _me(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``/me`` (or ``/{user-id}`` of the caller): the Facebook user."""
        if req.method != "GET":
            raise _unsupported(req.method, route.object_id or "me")
        with self._lock:
            token = self._auth(req, about_me=True)
            if route.object_id not in ("me", token.fb_user_id):
                raise _unsupported(req.method, route.object_id or "")
            user = self._users[token.fb_user_id]
            values = {"id": user.id, "name": user.name}
            return _select(values, req.params.get("fields"), ("name", "id"))

    def _accounts(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``/me/accounts``: the caller's Pages (IG account only when linked)."""
        if req.method != "GET":
            raise _unsupported(req.method, "me")
        with self._lock:
            token = self._auth(req, about_me=True)
            user = self._users[token.fb_user_id]
            shown = user.page_ids if "pages_show_list" in token.scopes else []
            spec = req.params.get("fields")
            default = ("access_token", "category", "name", "id", "tasks")
            items = [
                _select(
                    self._page_values(self._pages[pid], token, req.base_url),
                    spec,
                    default,
                )
                for pid in shown
            ]
            return self._paginate(req, items)

    def _page(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``/{page-id}``: a Page the caller manages."""
        with self._lock:
            token = self._auth(req)
            page = self._pages[route.object_id or ""]
            if page.owner_id != token.fb_user_id or req.method != "GET":
                raise _unsupported(req.method, page.id)
            values = self._page_values(page, token, req.base_url)
            return _select(values, req.params.get("fields"), ("name", "id"))

    def _ig_user(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``/{ig-user-id}``: the IG business account profile."""
        with self._lock:
            token = self._auth(req)
            account = self._managed_ig(token, route.object_id or "", "GET")
            if req.method != "GET":
                raise _unsupported(req.method, account.id)
            self._require_scope(token, "instagram_basic")
            values = self._ig_values(account, req.base_url)
            return _select(values, req.params.get("fields"), ("id",))

    # ----------------------------------------------------------- publishing

    def _create(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``POST /{ig-user-id}/media``: crawl the image and make a container."""
        ig_user_id = route.ig_user_id or ""
        with self._lock:
            token = self._auth(req)
            self._managed_ig(token, ig_user_id, "POST")
            self._require_scope(token, "instagram_content_publish")
            timeout = self._settings.crawler_timeout
        image_url, caption, alt_text = _create_params(req.params)
        data = _crawl(image_url, timeout)  # outside the lock: may hit this server
        image_format, width, height = _inspect_image(data)
        with self._lock:
            container = _Container(
                id=self._ids.take("container"),
                ig_user_id=ig_user_id,
                fb_user_id=token.fb_user_id,
                image_url=image_url,
                caption=caption,
                alt_text=alt_text,
                image_sha256=hashlib.sha256(data).hexdigest(),
                width=width,
                height=height,
                size=len(data),
                image_format=image_format,
                created_at=time.time(),
            )
            self._containers[container.id] = container
        return {"id": container.id}

    def _container_status(self, container: _Container, now: float) -> str:
        if container.media_id is not None:
            return "PUBLISHED"
        if container.forced_status:
            return container.forced_status
        age = now - container.created_at
        if age >= self._settings.container_ttl:
            return "EXPIRED"
        if age >= self._settings.container_ready_after:
            return "FINISHED"
        return "IN_PROGRESS"

    def _status_text(self, container: _Container, status_code: str) -> str:
        if status_code == container.forced_status and container.forced_detail:
            return container.forced_detail
        return _STATUS_TEXT[status_code]

    def _status(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``GET /{container-id}``: IN_PROGRESS, FINISHED, PUBLISHED, EXPIRED, ERROR."""
        with self._lock:
            token = self._auth(req)
            container = self._containers[route.container_id or ""]
            if req.method != "GET" or not self._manages(
                token.fb_user_id, container.ig_user_id
            ):
                raise _unsupported(req.method, container.id)
            code = self._container_status(container, time.time())
            values = {
                "id": container.id,
                "status_code": code,
                "status": self._status_text(container, code),
            }
            return _select(values, req.params.get("fields"), ("id",))

    def _publish(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``POST /{ig-user-id}/media_publish``: make a FINISHED container a post."""
        ig_user_id = route.ig_user_id or ""
        with self._lock:
            token = self._auth(req)
            self._managed_ig(token, ig_user_id, "POST")
            self._require_scope(token, "instagram_content_publish")
            creation_id = req.params.get("creation_id")
            if not creation_id:
                raise _missing_param("creation_id")
            container = self._containers.get(creation_id)
            if container is None or container.ig_user_id != ig_user_id:
                raise _media_not_found(creation_id)
            now = time.time()
            self._check_publishable(container, now)
            self._check_quota(ig_user_id, now)
            media = self._make_media(container, now)
            return {"id": media.id}

    def _check_publishable(self, container: _Container, now: float) -> None:
        status_code = self._container_status(container, now)
        if status_code == "PUBLISHED":
            raise _media_not_found(container.id, "has already been published")
        if status_code == "EXPIRED":
            raise _media_expired()
        if status_code == "ERROR":
            raise _creation_failed()
        if status_code != "FINISHED":
            raise _not_ready()

    def _quota_usage(self, ig_user_id: str, since: float) -> int:
        return sum(
            1
            for media in self._media.values()
            if media.ig_user_id == ig_user_id and media.published_at > since
        )

    def _check_quota(self, ig_user_id: str, now: float) -> None:
        total = self._settings.quota_total
        window_start = now - self._settings.quota_duration
        if self._quota_usage(ig_user_id, window_start) >= total:
            raise _quota_reached(total)

    def _make_media(self, container: _Container, now: float) -> _Media:
        media_id = self._ids.take("media")
        media = _Media(
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
            shortcode=_shortcode(media_id),
        )
        container.media_id = media_id
        self._media[media_id] = media
        logger.info("published media %s on IG account %s", media_id, media.ig_user_id)
        return media

    def _limit(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``GET /{ig-user-id}/content_publishing_limit``: usage in the window."""
        with self._lock:
            token = self._auth(req)
            account = self._managed_ig(token, route.ig_user_id or "", "GET")
            settings = self._settings
            since = time.time() - settings.quota_duration
            try:
                since = max(since, float(req.params.get("since", since)))
            except ValueError:
                pass
            values = {
                "quota_usage": self._quota_usage(account.id, since),
                "config": {
                    "quota_total": settings.quota_total,
                    "quota_duration": int(settings.quota_duration),
                },
            }
            return {
                "data": [_select(values, req.params.get("fields"), ("quota_usage",))]
            }

    def _media_values(self, media: _Media) -> dict[str, Any]:
        values: dict[str, Any] = {
            "id": media.id,
            "media_type": "IMAGE",
            "media_product_type": "FEED",
            "media_url": media.image_url,
            "permalink": f"https://www.instagram.com/p/{media.shortcode}/",
            "shortcode": media.shortcode,
            "timestamp": _ig_timestamp(media.published_at),
            "username": self._ig[media.ig_user_id].username,
            "owner": _Node(id=media.ig_user_id),
            "like_count": 0,
            "comments_count": 0,
            "is_comment_enabled": True,
        }
        if media.caption:
            values["caption"] = media.caption
        if media.alt_text:
            values["alt_text"] = media.alt_text
        return values

    def _media_list(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``GET /{ig-user-id}/media``: the account's posts, newest first."""
        with self._lock:
            token = self._auth(req)
            account = self._managed_ig(token, route.ig_user_id or "", "GET")
            spec = req.params.get("fields")
            posts = [m for m in self._media.values() if m.ig_user_id == account.id]
            items = [_select(self._media_values(m), spec, ("id",)) for m in posts[::-1]]
            return self._paginate(req, items)

    def _media_object(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """``GET /{ig-media-id}``: one published post."""
        with self._lock:
            token = self._auth(req)
            media = self._media[route.object_id or ""]
            if req.method != "GET" or not self._manages(
                token.fb_user_id, media.ig_user_id
            ):
                raise _unsupported(req.method, media.id)
            return _select(self._media_values(media), req.params.get("fields"), ("id",))

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

    def _unknown_path(self, req: GraphRequest, route: _Route) -> dict[str, Any]:
        """Answer a path the simulator does not serve the way Graph does."""
        parts = (route.object_id or "").split("/")
        with self._lock:
            self._auth(req)
            node_type = self._node_type(parts[0])
        if node_type is None:
            raise _unsupported(req.method, parts[0])
        if len(parts) == 2:
            raise GraphError(
                100,
                f"(#100) Tried accessing nonexisting field ({parts[1]}) on node type "
                f"({node_type})",
            )
        raise GraphError(2500, f"Unknown path components: /{'/'.join(parts[1:])}")

    # ----------------------------------------------------------- records

    @staticmethod
    def _published_record(media: _Media) -> dict[str, Any]:
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
            "published_at": _iso(media.published_at),
        }

    def _container_record(self, container: _Container, now: float) -> dict[str, Any]:
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
            "created_at": _iso(container.created_at),
            "status_code": status_code,
            "status": self._status_text(container, status_code),
            "media_id": container.media_id,
        }
