"""What logging in and Meta's callbacks keep: server-side sessions, data-deletion
requests and the signed requests already acted on.

Importable from ``models`` too, which imports this module once ``db`` exists.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from models import db
from models import now_utc
from ospost.columns import UTCDateTime


class WebSession(db.Model):
    """Server-side session storage; rows die with their account or person."""

    __tablename__ = "web_sessions"

    session_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    # The account the session is looking at; the person logged in.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)
    expiry: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def new_confirmation_code() -> str:
    """A code the person can look up their deletion request's status with."""
    return secrets.token_hex(10)


class DeletionRequest(db.Model):
    """A data-deletion request Meta sent us, so the person can check its status."""

    __tablename__ = "deletion_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    confirmation_code: Mapped[str] = mapped_column(
        String(32), unique=True, default=new_confirmation_code
    )
    fb_user_id: Mapped[str] = mapped_column(String(64))
    accounts_deleted: Mapped[int] = mapped_column(Integer, default=0)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsedSignedRequest(db.Model):
    """A Meta callback already acted on, kept until its age alone would refuse it."""

    __tablename__ = "used_signed_requests"

    # SHA-256 of the request's HMAC signature, which is unique per payload.
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
