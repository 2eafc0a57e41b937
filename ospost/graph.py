"""The one place Ospost talks to Meta's Graph API.

Every request has a timeout, carries the access token in the ``Authorization``
header (never in a URL that could end up in a log), adds ``appsecret_proof``, and
turns Meta's error bodies into ``GraphError`` with its code and subcode. Meta's
rate-limit headers (``X-App-Usage``, ``X-Business-Use-Case-Usage``) are read from
every answer into ``Usage`` (``GraphClient.last_usage``, ``GraphError.usage``),
so callers that can wait, like the feed refresh, slow down before Meta blocks.
"""

from __future__ import annotations

import enum
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

log = logging.getLogger(__name__)

# Retry classes from Meta's error reference (shared/docs/graph-api.md §5.3).
# 368 (temporarily blocked for policy reasons): Meta's advice is to wait and retry.
TRANSIENT_CODES = {1, 2, 4, 17, 32, 341, 368, 613, 80002}
# 2207052 (Meta could not fetch the image) often clears on a second attempt.
TRANSIENT_SUBCODES = {2207001, 2207003, 2207008, 2207032, 2207052}
NOT_READY_SUBCODES = {2207027}
RECREATE_SUBCODES = {2207020, 2207053}
QUOTA_SUBCODES = {2207042}
# Meta could not download the media from the URL it was given (9004/2207052).
MEDIA_FETCH_CODE, MEDIA_FETCH_SUBCODE = 9004, 2207052
FETCH_HELP_SECTION = "Meta must be able to fetch your images"
FETCH_HELP_LINK = "README.md#meta-must-be-able-to-fetch-your-images"
# Subcodes that must never be retried even though their code (e.g. 4) usually
# is: 2207051 means Meta suspects the action is spam. 2207018 (code 110): a
# tagged person or collaborator is unknown or private; 2207028: a carousel
# without 2-10 items. Both need the person to change the post.
PERMANENT_SUBCODES = {2207051, 2207018, 2207028}
# What the person can do about a refusal, added to Meta's own sentence.
ADVICE = {
    2207018: "Check the usernames of the people tagged and the collaborators: "
    "each must be an existing, public Instagram account.",
    2207028: "A carousel needs 2 to 10 images.",
}
REAUTH_CODES = {102, 190}
REAUTH_SUBCODES = {458, 459, 460, 463, 464, 467, 492}
# App, user, Page, custom and Instagram-account (BUC) rate limits (§5.2).
RATE_LIMIT_CODES = {4, 17, 32, 613, 80002}
# 4/2207051 is "suspected as spam", not a rate limit.
NOT_RATE_LIMIT_SUBCODES = {2207051}
# Meta throttles at 100%; callers that can wait stop here (graph-api.md §5.4).
HIGH_USAGE_PERCENT = 80
USAGE_KEYS = ("call_count", "total_time", "total_cputime")


class ErrorKind(enum.StrEnum):
    TRANSIENT = "transient"
    NOT_READY = "not_ready"
    RECREATE = "recreate"
    QUOTA = "quota"
    REAUTH = "reauth"
    PERMANENT = "permanent"


class GraphError(Exception):
    """Meta refused a request, or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
        fbtrace_id: str | None = None,
        error_type: str | None = None,
        usage: Usage | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.user_title = user_title
        self.user_msg = user_msg
        self.fbtrace_id = fbtrace_id
        self.error_type = error_type
        self.usage = usage
        # The image URL Meta was asked to fetch, when the call gave it one.
        self.media_url: str | None = None

    @property
    def rate_limited(self) -> bool:
        """Meta refused the call for making too many (back off, do not retry now)."""
        if self.code is None:
            return self.http_status == 429
        return (
            self.code in RATE_LIMIT_CODES
            and self.subcode not in NOT_RATE_LIMIT_SUBCODES
        )

    @property
    def media_fetch_failed(self) -> bool:
        """Meta could not download the image (9004 / subcode 2207052)."""
        return self.code == MEDIA_FETCH_CODE or self.subcode == MEDIA_FETCH_SUBCODE

    @property
    def kind(self) -> ErrorKind:
        """What a scheduler should do about this error."""
        return classify(self.code, self.subcode, self.http_status, self.error_type)

    def user_message(self) -> str:
        """The best sentence to show a person: Meta's own text when it gives one,
        for an image Meta could not download which URL, and what to do about it
        when Ospost knows."""
        if self.media_fetch_failed:
            return media_fetch_message(self.media_url, self.user_msg or self.message)
        text = self.user_msg or self.message
        advice = ADVICE.get(self.subcode or 0)
        return f"{text.rstrip('.')}. {advice}" if advice else text

    def __str__(self) -> str:
        parts = [self.message]
        if self.code is not None:
            parts.append(
                f"(code {self.code}" + (f"/{self.subcode})" if self.subcode else ")")
            )
        return " ".join(parts)


def media_fetch_message(url: str | None, meta_says: str) -> str:
    """Why Meta could not download a post's image, naming the URL it tried, and
    where the person finds how to fix it (the README section and the account
    page's check, next to APP_URL)."""
    if url is None:
        what = f"Meta could not download the image ({meta_says})"
        account = ""
    else:
        what = f"Meta could not download the image from {url}"
        base = url.split("/static/tmp/", 1)[0]
        account = f" The account page checks it: {base}/account#app-url"
    return (
        f"{what}. Meta's servers fetch every image through APP_URL, so that "
        "address must be reachable from the internet, over https and without "
        f"login: see “{FETCH_HELP_SECTION}” in Ospost's {FETCH_HELP_LINK}."
        f"{account}"
    )


class GraphNetworkError(GraphError):
    """The request did not get an answer (timeout, refused connection, bad gateway)."""


def classify(
    code: int | None,
    subcode: int | None,
    http_status: int | None = None,
    error_type: str | None = None,
) -> ErrorKind:
    """Sort a Meta error into the action a scheduler should take."""
    if code is None:
        # No Meta error body: network trouble or a bare 5xx is worth retrying.
        if http_status is None or http_status >= 500 or http_status == 429:
            return ErrorKind.TRANSIENT
        return ErrorKind.PERMANENT
    if subcode in NOT_READY_SUBCODES:
        return ErrorKind.NOT_READY
    if subcode in QUOTA_SUBCODES:
        return ErrorKind.QUOTA
    if subcode in RECREATE_SUBCODES:
        return ErrorKind.RECREATE
    if subcode in PERMANENT_SUBCODES:
        return ErrorKind.PERMANENT
    if code in TRANSIENT_CODES or subcode in TRANSIENT_SUBCODES:
        return ErrorKind.TRANSIENT
    if code in REAUTH_CODES or subcode in REAUTH_SUBCODES:
        return ErrorKind.REAUTH
    if error_type == "OAuthException" and subcode is None and code == 190:
        return ErrorKind.REAUTH
    return ErrorKind.PERMANENT


@dataclass(frozen=True)
class Usage:
    """Meta's rate-limit headers of one answer, as percentages of the limits.

    ``app`` is ``X-App-Usage`` (the app's hourly platform limit); ``accounts``
    maps each business object id of ``X-Business-Use-Case-Usage`` to its highest
    percentages over the entries (e.g. the ``instagram`` one);
    ``regain_minutes`` is the longest ``estimated_time_to_regain_access``.
    """

    app: dict[str, int]
    accounts: dict[str, dict[str, int]]
    regain_minutes: int = 0

    @property
    def highest(self) -> int:
        """The highest percentage of any limit in the answer (0 without headers)."""
        values = [*self.app.values()]
        for shares in self.accounts.values():
            values.extend(shares.values())
        return max(values, default=0)

    def is_high(self, threshold: int = HIGH_USAGE_PERCENT) -> bool:
        """True when calls should stop for a while: a limit is nearly used up,
        or Meta already says when access comes back."""
        return self.highest >= threshold or self.regain_minutes > 0


def parse_usage(headers) -> Usage | None:
    """Read ``X-App-Usage`` and ``X-Business-Use-Case-Usage`` from ``headers``.

    Returns None when neither is there. A malformed header is ignored (and
    logged): it must never turn a good answer into an error.
    """
    app_raw = headers.get("X-App-Usage")
    buc_raw = headers.get("X-Business-Use-Case-Usage")
    if not app_raw and not buc_raw:
        return None
    app = _shares(_json_header("X-App-Usage", app_raw))
    accounts: dict[str, dict[str, int]] = {}
    regain = 0
    buc = _json_header("X-Business-Use-Case-Usage", buc_raw)
    for object_id, entries in (buc if isinstance(buc, dict) else {}).items():
        if isinstance(entries, dict):
            entries = [entries]
        if not isinstance(entries, list):
            continue
        highest: dict[str, int] = {}
        for entry in entries:
            for key, value in _shares(entry).items():
                highest[key] = max(highest.get(key, 0), value)
            if isinstance(entry, dict):
                minutes = _as_int(entry.get("estimated_time_to_regain_access"))
                regain = max(regain, minutes or 0)
        accounts[str(object_id)] = highest
    return Usage(app=app, accounts=accounts, regain_minutes=regain)


def _json_header(name: str, raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        log.warning("ignoring a malformed %s header", name)
        return None


def _shares(entry: Any) -> dict[str, int]:
    """The percentages of one usage entry, clamped to 0..100."""
    if not isinstance(entry, dict):
        return {}
    shares = {}
    for key in USAGE_KEYS:
        value = _as_int(entry.get(key))
        if value is not None:
            shares[key] = min(max(value, 0), 100)
    return shares


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


@dataclass(frozen=True)
class ExchangedToken:
    token: str
    expires_in: int | None


# What the grid needs of each post (graph-api.md §7.6).
FEED_FIELDS = (
    "id,media_type,media_product_type,media_url,thumbnail_url,permalink,"
    "timestamp,caption"
)


class GraphClient:
    """A small typed wrapper over the Graph API endpoints Ospost uses."""

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
            code=_as_int(err.get("code")),
            subcode=_as_int(err.get("error_subcode")),
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
        return ExchangedToken(body["access_token"], _as_int(body.get("expires_in")))

    def pages(self, token: str) -> list[Page]:
        """The Facebook Pages this person manages, with their linked IG account."""
        body = self.request(
            "GET",
            "me/accounts",
            token=token,
            params={"fields": "id,name,instagram_business_account", "limit": 100},
        )
        return [
            Page(
                id=str(p.get("id")),
                name=p.get("name") or "",
                ig_user_id=(p.get("instagram_business_account") or {}).get("id"),
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


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
