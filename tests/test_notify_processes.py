"""Notifications from real gunicorn processes killed with SIGKILL between
"event recorded" and "sent": each notification still arrives exactly once."""

from __future__ import annotations

import collections
import os
import signal
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy import update
from test_processes import KEY
from test_processes import Cluster

from models import Post
from models import User
from models import db
from ospost.notify import events
from ospost.notify.models import Delivery
from ospost.notify.models import NotificationEvent
from ospost.notify.models import NotificationSettings
from ospost.notify.models import PersonNotificationSettings
from ospost.people import AccountAccess
from support import AuthActions
from support import create_post
from support import soon
from support import wait_for

pytestmark = pytest.mark.slow


def notify_env(smtp_port: int) -> dict:
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "Ospost <ospost@ospost.test>",
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "OSPOST_NOTIFY_INTERVAL_SECONDS": "0.2",
        "OSPOST_NOTIFY_LEASE_SECONDS": "3",
        "OSPOST_NOTIFY_BACKOFF_BASE_SECONDS": "0.2",
    }


def set_up_account(app, world, webhook_url: str) -> int:
    """Log in (real route), choose email and a webhook; returns the user id."""
    client = app.test_client()
    AuthActions(client, world).login()
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        person_id = db.session.scalar(
            select(AccountAccess.person_id).where(AccountAccess.user_id == user.id)
        )
        db.session.add(
            NotificationSettings(
                user_id=user.id,
                webhook_url=webhook_url,
                webhook_secret="whsec_processes",
            )
        )
        db.session.add(
            PersonNotificationSettings(
                person_id=person_id, user_id=user.id, email="me@example.com"
            )
        )
        db.session.commit()
        return user.id, client


def statuses(app) -> collections.Counter:
    with app.app_context():
        return collections.Counter(
            (d.channel, d.status) for d in db.session.scalars(select(Delivery))
        )


def test_power_cut_before_sending_delivers_each_notification_once(
    make_app, sim, world, mail, receiver
):
    """The engine records two failures inside a gunicorn worker; the whole
    server dies while the first email is being handed over (before the SMTP
    server accepted it); after a restart every email and webhook arrives once."""
    port, box = mail
    app = make_app(TOKEN_ENCRYPTION_KEYS=[KEY])
    _user_id, client = set_up_account(app, world, receiver.url())
    for caption in ("first", "second"):
        assert create_post(client, caption=caption, when=soon(60)).status_code == 200
    world.add_fault(
        {"endpoint": "create"},
        {"http": 400, "code": 100, "subcode": 2207040, "user_msg": "Too many tags."},
        times=None,
    )
    when = datetime.now(UTC) + timedelta(seconds=1)
    with app.app_context():
        db.session.execute(update(Post).values(scheduled_at=when, next_attempt_at=when))
        db.session.commit()
    box.hold_rcpt = True  # the first email stops at RCPT: not accepted
    env = notify_env(port)
    cluster = Cluster(app, sim, workers=1, env=env)
    try:
        wait_for(box.holding.is_set, timeout=30)
        with app.app_context():
            recorded = db.session.scalars(select(NotificationEvent.kind)).all()
        assert recorded == ["post.failed", "post.failed"]
    finally:
        cluster.crash()  # SIGKILL master and worker: a power cut
    box.hold_rcpt = False
    box.release.set()
    assert box.messages == [] and receiver.count() == 0
    restarted = Cluster(app, sim, workers=1, port=cluster.port, env=env)
    try:
        wait_for(
            lambda: statuses(app) == {("email", "sent"): 2, ("webhook", "sent"): 2},
            timeout=30,
            describe=lambda: statuses(app),
        )
        time.sleep(1)  # anything sent twice would have arrived by now
    finally:
        restarted.stop()
    ids = box.message_ids()
    assert len(ids) == 2 and len(set(ids)) == 2
    assert sorted(str(m["Subject"]).strip() for m in box.messages) == [
        "Post not published on @ospost.demo: first",
        "Post not published on @ospost.demo: second",
    ]
    event_ids = [r["headers"]["X-Ospost-Event-Id"] for r in receiver.requests]
    assert len(event_ids) == 2 and len(set(event_ids)) == 2
    with app.app_context():
        attempts = sorted(d.attempts for d in db.session.scalars(select(Delivery)))
    assert attempts == [1, 1, 1, 2]  # only the interrupted email was tried again


def test_worker_killed_after_the_server_accepted_resends_the_same_message_id(
    make_app, sim, world, mail, receiver
):
    """The one window no outbox closes: the SMTP server accepted the message,
    the worker died before recording it. The resend carries the same
    Message-ID (and a webhook the same Idempotency-Key), so the receiver can
    drop it; everything else is sent once."""
    port, box = mail
    app = make_app(TOKEN_ENCRYPTION_KEYS=[KEY])
    user_id, _client = set_up_account(app, world, receiver.url())
    post = SimpleNamespace(id=1, user_id=user_id, caption="x", scheduled_at=soon(1))
    with app.app_context():
        events.record(
            db.session, events.post_failed(post, "Too many tags.", occurrence="1")
        )
        db.session.commit()
    box.hold_after_data = 8  # accepted, but the "250" comes late
    env = notify_env(port)
    cluster = Cluster(app, sim, workers=1, env=env)
    try:
        wait_for(box.holding.is_set, timeout=30)
        (worker,) = cluster.workers()
        os.kill(worker, signal.SIGKILL)  # gunicorn starts a fresh worker
        box.hold_after_data = 0
        wait_for(
            lambda: statuses(app) == {("email", "sent"): 1, ("webhook", "sent"): 1},
            timeout=30,
            describe=lambda: statuses(app),
        )
        time.sleep(1)
    finally:
        cluster.stop()
    ids = box.message_ids()
    assert len(ids) == 2 and len(set(ids)) == 1  # one message, handed over twice
    assert receiver.count() == 1
