"""The one place Ospost talks to Meta's Graph API.

Every request has a timeout, carries the access token in the ``Authorization``
header (never in a URL that could end up in a log), adds ``appsecret_proof``, and
turns Meta's error bodies into ``GraphError`` with its code and subcode. Meta's
rate-limit headers (``X-App-Usage``, ``X-Business-Use-Case-Usage``) are read from
every answer into ``Usage`` (``GraphClient.last_usage``, ``GraphError.usage``),
so callers that can wait, like the feed refresh, slow down before Meta blocks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote
from urllib.parse import urlsplit

import urllib3

from ospost.graph_errors import ErrorKind
from ospost.graph_errors import GraphError
from ospost.graph_errors import GraphNetworkError
from ospost.graph_errors import Usage
from ospost.graph_errors import as_int
from ospost.graph_errors import classify
from ospost.graph_errors import parse_usage
from ospost.graph_video import VideoCalls

log = logging.getLogger(__name__)

# Meta's errors and usage live in ospost.graph_errors; callers import them here.
__all__ = [
    "ErrorKind",
    "GraphClient",
    "GraphError",
    "GraphNetworkError",
    "GraphTransport",
    "Usage",
    "classify",
    "client_for",
    "parse_usage",
]


@dataclass(frozen=True)
class MediaPage:
    """One page of an account's posts and the cursor of the next (None: last)."""

    items: list[dict]
    after: str | None


@dataclass(frozen=True)
class Page:
    id: str
    name: str
    ig_user_id: str | None
    # What this person may do on the Page (Meta's ``tasks``); None: not said.
    tasks: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ExchangedToken:
    token: str
    expires_in: int | None


# What the grid needs of each post (graph-api.md §7.6).
FEED_FIELDS = (
    "id,media_type,media_product_type,media_url,thumbnail_url,permalink,"
    "timestamp,caption"
)


class GraphTransport:
    """How a call reaches Meta: the connection pool, timeouts, the token in a
    header with its ``appsecret_proof``, and Meta's answer parsed or raised as
    a ``GraphError``."""

    def __init__(
        self,
        endpoint: str,
        app_id: str,
        app_secret: str,
        *,
        timeout: float | tuple[float, float] = (3.05, 20),
    ) -> None:
        self.endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        self.app_id = app_id
        self.app_secret = app_secret
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        self.timeout = urllib3.Timeout(connect=connect, read=read)
        self._http: urllib3.PoolManager | None = None
        self._cdn: dict[str, urllib3.PoolManager] = {}
        # Meta's rate-limit headers of the latest answer that had them.
        self.last_usage: Usage | None = None

    @property
    def http(self) -> urllib3.PoolManager:
        """The connection pool, made on first use (a bad proxy setting then
        fails the call as a network error instead of crashing the caller)."""
        if self._http is None:
            self._http = _pool(self.endpoint)
        return self._http

    # -- plumbing -----------------------------------------------------------

    def _proof(self, token: str) -> str:
        return hmac.new(
            self.app_secret.encode(), token.encode(), hashlib.sha256
        ).hexdigest()

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> dict:
        """Call ``path`` and return Meta's JSON, or raise ``GraphError``."""
        headers = {"Accept": "application/json"}
        params = dict(params or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
            params["appsecret_proof"] = self._proof(token)
        url = self.endpoint + path.lstrip("/")
        # No retries here: the publishing engine decides when to try again.
        options = {"headers": headers, "timeout": self.timeout, "retries": False}
        try:
            if method == "GET":
                resp = self.http.request_encode_url(
                    method, url, fields=_text(params), **options
                )
            else:  # a form body, as in Meta's examples
                resp = self.http.request_encode_body(
                    method,
                    url,
                    fields=_text({**params, **(data or {})}),
                    encode_multipart=False,
                    **options,
                )
        except urllib3.exceptions.HTTPError as exc:
            log.warning("graph %s /%s failed: %s", method, path, type(exc).__name__)
            raise GraphNetworkError(
                f"Could not reach Instagram ({type(exc).__name__})"
            ) from exc
        return self._parse(method, path, resp)

    def _parse(self, method: str, path: str, resp: urllib3.BaseHTTPResponse) -> dict:
        usage = parse_usage(resp.headers)
        if usage is not None:
            self.last_usage = usage
            if usage.is_high():
                log.warning(
                    "graph %s /%s: rate-limit usage %s%%, regain in %s min",
                    method,
                    path,
                    usage.highest,
                    usage.regain_minutes,
                )
        try:
            body = json.loads(resp.data)
        except (ValueError, RecursionError):
            # Not JSON, or a nesting bomb from a broken (or fake) upstream:
            # either way no answer from Meta, never a crash in our request.
            body = None
        if resp.status < 400 and isinstance(body, dict) and "error" not in body:
            return body
        err = (body or {}).get("error") if isinstance(body, dict) else None
        if not isinstance(err, dict):
            log.warning("graph %s /%s -> HTTP %s", method, path, resp.status)
            raise GraphNetworkError(
                f"Instagram answered with HTTP {resp.status}",
                http_status=resp.status,
                usage=usage,
            )
        error = GraphError(
            err.get("message") or "Unknown Graph API error",
            code=as_int(err.get("code")),
            subcode=as_int(err.get("error_subcode")),
            http_status=resp.status,
            user_title=err.get("error_user_title"),
            user_msg=err.get("error_user_msg"),
            fbtrace_id=err.get("fbtrace_id"),
            error_type=err.get("type"),
            usage=usage,
        )
        log.warning(
            "graph %s /%s -> %s code=%s subcode=%s fbtrace_id=%s",
            method,
            path,
            resp.status,
            error.code,
            error.subcode,
            error.fbtrace_id,
        )
        raise error


class GraphClient(VideoCalls, GraphTransport):
    """A small typed wrapper over the Graph API endpoints Ospost uses (Reels and
    Stories: ``graph_video.VideoCalls``)."""

    # -- login ----------------------------------------------------------------

    def debug_token(self, input_token: str) -> dict:
        """Ask Meta who a browser token belongs to (checked with our app token)."""
        body = self.request(
            "GET",
            "debug_token",
            token=f"{self.app_id}|{self.app_secret}",
            params={"input_token": input_token},
        )
        return body.get("data") or {}

    def exchange_token(self, short_lived: str) -> ExchangedToken:
        """Trade a short-lived browser token for a ~60-day one."""
        body = self.request(
            "POST",
            "oauth/access_token",
            data={
                "grant_type": "fb_exchange_token",
                "client_id": self.app_id,
                "client_secret": self.app_secret,
                "fb_exchange_token": short_lived,
            },
        )
        if not body.get("access_token"):
            raise GraphError("Meta did not return a long-lived token")
        return ExchangedToken(body["access_token"], as_int(body.get("expires_in")))

    def pages(self, token: str) -> list[Page]:
        """The Facebook Pages this person manages, with their linked IG account."""
        body = self.request(
            "GET",
            "me/accounts",
            token=token,
            params={
                "fields": "id,name,tasks,instagram_business_account",
                "limit": 100,
            },
        )
        return [
            Page(
                id=str(p.get("id")),
                name=p.get("name") or "",
                ig_user_id=(p.get("instagram_business_account") or {}).get("id"),
                tasks=tuple(p["tasks"]) if isinstance(p.get("tasks"), list) else None,
            )
            for p in body.get("data") or []
        ]

    def ig_profile(self, ig_user_id: str, token: str) -> dict:
        """Username and picture of an Instagram business account."""
        return self.request(
            "GET",
            ig_user_id,
            token=token,
            params={"fields": "id,username,profile_picture_url,name"},
        )

    # -- publishing -----------------------------------------------------------

    def create_container(
        self,
        ig_user_id: str,
        token: str,
        *,
        image_url: str,
        caption: str,
        alt_text: str,
        user_tags: list[dict] | None = None,
        collaborators: list[str] | None = None,
    ) -> str:
        """Ask Meta to fetch our image and prepare a post; returns the container id."""
        data = {"image_url": image_url, "caption": caption}
        _add_media_fields(data, alt_text, user_tags)
        if collaborators:
            data["collaborators"] = _json(collaborators)
        return self._create(ig_user_id, token, data)

    def create_carousel_item(
        self,
        ig_user_id: str,
        token: str,
        *,
        image_url: str,
        alt_text: str,
        user_tags: list[dict] | None = None,
    ) -> str:
        """Prepare one image of a carousel (no caption or collaborators: Meta
        refuses them on items); returns its container id."""
        data = {"image_url": image_url, "is_carousel_item": "true"}
        _add_media_fields(data, alt_text, user_tags)
        return self._create(ig_user_id, token, data)

    def create_carousel(
        self,
        ig_user_id: str,
        token: str,
        *,
        children: list[str],
        caption: str,
        collaborators: list[str] | None = None,
    ) -> str:
        """Prepare a carousel post from finished item containers, in order;
        returns the carousel container id (published like any container)."""
        data = {"media_type": "CAROUSEL", "children": ",".join(children)}
        data["caption"] = caption
        if collaborators:
            data["collaborators"] = _json(collaborators)
        return self._create(ig_user_id, token, data)

    def _create(self, ig_user_id: str, token: str, data: dict) -> str:
        body = self.request("POST", f"{ig_user_id}/media", token=token, data=data)
        return str(body["id"])

    def container_status(self, container_id: str, token: str) -> tuple[str, str | None]:
        """(status_code, status) of a container: IN_PROGRESS, FINISHED, ERROR..."""
        body = self.request(
            "GET", container_id, token=token, params={"fields": "status_code,status"}
        )
        return str(body.get("status_code") or ""), body.get("status")

    def publish(self, ig_user_id: str, token: str, container_id: str) -> str:
        """Make the container a live post; returns the Instagram media id."""
        body = self.request(
            "POST",
            f"{ig_user_id}/media_publish",
            token=token,
            data={"creation_id": container_id},
        )
        return str(body["id"])

    def media(self, media_id: str, token: str) -> dict:
        """Permalink and timestamp of a live post."""
        return self.request(
            "GET", media_id, token=token, params={"fields": "id,permalink,timestamp"}
        )

    def recent_media(self, ig_user_id: str, token: str, limit: int = 25) -> list[dict]:
        """The account's newest posts, to find one published by a lost request."""
        body = self.request(
            "GET",
            f"{ig_user_id}/media",
            token=token,
            params={"fields": "id,caption,timestamp,permalink", "limit": limit},
        )
        return list(body.get("data") or [])

    def post_comment(self, media_id: str, token: str, message: str) -> str:
        """Comment on a live post as its account; returns the comment id."""
        body = self.request(
            "POST", f"{media_id}/comments", token=token, data={"message": message}
        )
        return str(body["id"])

    def comments(self, media_id: str, token: str, limit: int = 50) -> list[dict]:
        """The newest comments of a live post (id, text, username, timestamp)."""
        body = self.request(
            "GET",
            f"{media_id}/comments",
            token=token,
            params={"fields": "id,text,username,timestamp", "limit": limit},
        )
        return list(body.get("data") or [])

    # -- the live profile -------------------------------------------------------

    def profile(self, ig_user_id: str, token: str) -> dict:
        """The account's header: username, name, picture and its three counts."""
        return self.request(
            "GET",
            ig_user_id,
            token=token,
            params={
                "fields": "id,username,name,profile_picture_url,followers_count,"
                "follows_count,media_count"
            },
        )

    def media_page(
        self, ig_user_id: str, token: str, *, after: str | None = None, limit: int = 50
    ) -> MediaPage:
        """One page of the account's posts, newest first (``after``: a cursor)."""
        params: dict[str, Any] = {"fields": FEED_FIELDS, "limit": limit}
        if after:
            params["after"] = after
        body = self.request("GET", f"{ig_user_id}/media", token=token, params=params)
        items = [item for item in body.get("data") or [] if isinstance(item, dict)]
        paging = body.get("paging") if isinstance(body.get("paging"), dict) else {}
        cursor = (paging.get("cursors") or {}).get("after")
        # Meta sends an "after" cursor on the last page too; "next" says more exist.
        more = bool(paging.get("next")) and bool(items) and isinstance(cursor, str)
        return MediaPage(items, cursor if more else None)

    def download(self, url: str, max_bytes: int) -> bytes:
        """Fetch a picture from Meta's CDN (a media or profile picture URL).

        Raises GraphNetworkError when it cannot be had: not http(s), no answer,
        not a 200 (an expired CDN URL answers 403), or larger than ``max_bytes``.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise GraphNetworkError("Instagram gave an unusable picture address")
        origin = f"{parts.scheme}://{parts.netloc}/"
        if origin not in self._cdn:
            self._cdn[origin] = _pool(origin)
        try:
            resp = self._cdn[origin].request(
                "GET", url, timeout=self.timeout, retries=False, preload_content=False
            )
        except urllib3.exceptions.HTTPError as exc:
            raise GraphNetworkError(
                f"Could not download a picture ({type(exc).__name__})"
            ) from exc
        complete = False
        try:
            if resp.status != 200:
                raise GraphNetworkError(
                    f"The picture answered HTTP {resp.status}", http_status=resp.status
                )
            data = bytearray()
            for chunk in resp.stream(65536):
                data.extend(chunk)
                if len(data) > max_bytes:
                    raise GraphNetworkError("The picture is too large")
            complete = True
            return bytes(data)
        except urllib3.exceptions.HTTPError as exc:
            raise GraphNetworkError(
                f"Could not download a picture ({type(exc).__name__})"
            ) from exc
        finally:
            if not complete:
                resp.close()  # unread bytes must not reach the next download
            resp.release_conn()

    def publishing_limit(self, ig_user_id: str, token: str) -> tuple[int, int]:
        """(posts used, posts allowed) in Meta's rolling 24-hour window."""
        body = self.request(
            "GET",
            f"{ig_user_id}/content_publishing_limit",
            token=token,
            params={"fields": "quota_usage,config"},
        )
        entry = (body.get("data") or [{}])[0]
        total = (entry.get("config") or {}).get("quota_total")
        return int(entry.get("quota_usage") or 0), int(total or 100)


_local = threading.local()


def client_for(config) -> GraphClient:
    """This thread's Graph client for an app's settings (``FB_ENDPOINT``,
    ``FB_APP_ID``, ``FB_APP_SECRET``, ``GRAPH_TIMEOUT``).

    Login and the publishing engine both call Meta through it. A client is kept
    per thread and per settings, so its connections stay open from one call to
    the next and a publishing thread never queues for another's connection.
    """
    timeout = config["GRAPH_TIMEOUT"]
    # (connect, read); a list when it came from OSPOST_GRAPH_TIMEOUT JSON.
    timeout = tuple(timeout) if isinstance(timeout, list) else timeout
    key = (config["FB_ENDPOINT"], config["FB_APP_ID"], config["FB_APP_SECRET"], timeout)
    clients = _local.__dict__.setdefault("clients", {})
    if key not in clients:
        clients[key] = GraphClient(*key[:3], timeout=timeout)
    return clients[key]


def _pool(endpoint: str) -> urllib3.PoolManager:
    """Keep-alive connections to ``endpoint``, through the environment's proxy
    (``https_proxy``, ``no_proxy``) if it names one.

    urllib3, the transport under requests, used directly: a publishing burst
    makes four Graph calls per post, and requests' per-call preparation
    (settings merge, cookies, hooks) took 40% of each call's CPU.
    """
    parts = urlsplit(endpoint)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return urllib3.PoolManager(num_pools=2, maxsize=4)
    if "://" not in proxy:
        proxy = f"http://{proxy}"  # "host:3128" means an HTTP proxy, as for requests
    auth = urllib3.util.parse_url(proxy).auth
    headers = urllib3.make_headers(proxy_basic_auth=unquote(auth)) if auth else None
    # An unsupported scheme (socks5://) raises urllib3's ProxySchemeUnknown,
    # which request() reports as a network error.
    return urllib3.ProxyManager(proxy, proxy_headers=headers, num_pools=2, maxsize=4)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _add_media_fields(data: dict, alt_text: str, user_tags: list[dict] | None):
    """Alt text and people tags of one image, as Meta's form fields."""
    if alt_text:
        data["alt_text"] = alt_text
    if user_tags:
        tags = [
            {"username": t["username"], "x": float(t["x"]), "y": float(t["y"])}
            for t in user_tags
        ]
        data["user_tags"] = _json(tags)


def _text(fields: dict[str, Any]) -> dict[str, str]:
    return {name: str(value) for name, value in fields.items()}
