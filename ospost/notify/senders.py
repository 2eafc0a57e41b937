"""Sending one delivery on its channel: email, webhook or browser push.

``send`` is what the delivery worker (``outbox.py``) calls between claiming a
delivery and recording how it went; it holds no transaction while it talks to
the outside world, and turns every answer into an ``Outcome``: sent, failed
for good, cancelled, or (``status`` None) try again later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy import select

from models import User
from models import db
from ospost.notify import mailer
from ospost.notify import push
from ospost.notify import render
from ospost.notify import webhooks
from ospost.notify.models import Delivery
from ospost.notify.models import DeliveryStatus
from ospost.notify.models import NotificationEvent
from ospost.notify.models import PushSubscription
from ospost.notify.models import settings_for
from ospost.notify.models import subscription_info
from ospost.people import AccountAccess


@dataclass(frozen=True)
class Outcome:
    """How one try went; ``status`` None means "try again later"."""

    status: str | None
    note: str | None = None
    code: int | None = None


def send(config, delivery: Delivery, event: NotificationEvent, user: User) -> Outcome:
    """Send ``delivery`` (in demo mode: keep it for the Outbox page)."""
    if config["DEMO"]:
        return Outcome(DeliveryStatus.DEMO, "demo mode: shown on the Outbox page")
    sender = {"email": _email, "webhook": _webhook, "push": _push}
    return sender[delivery.channel](config, delivery, event, user)


def _still_holds(person_id: int | None, user_id: int) -> bool:
    """The person still holds the account (access lost: nothing more to them)."""
    held = db.session.scalar(
        select(AccountAccess.id).where(
            AccountAccess.person_id == person_id, AccountAccess.user_id == user_id
        )
    )
    db.session.rollback()
    return held is not None


def _email(config, delivery, event, user) -> Outcome:
    if not _still_holds(delivery.person_id, user.id):
        return Outcome(DeliveryStatus.CANCELLED, "no longer holds this account")
    smtp = mailer.SmtpSettings.from_config(config)
    if smtp is None:
        return Outcome(None, "email is not set up (SMTP_HOST)")
    message = render.email_message(
        event,
        delivery,
        user,
        sender=smtp.sender,
        links=render.Links(config["APP_URL"]),
        secret_key=config["SECRET_KEY"],
    )
    try:
        mailer.send(smtp, message)
    except mailer.MailError as exc:
        return Outcome(None if exc.temporary else DeliveryStatus.FAILED, str(exc))
    return Outcome(DeliveryStatus.SENT)


def _webhook(config, delivery, event, user) -> Outcome:
    prefs = settings_for(db.session, user.id)
    detach(db.session, prefs)
    if prefs.webhook_url != delivery.target or not prefs.webhook_secret:
        return Outcome(DeliveryStatus.CANCELLED, "the webhook URL was changed")
    body = render.webhook_body(event, user, render.Links(config["APP_URL"]))
    headers = render.webhook_headers(
        event, prefs.webhook_secret, body, int(time.time())
    )
    timeout = tuple(config["WEBHOOK_TIMEOUT"])
    try:
        answer = webhooks.post(
            delivery.target,
            body,
            headers,
            allow_private=config["WEBHOOK_ALLOW_PRIVATE"],
            timeout=timeout,
        )
    except webhooks.WebhookError as exc:
        return Outcome(None if exc.temporary else DeliveryStatus.FAILED, str(exc))
    if 200 <= answer.status < 300:
        return Outcome(DeliveryStatus.SENT, answer.excerpt or None, answer.status)
    note = f"HTTP {answer.status}" + (f": {answer.excerpt}" if answer.excerpt else "")
    return Outcome(None, note, answer.status)


def _push(config, delivery, event, user) -> Outcome:
    if not _still_holds(delivery.person_id, user.id):
        return Outcome(DeliveryStatus.CANCELLED, "no longer holds this account")
    vapid = push.VapidSettings.from_config(config)
    sub_id = int(delivery.target)
    info = subscription_info(db.session.get(PushSubscription, sub_id))
    db.session.rollback()
    if info is None:
        return Outcome(DeliveryStatus.CANCELLED, "the browser unsubscribed")
    if vapid is None:
        return Outcome(None, "push is not set up (VAPID_PRIVATE_KEY)")
    try:
        webhooks.check_url(
            info["endpoint"], allow_private=config["WEBHOOK_ALLOW_PRIVATE"]
        )
        payload = render.push_payload(event, user, render.Links(config["APP_URL"]))
        code = push.send(info, payload, vapid)
    except push.PushGone as exc:
        db.session.execute(
            delete(PushSubscription).where(PushSubscription.id == sub_id)
        )
        db.session.commit()
        return Outcome(DeliveryStatus.FAILED, str(exc), 410)
    except (push.PushError, webhooks.WebhookError) as exc:
        return Outcome(None if exc.temporary else DeliveryStatus.FAILED, str(exc))
    return Outcome(DeliveryStatus.SENT, None, code)


def detach(session, *objects) -> None:
    """Keep these rows' loaded values readable and end the transaction."""
    for obj in objects:
        if obj in session:
            session.expunge(obj)
    session.rollback()
