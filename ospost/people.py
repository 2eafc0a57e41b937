"""Who may act on which Instagram account: people (Facebook users) and the
accounts Meta lists for them.

A ``User`` row is one Instagram account; everything scheduled hangs off it.
A ``Person`` is the Facebook user who logs in, and an ``AccountAccess`` row says
that Meta's ``/me/accounts`` listed that account for that person at their last
login. Rows appear and disappear only from Meta's answer (``ospost.accounts``).

Importable from ``models`` too, which imports this module once ``db`` exists.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from models import db
from models import now_utc
from ospost.columns import UTCDateTime


class Person(db.Model):
    """A Facebook user who logs in to Ospost (one per Facebook user id)."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    fb_user_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Facebook's display name, shown in post histories ("edited by ...").
    name: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def label(self) -> str:
        """How post histories name this person."""
        return self.name or f"Facebook user {self.fb_user_id}"


class AccountAccess(db.Model):
    """Meta listed this Instagram account for this person at their last login."""

    __tablename__ = "account_access"
    __table_args__ = (UniqueConstraint("person_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
