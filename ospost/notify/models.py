"""The notification tables: each person's choices, the outbox and push subscriptions.

``notification_events`` is the outbox: one row per thing that happened (a post
failed, an account needs logging in again...), written in the same transaction
as the change that caused it and unique per ``key``. The delivery worker turns
each event into ``notification_deliveries`` rows, one per channel and target,
and sends those.

Webhooks belong to the Instagram account (``notification_settings``, keyed by
``users.id``). Email and browser push belong to the person (``people``): each
person holding an account keeps their own address and choices for it
(``person_notification_settings``, keyed by person and account), and push
subscriptions are a person's browsers.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from models import EncryptedText
from models import UTCDateTime
from models import db
from models import now_utc


def new_uid() -> str:
    return uuid.uuid4().hex


class NotificationSettings(db.Model):
    """Where an account's events are POSTed (absent: no webhook)."""

    __tablename__ = "notification_settings"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    webhook_secret: Mapped[str | None] = mapped_column(EncryptedText)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=now_utc, onupdate=now_utc
    )


class PersonNotificationSettings(db.Model):
    """What one person wants to hear about one account they hold, by email and
    in their browsers (absent: the defaults)."""

    __tablename__ = "person_notification_settings"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    email: Mapped[str | None] = mapped_column(String(320))
    email_failed: Mapped[bool] = mapped_column(Boolean, default=True)
    email_reauth: Mapped[bool] = mapped_column(Boolean, default=True)
    email_expiring: Mapped[bool] = mapped_column(Boolean, default=True)
    email_summary: Mapped[bool] = mapped_column(Boolean, default=False)
    push_failed: Mapped[bool] = mapped_column(Boolean, default=True)
    push_published: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=now_utc, onupdate=now_utc
    )


class NotificationEvent(db.Model):
    """Something a person may be told about, recorded exactly once (the outbox)."""

    __tablename__ = "notification_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "<kind>:<subject>:<occurrence>": a retried or concurrent write of the
    # same event hits this constraint and records nothing.
    key: Mapped[str] = mapped_column(String(255), unique=True)
    # Public id: webhook event id and Idempotency-Key, email Message-ID.
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=new_uid)
    kind: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    # Set when its deliveries were made (NULL: the worker still has to).
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_notification_events_pending", "fanned_out_at"),)


class DeliveryStatus:
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up: a permanent refusal, or 24 h of retries
    DEMO = "demo"  # demo mode: shown on the Outbox page instead of sent
    CANCELLED = "cancelled"  # the target went away before it was sent


class Delivery(db.Model):
    """One event going out through one channel to one target."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("notification_events.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # Whose email or browser it goes to (None: the account's webhook).
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))  # email, webhook, push
    # The address, URL or push subscription id it goes to.
    target: Mapped[str] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_code: Mapped[int | None] = mapped_column(Integer)
    # At most a few hundred characters of what the receiver answered or why
    # it failed: never a whole body.
    last_error: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (
        UniqueConstraint("event_id", "channel", "target", name="uq_delivery_target"),
        Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    )


class PushSubscription(db.Model):
    """A person's browser that opted in to push notifications (for the
    accounts that person holds and wants pushes about)."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(String(2048), unique=True)
    p256dh: Mapped[str] = mapped_column(String(255))
    auth: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


def subscription_info(sub: PushSubscription | None) -> dict | None:
    """The subscription as the Push API (and pywebpush) spells it."""
    if sub is None:
        return None
    return {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}


def settings_for(session, user_id: int) -> NotificationSettings:
    """The account's webhook settings, or none (not yet saved)."""
    row = session.get(NotificationSettings, user_id)
    if row is not None:
        return row
    return NotificationSettings(user_id=user_id, webhook_url=None, webhook_secret=None)


def person_settings_for(
    session, person_id: int, user_id: int
) -> PersonNotificationSettings:
    """This person's email and push choices for this account, or the defaults
    (not yet saved)."""
    row = session.get(PersonNotificationSettings, (person_id, user_id))
    if row is not None:
        return row
    return PersonNotificationSettings(
        person_id=person_id,
        user_id=user_id,
        email=None,
        email_failed=True,
        email_reauth=True,
        email_expiring=True,
        email_summary=False,
        push_failed=True,
        push_published=True,
    )
