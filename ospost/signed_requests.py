"""Meta's ``signed_request``: checked for size, signature, shape, age and reuse.

Meta calls the deauthorize and data-deletion callbacks with a form field
``signed_request`` = ``base64url(HMAC-SHA256 signature).base64url(JSON payload)``.
``accept()`` takes one only when it is small, signed with our app secret, a
well-formed payload, recently issued, and never acted on before; each accepted
one is remembered (``UsedSignedRequest``) until it would be refused as too old
anyway, so re-posting a captured request cannot delete a re-created account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Annotated

import msgspec
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from models import UsedSignedRequest
from models import db
from models import now_utc

# Meta's payloads are about 150 bytes; anything this large is not one of them.
MAX_CHARS = 4096
# Clocks differ: an issued_at this far in our future still counts as now.
CLOCK_SKEW = timedelta(seconds=60)


UnixTime = Annotated[int, msgspec.Meta(ge=0, lt=2**33)]  # a datetime can hold it


class SignedPayload(msgspec.Struct):
    """The fields of a callback payload Ospost relies on (others are ignored)."""

    algorithm: str
    issued_at: UnixTime
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | UnixTime
    expires: UnixTime | None = None

    @property
    def fb_user_id(self) -> str:
        """The app-scoped Facebook user id (Meta sends a string; numbers work too)."""
        return str(self.user_id)


class Refused(Exception):
    """A signed_request Ospost will not act on, with the reason to answer."""


def accept(signed_request: str, secret: str, max_age: timedelta) -> SignedPayload:
    """Verify a callback's signed_request and record its use in the session.

    Raises Refused unless it is valid, fresh and new. The caller commits the
    record together with the work it does, so a failed callback can be retried.
    """
    payload, signature = verify(signed_request, secret)
    now = now_utc()
    issued = datetime.fromtimestamp(payload.issued_at, UTC)
    if issued < now - max_age or (
        payload.expires and payload.expires < now.timestamp()
    ):
        raise Refused("This signed_request is too old.")
    if issued > now + CLOCK_SKEW:
        raise Refused("This signed_request was issued in the future.")
    _remember(
        hashlib.sha256(signature).hexdigest(), until=issued + max_age + CLOCK_SKEW
    )
    return payload


def verify(signed_request: str, secret: str) -> tuple[SignedPayload, bytes]:
    """The payload and signature of a signed_request made with ``secret``, or Refused.

    The signature is checked before the payload is parsed, so input from anyone
    but Meta never reaches the JSON decoder; the decoder still has msgspec's
    depth limit and a schema.
    """
    if not signed_request or len(signed_request) > MAX_CHARS:
        raise Refused("Invalid signed_request.")
    sig_part, _, payload_part = signed_request.partition(".")
    try:
        signature = _b64url(sig_part)
        expected = hmac.new(
            secret.encode(), payload_part.encode(), hashlib.sha256
        ).digest()
    except ValueError:  # not base64, or not ASCII
        raise Refused("Invalid signed_request.") from None
    if not hmac.compare_digest(signature, expected):
        raise Refused("Invalid signed_request.")
    try:
        payload = msgspec.json.decode(_b64url(payload_part), type=SignedPayload)
    except (ValueError, RecursionError):
        # ValueError covers bad base64 and msgspec's DecodeError/ValidationError.
        raise Refused("Invalid signed_request payload.") from None
    if payload.algorithm.upper() != "HMAC-SHA256":
        raise Refused("Invalid signed_request.")
    return payload, signature


def _remember(digest: str, until: datetime) -> None:
    """Record a use of the request with this digest; Refused if it was used before.

    Rows that could no longer pass the age check are purged on the way.
    """
    db.session.execute(
        delete(UsedSignedRequest).where(UsedSignedRequest.expires_at <= now_utc())
    )
    db.session.add(UsedSignedRequest(digest=digest, expires_at=until))
    try:
        db.session.flush()
    except IntegrityError:
        # Used before, or by a simultaneous request that got there first.
        db.session.rollback()
        raise Refused("This signed_request was already used.") from None


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
