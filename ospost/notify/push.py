"""Browser push (Web Push with VAPID) through pywebpush.

The operator sets ``VAPID_PRIVATE_KEY`` (``flask --app app vapid-keys`` makes
one) and ``VAPID_SUBJECT`` (a ``mailto:`` address push services can write to);
the public key the browser subscribes with is derived from it. Each send has
a timeout (pywebpush has none by default); a push service answering 404 or
410 means the browser unsubscribed, and the subscription is dropped.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass

import requests
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from py_vapid import Vapid01
from pywebpush import WebPushException
from pywebpush import webpush

log = logging.getLogger(__name__)


class PushError(Exception):
    """The push message was not delivered; ``temporary`` says if retrying may help."""

    temporary = True


class PushGone(PushError):
    """The subscription no longer exists (404/410): forget it."""

    temporary = False


@dataclass(frozen=True)
class VapidSettings:
    key: Vapid01
    subject: str
    timeout: float = 5.0

    @classmethod
    def from_config(cls, cfg) -> VapidSettings | None:
        """The app's VAPID key, or None when push is not set up."""
        raw = (cfg.get("VAPID_PRIVATE_KEY") or "").strip()
        if not raw:
            return None
        key = load_key(raw)
        subject = cfg.get("VAPID_SUBJECT") or ""
        if not subject.startswith(("mailto:", "https://")):
            raise RuntimeError(
                "VAPID_SUBJECT must be a mailto: address or an https:// URL that "
                "push services can use to reach the operator"
            )
        return cls(
            key=key, subject=subject, timeout=float(cfg.get("PUSH_TIMEOUT") or 5)
        )

    @property
    def public_key(self) -> str:
        """The key the browser subscribes with (``applicationServerKey``)."""
        raw = self.key.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def load_key(raw: str) -> Vapid01:
    """A VAPID private key from PEM text or base64url (raw or DER)."""
    try:
        if raw.startswith("-----BEGIN"):
            return Vapid.from_pem(raw.encode())
        return Vapid.from_string(raw)
    except Exception:  # py_vapid raises several types; never echo the key
        raise RuntimeError(
            "VAPID_PRIVATE_KEY is not a valid key: make one with "
            "flask --app app vapid-keys"
        ) from None


def new_private_key() -> str:
    """A fresh VAPID private key as base64url (what VAPID_PRIVATE_KEY takes)."""
    vapid = Vapid()
    vapid.generate_keys()
    number = vapid.private_key.private_numbers().private_value
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode()


def send(subscription: dict, payload: dict, settings: VapidSettings) -> int:
    """Push ``payload`` to one browser; returns the push service's status code."""
    try:
        response = webpush(
            subscription,
            json.dumps(payload),
            vapid_private_key=settings.key,
            # pywebpush writes aud and exp into this dict: a fresh one each call.
            vapid_claims={"sub": settings.subject},
            ttl=24 * 3600,
            timeout=settings.timeout,
        )
    except WebPushException as exc:
        status = getattr(exc.response, "status_code", None)
        if status in (404, 410):
            raise PushGone(f"the browser unsubscribed (HTTP {status})") from None
        raise PushError(f"the push service answered HTTP {status}") from None
    except requests.RequestException as exc:
        raise PushError(
            f"the push service could not be reached ({type(exc).__name__})"
        ) from None
    return response.status_code
