"""Can Meta fetch the images? Checks of ``APP_URL``, at start-up and on the
account page.

Meta's crawler downloads every image from ``APP_URL/static/tmp/<name>.jpg``
while it makes the container. When it cannot, the post fails with Meta's
"media download has failed" (9004 / 2207052), the most common first failure of
a new install. Three checks catch the usual causes before a post does:

- the address: ``APP_URL`` is a loopback or private address, or a host name
  that resolves to one (``ipaddress`` + ``socket.getaddrinfo``, short timeout,
  cached);
- the scheme: ``http://`` in production;
- the round trip: a probe file written to the staging folder and fetched back
  through ``APP_URL`` by the server itself, with Meta's crawler's user agent.

With S3 storage Meta fetches presigned links to the bucket instead: the address
checked is ``S3_ENDPOINT_URL``'s and the probe goes through a presigned link.

The probe makes an HTTP request to this very server, so it never runs on a
request's path (a single sync worker would wait for itself): it runs in a
background thread at start-up and when the person asks again, and the account
page shows the last result. In demo mode and tests a loopback ``APP_URL`` is
expected (the simulator's crawler runs on this machine), which the checks say
instead of warning.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from urllib.parse import urlsplit

import urllib3
from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import flash
from flask import redirect
from flask import url_for

import helpers
from models import now_utc
from ospost import ratelimit

log = logging.getLogger(__name__)
bp = Blueprint("reachability", __name__)

README_SECTION = "Meta must be able to fetch your images"
README_ANCHOR = "README.md#meta-must-be-able-to-fetch-your-images"
# Meta's crawler introduces itself so; some firewalls and bot filters block it.
CRAWLER_USER_AGENT = "facebookexternalhit/1.1 (Ospost reachability check)"
DNS_TIMEOUT = 2.0
DNS_CACHE_SECONDS = 600.0
PROBE_TIMEOUT = 5.0
# At start-up the server may not be listening yet (``flask run`` binds after
# create_app()): a refused connection is tried again a few times.
START_ATTEMPTS, START_RETRY_SECONDS = 3, 2.0

OK, PROBLEM, EXPECTED = "ok", "problem", "expected"


@dataclass(frozen=True)
class Finding:
    """One check's verdict, with the sentence that explains it to a person."""

    check: str  # "address", "scheme" or "probe"
    level: str  # OK, PROBLEM or EXPECTED (fine here, not in production)
    message: str

    @property
    def problem(self) -> bool:
        return self.level == PROBLEM


@dataclass
class ProbeResult:
    """The last round trip through APP_URL, as the account page shows it."""

    finding: Finding
    url: str
    checked_at: datetime = field(default_factory=now_utc)
    # Nothing listened at APP_URL (at start-up: maybe not yet).
    refused: bool = False


# -- the address and the scheme -------------------------------------------------


_dns_cache: dict[str, tuple[float, list[str] | str]] = {}
_dns_lock = threading.Lock()
_dns_pool = ThreadPoolExecutor(2, thread_name_prefix="ospost-dns")


def resolve(host: str, timeout: float = DNS_TIMEOUT) -> list[str] | str:
    """The addresses ``host`` resolves to from this server, or why it did not
    (cached for 10 minutes; a lookup that takes longer than ``timeout`` is
    reported as such, never waited for)."""
    now = time.monotonic()
    with _dns_lock:
        cached = _dns_cache.get(host)
        if cached and cached[0] > now:
            return cached[1]
    # getaddrinfo has no timeout of its own: ask in a thread, wait a little.
    future = _dns_pool.submit(socket.getaddrinfo, host, None, type=socket.SOCK_STREAM)
    try:
        found: list[str] | str = sorted({info[4][0] for info in future.result(timeout)})
    except FutureTimeout:
        found = f"no answer within {timeout:g} s"
    except OSError as exc:
        found = exc.strerror or str(exc)
    with _dns_lock:
        _dns_cache[host] = (now + DNS_CACHE_SECONDS, found)
    return found


def _kind(address: str) -> str | None:
    """Why Meta cannot reach ``address`` ("loopback", "private"), or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if not ip.is_global:
        return "private"
    return None


_KIND_WORDS = {
    "loopback": "a loopback address, which only this machine can reach",
    "unspecified": "the 'any address' placeholder, which is not an address "
    "anyone can connect to",
    "private": "a private network address, which Meta's servers on the "
    "internet cannot reach",
}
_FIX = "Set APP_URL to the public https:// address of this server."
_S3_FIX = (
    "Meta downloads your images from the bucket through presigned links: set "
    "S3_ENDPOINT_URL to the storage's public https:// address."
)


def check_address(
    app_url: str, *, local_expected: bool, setting: str = "APP_URL"
) -> Finding:
    """Is APP_URL's host a public address, or a name resolving to only public
    addresses? ``local_expected`` (demo mode, tests) makes loopback fine.
    ``setting`` names the URL checked (``S3_ENDPOINT_URL`` when Meta fetches
    from a bucket)."""
    host = urlsplit(app_url).hostname
    fix = _FIX if setting == "APP_URL" else _S3_FIX
    if not host:
        return Finding("address", PROBLEM, f"{setting} ({app_url!r}) has no host name.")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        literal = True
        addresses: list[str] | str = [host]
    except ValueError:
        literal = False
        addresses = resolve(host)
    if isinstance(addresses, str):
        return Finding(
            "address",
            PROBLEM,
            f"{host} does not resolve from this server ({addresses}). Meta "
            "looks the name up to download your images: check its DNS record.",
        )
    bad = [(a, kind) for a in addresses if (kind := _kind(a))]
    if not bad:
        shown = ", ".join(addresses)
        where = "is a public address" if literal else f"resolves to {shown}"
        return Finding("address", OK, f"{host} {where}.")
    address, kind = bad[0]
    if local_expected and all(k == "loopback" for _, k in bad):
        return Finding(
            "address",
            EXPECTED,
            f"{setting} points at {host}, this machine, as expected in demo mode "
            "and tests: the simulator plays Meta's crawler here. Publishing "
            f"to a real Instagram account needs a public https:// {setting}.",
        )
    if literal:
        return Finding(
            "address",
            PROBLEM,
            f"{setting} points at {host}, {_KIND_WORDS[kind]}, so Meta cannot "
            f"download your images. {fix}",
        )
    return Finding(
        "address",
        PROBLEM,
        f"{host} resolves to {address} from this server, {_KIND_WORDS[kind]}. "
        "If the internet sees the same, Meta cannot download your images "
        f"(a split DNS is fine when the round trip below works). {fix}",
    )


def check_scheme(app_url: str, *, production: bool) -> Finding:
    """Is APP_URL https:// (in production; anything goes in demo mode and tests)?"""
    scheme = urlsplit(app_url).scheme.lower()
    if scheme == "https":
        return Finding("scheme", OK, "APP_URL uses https://.")
    if not production:
        return Finding(
            "scheme",
            EXPECTED,
            f"APP_URL uses {scheme}://, fine in demo mode and tests; production "
            "needs https://.",
        )
    return Finding(
        "scheme",
        PROBLEM,
        f"APP_URL starts with {scheme}:// in production. Behind a proxy that "
        "redirects to https://, Meta's crawler gets a redirect instead of the "
        "image, and browsers send the login cookie unprotected. Set APP_URL to "
        "the https:// address people and Meta use.",
    )


# -- the round trip -------------------------------------------------------------


def probe(app_url: str, store, timeout: float = PROBE_TIMEOUT) -> ProbeResult:
    """Write a test file where staged images go, fetch it through APP_URL as
    Meta's crawler would, compare the bytes, and delete it."""
    name = secrets.token_urlsafe(24) + ".jpg"  # shaped like a post's copy
    url = f"{app_url.rstrip('/')}/static/tmp/{name}"
    body = b"ospost reachability probe " + secrets.token_hex(16).encode()
    try:
        store.stage_bytes(name, body)
        url = store.crawler_url(name, app_url)  # a presigned URL with S3
    except OSError as exc:
        return ProbeResult(
            Finding(
                "probe",
                PROBLEM,
                "Ospost could not write a test file to the staging folder "
                f"(STAGING_FOLDER, {exc.strerror or exc}); publishing needs it too.",
            ),
            url,
        )
    try:
        return _fetch(url, body, timeout)
    finally:
        store.unstage(name)


def _fetch(url: str, body: bytes, timeout: float) -> ProbeResult:
    # Its own pool, without the environment's proxy: Meta fetches directly.
    http = urllib3.PoolManager(headers={"User-Agent": CRAWLER_USER_AGENT})
    try:
        resp = http.request(
            "GET",
            url,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
            redirect=False,
            preload_content=False,
        )
        try:
            got = resp.read(len(body) + 1)
        finally:
            resp.release_conn()
    except urllib3.exceptions.SSLError as exc:
        message = (
            f"HTTPS to APP_URL failed ({_reason(exc)}). Meta's crawler needs a "
            "valid certificate for this host name."
        )
        return ProbeResult(Finding("probe", PROBLEM, message), url)
    except (urllib3.exceptions.HTTPError, ValueError) as exc:
        message = (
            f"This server could not fetch a test image through APP_URL "
            f"({_reason(exc)}). If the server cannot reach its own public "
            "address, Meta's crawler most likely cannot either: check that "
            "APP_URL is the address the internet reaches Ospost at."
        )
        refused = isinstance(exc, urllib3.exceptions.NewConnectionError)
        return ProbeResult(Finding("probe", PROBLEM, message), url, refused=refused)
    finally:
        http.clear()
    return ProbeResult(_judge(resp, got, body), url)


def _judge(resp, got: bytes, body: bytes) -> Finding:
    status = resp.status
    if 300 <= status < 400:
        target = resp.headers.get("Location", "elsewhere")
        return Finding(
            "probe",
            PROBLEM,
            f"APP_URL answered the test image with a redirect (HTTP {status} "
            f"to {target}). Meta's crawler wants the image itself: set APP_URL "
            "to the address the redirect leads to (often https:// instead of "
            "http://).",
        )
    if status in (401, 403):
        return Finding(
            "probe",
            PROBLEM,
            f"APP_URL refused the test image (HTTP {status}): a login, a "
            "firewall rule or a bot filter stands in the way. Let requests for "
            "/static/tmp/ through without login, also for the user agent "
            "facebookexternalhit (Meta's crawler).",
        )
    if status != 200:
        return Finding(
            "probe",
            PROBLEM,
            f"APP_URL answered the test image with HTTP {status}. Requests for "
            "/static/tmp/ must reach Ospost's staging folder (STAGING_FOLDER); "
            "with several hosts, every host must serve the same files.",
        )
    if got != body:
        kind = resp.headers.get("Content-Type", "unknown type")
        return Finding(
            "probe",
            PROBLEM,
            f"APP_URL answered, but not with the test image ({kind}): a proxy, a "
            "cache or a login page in between answers instead of Ospost, and "
            "Meta would get that instead of your image.",
        )
    return Finding(
        "probe",
        OK,
        "This server fetched a test image through APP_URL and got it back "
        "unchanged. (Meta connects from the internet: the address check above "
        "tells whether it can get there.)",
    )


def _reason(exc: Exception) -> str:
    """A short, readable cause of a failed request."""
    while getattr(exc, "reason", None) is not None and exc.reason is not exc:
        exc = exc.reason
    if isinstance(exc, urllib3.exceptions.NameResolutionError):
        return "its host name did not resolve"
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        text = str(exc).rsplit("] ", 1)[-1]
        return text or "connection failed"
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__


# -- per app: the background check and its last result ---------------------------


class Reachability:
    """Runs the checks for one app and keeps the last probe's result."""

    def __init__(self, app: Flask) -> None:
        cfg = app.config
        self.config = cfg
        self.store = app.extensions["media_store"]
        self.production = not (cfg.get("TESTING") or cfg["DEMO"] or app.debug)
        self.last: ProbeResult | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def app_url(self) -> str:
        return self.config["APP_URL"]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def quick_findings(self) -> list[Finding]:
        """The address and scheme checks (no request to APP_URL). With S3
        storage Meta fetches from the bucket's endpoint, so that address is
        the one checked (AWS's own endpoints are public)."""
        local_expected = not self.production
        crawled, setting = self.app_url, "APP_URL"
        if not self.store.local:
            crawled, setting = (
                self.config.get("S3_ENDPOINT_URL") or "",
                "S3_ENDPOINT_URL",
            )
        findings = [check_scheme(self.app_url, production=self.production)]
        if crawled:
            found = check_address(
                crawled, local_expected=local_expected, setting=setting
            )
            findings.insert(0, found)
        return findings

    def check_in_background(self, *, at_start: bool = False) -> bool:
        """Start a full check in a thread, unless one is running; True if started."""
        with self._lock:
            if self.running:
                return False
            self._thread = threading.Thread(
                target=self._check,
                args=(at_start,),
                name="ospost-app-url-check",
                daemon=True,
            )
            self._thread.start()
            return True

    def _check(self, at_start: bool) -> None:
        try:
            findings = self.quick_findings()
            if at_start:
                self._log(findings)
            for attempt in range(START_ATTEMPTS if at_start else 1):
                result = probe(self.app_url, self.store)
                if not result.refused:
                    break
                if attempt + 1 < START_ATTEMPTS:
                    time.sleep(START_RETRY_SECONDS)  # not listening yet?
            self.last = result
            self._log([result.finding])
        except Exception:
            # A check must never take the worker down; say it failed, though.
            log.exception("the APP_URL reachability check failed")

    def _log(self, findings: list[Finding]) -> None:
        for finding in findings:
            if finding.problem:
                log.warning("APP_URL %s: %s", self.app_url, finding.message)
            else:
                log.info("APP_URL %s: %s", self.app_url, finding.message)


def init_app(app: Flask, *, check_now: bool) -> None:
    """Register the account page's "Check again" route; with ``check_now`` (a
    serving process, APP_URL_CHECK on), start the first check in the background."""
    app.extensions["reachability"] = checks = Reachability(app)
    app.register_blueprint(bp)
    app.context_processor(lambda: {"app_url_checks": _page_data})
    if check_now and app.config.get("APP_URL_CHECK", True):
        checks.check_in_background(at_start=True)


def _page_data() -> dict:
    """What the account page's panel shows: the quick checks, the last probe."""
    checks: Reachability = current_app.extensions["reachability"]
    return {
        "app_url": checks.app_url,
        "findings": checks.quick_findings(),
        "probe": checks.last,
        "running": checks.running,
        "readme": README_ANCHOR,
        "readme_section": README_SECTION,
    }


@bp.post("/account/app-url/check")
@ratelimit.mutations
@helpers.login_required
def check_again():
    """Check again whether Meta can fetch images through APP_URL (in the
    background: the result shows on the account page a moment later)."""
    checks: Reachability = current_app.extensions["reachability"]
    if checks.check_in_background():
        flash("Checking APP_URL now; reload this page in a few seconds.", "info")
    else:
        flash("A check of APP_URL is already running; reload in a moment.", "info")
    return redirect(url_for("auth.account", _anchor="app-url"))
