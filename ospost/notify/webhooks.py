"""POSTing signed events to the URLs people set, without reaching our own network.

A URL is checked when it is saved and again at every send: its host must
resolve only to public addresses (not loopback, private, link-local,
multicast, reserved...) unless the operator allows them
(``WEBHOOK_ALLOW_PRIVATE``), and the request then goes to the very address
that was checked, so a DNS answer that changes in between (rebinding) cannot
redirect it. Redirects are never followed, timeouts are short, and at most a
few hundred bytes of the answer are read.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
# How much of a receiver's answer is kept for the delivery log.
EXCERPT_BYTES = 300


class WebhookError(Exception):
    """A webhook could not be delivered; ``temporary`` says if a retry may help."""

    temporary = True


class UnsafeURL(WebhookError):
    """The URL is malformed, or points at an address Ospost must not call."""

    temporary = False


class WebhookNetworkError(WebhookError):
    """No answer: DNS failure, refused connection, timeout, TLS failure."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``) and what to ask for."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str


def check_url(url: str, *, allow_private: bool, resolve=None) -> Target:
    """The URL as a ``Target`` to connect to, or ``UnsafeURL`` saying what is wrong.

    Every address the host resolves to must be allowed: a name with one public
    and one private address is refused, whichever a resolver would pick.
    """
    url = (url or "").strip()
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"Use a URL of at most {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL("That is not a valid URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("Use an http:// or https:// URL.")
    if parts.username or parts.password:
        raise UnsafeURL("Leave user names and passwords out of the URL.")
    if parts.fragment:
        raise UnsafeURL("Leave the #fragment out of the URL.")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = (resolve or socket.getaddrinfo)(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise WebhookNetworkError(f"The name {host} could not be resolved.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise WebhookNetworkError(f"The name {host} could not be resolved.")
    for address in addresses:
        if not allow_private and not is_public(address):
            raise UnsafeURL(
                f"{host} resolves to {address}, a private or reserved address; "
                "webhooks may only call public addresses."
            )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path, addresses[0])


def is_public(address: str) -> bool:
    """True for an address on the public internet (not ours, not special)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    return ip.is_global and not ip.is_multicast


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    timeout: tuple[float, float] = (3.0, 10.0),
) -> Answer:
    """POST ``body`` to ``url`` (checked again now) and return the answer's status.

    Raises ``UnsafeURL`` (never retried) or ``WebhookNetworkError`` (retried).
    """
    target = check_url(url, allow_private=allow_private)
    connect, total = timeout
    options = {
        "timeout": urllib3.Timeout(connect=connect, total=total),
        "retries": False,
        "maxsize": 1,
    }
    if target.scheme == "https":
        # Connect to the checked address; the certificate and SNI still
        # name the host from the URL.
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            **options,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, **options)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != default_port:
        host_header += f":{target.port}"
    try:
        resp = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
        )
        try:
            excerpt = resp.read(EXCERPT_BYTES)
        finally:
            resp.close()  # never read (or wait for) the rest
    except urllib3.exceptions.HTTPError as exc:
        log.info("webhook to %s failed: %s", target.host, type(exc).__name__)
        raise WebhookNetworkError(
            f"{target.host} could not be reached ({type(exc).__name__})"
        ) from None
    finally:
        pool.close()
    text = excerpt.decode("utf-8", errors="replace")
    return Answer(resp.status, " ".join(text.split())[:EXCERPT_BYTES])
