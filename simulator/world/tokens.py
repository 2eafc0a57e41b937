"""Login and access tokens: minting, checking, exchanging and ``debug_token``.

``issue_token()`` plays the JS SDK's login; ``_auth()`` is the check every Graph
read and write starts with.
"""

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from simulator.constants import APP_NAME
from simulator.constants import DATA_ACCESS_SECONDS
from simulator.constants import DEFAULT_SCOPES
from simulator.errors import CODE_MESSAGES
from simulator.errors import GraphError
from simulator.errors import bad_token_error
from simulator.errors import expired_error
from simulator.errors import missing_param
from simulator.errors import session_error
from simulator.helpers import appsecret_proof
from simulator.helpers import b64url
from simulator.records import GraphRequest
from simulator.records import Page
from simulator.records import Route
from simulator.records import Token
from simulator.world.state import WorldState


class TokensMixin(WorldState):
    """Login (the JS SDK's token), token checks and the token endpoints."""

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

    def _auth(self, req: GraphRequest, *, about_me: bool = False) -> Token:
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
            raise bad_token_error()
        self._check_proof(req, token)
        problem = self._token_problem(token, time.time())
        if problem is not None:
            raise problem
        return token

    def _check_proof(self, req: GraphRequest, token: Token) -> None:
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

    def _token_problem(self, token: Token, now: float) -> GraphError | None:
        if token.revoked_subcode is not None:
            return session_error(token.revoked_subcode, token.fb_user_id, token.app_id)
        if token.expires_at and token.expires_at <= now:
            return expired_error(token.expires_at, now)
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
    ) -> Token:
        now = time.time()
        if ttl is None:
            expires_at = 0.0
        else:
            expires_at = now + (ttl if ttl > 0 else min(ttl, -1))
        value = "EAA" + secrets.token_hex(4) + "ZD" + secrets.token_hex(44)
        token = Token(value, fb_user_id, app_id, now, expires_at, scopes, kind, page_id)
        self._tokens[value] = token
        return token

    def _signed_request(self, token: Token) -> str:
        payload = {
            "algorithm": "HMAC-SHA256",
            "code": secrets.token_urlsafe(32),
            "issued_at": int(token.issued_at),
            "user_id": token.fb_user_id,
        }
        encoded = b64url(json.dumps(payload, separators=(",", ":")).encode())
        key = self._secret_for(token.app_id).encode()
        signature = hmac.new(key, encoded.encode(), hashlib.sha256).digest()
        return f"{b64url(signature)}.{encoded}"

    def _page_token(self, user_token: Token, page: Page) -> str:
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

    def _is_long(self, token: Token) -> bool:
        return token.expires_at - token.issued_at > self._settings.short_token_ttl

    def _exchange(self, req: GraphRequest, route: Route) -> dict[str, Any]:
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
            raise missing_param("fb_exchange_token")
        with self._lock:
            return self._exchange_token(params["fb_exchange_token"])

    def _exchange_token(self, value: str) -> dict[str, Any]:
        token = self._tokens.get(value)
        if token is None:
            raise bad_token_error()
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

    def _debug_token(self, req: GraphRequest, route: Route) -> dict[str, Any]:
        """``/debug_token``: inspect ``input_token`` with the app token."""
        with self._lock:
            self._check_app_token(req.token)
            value = req.params.get("input_token")
            if not value:
                raise GraphError(100, "(#100) The parameter input_token is required")
            token = self._tokens.get(value)
            if token is None:
                error = {"code": 190, "message": CODE_MESSAGES[190]}
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

    def _token_data(self, token: Token) -> dict[str, Any]:
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

    def _granular_scopes(self, token: Token) -> list[dict[str, Any]]:
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
