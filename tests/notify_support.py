"""Helpers the notification tests share: test settings, logging in with a
notification address, recording events and running the delivery worker."""

from __future__ import annotations

import re
from types import SimpleNamespace

from sqlalchemy import func
from sqlalchemy import select

from models import Post
from models import User
from models import db
from models import now_utc
from ospost.notify import events
from ospost.notify.models import Delivery
from ospost.notify.models import NotificationEvent
from ospost.notify.outbox import outbox
from support import AuthActions
from support import wait_for

JSON = {"Accept": "application/json"}
ADDRESS = "me@example.com"


def config(smtp_port: int | None = None, **extra) -> dict:
    """Test settings: fast retries, webhooks to 127.0.0.1 allowed."""
    cfg = {
        "NOTIFY_INTERVAL_SECONDS": 0.2,
        "NOTIFY_BACKOFF_BASE_SECONDS": 0.05,
        "NOTIFY_BACKOFF_CAP_SECONDS": 0.2,
        "NOTIFY_LEASE_SECONDS": 10,
        "WEBHOOK_ALLOW_PRIVATE": True,
        "APP_URL": "https://ospost.test",
    }
    if smtp_port:
        cfg.update(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=smtp_port,
            SMTP_SECURITY="none",
            SMTP_FROM="Ospost <ospost@ospost.test>",
        )
    return cfg | extra


def log_in(app, world, email: str | None = ADDRESS, **prefs):
    client = app.test_client()
    assert AuthActions(client, world).login().status_code == 200
    if email is not None:
        form = {"email": email, "email_failed": "on", "email_reauth": "on"}
        form |= {"email_expiring": "on", "push_failed": "on", "push_published": "on"}
        resp = client.post("/account/notifications", data=form | prefs)
        assert resp.status_code == 302
    return client


def the_user(app) -> User:
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        db.session.expunge(user)
        return user


def record(app, *rows) -> None:
    with app.app_context():
        events.record(db.session, *rows)
        db.session.commit()


def failed_event(user, post_id=7, occurrence="1", reason="Too many tags."):
    post = SimpleNamespace(
        id=post_id,
        user_id=user.id,
        caption="Sunset  over\nthe bay",
        scheduled_at=now_utc(),
    )
    return events.post_failed(post, reason, occurrence=occurrence)


def published_event(user, post_id=8):
    post = SimpleNamespace(
        id=post_id, user_id=user.id, caption="Live!", ig_media_id="1789"
    )
    return events.post_published(
        post, permalink="https://instagram.test/p/x", when=now_utc()
    )


def deliveries(app, **where) -> list[Delivery]:
    with app.app_context():
        rows = db.session.scalars(
            select(Delivery).filter_by(**where).order_by(Delivery.id)
        )
        out = list(rows)
        db.session.expunge_all()
        return out


def drain(app, timeout: float = 15.0) -> None:
    """Run the delivery worker until nothing is left to fan out or send."""

    def settled():
        outbox.tick()
        with app.app_context():
            fresh = db.session.scalar(
                select(func.count(NotificationEvent.id)).where(
                    NotificationEvent.fanned_out_at.is_(None)
                )
            )
            pending = db.session.scalar(
                select(func.count(Delivery.id)).where(Delivery.status == "pending")
            )
        return fresh == 0 and pending == 0

    wait_for(settled, timeout=timeout, interval=0.05)


def the_post_id(app) -> int:
    with app.app_context():
        return db.session.scalars(select(Post.id)).one()


def set_webhook(client, url: str):
    return client.post("/account/webhook", data={"url": url, "action": "save"})


def shown_secret(client) -> str | None:
    found = re.search(
        r"data-webhook-secret>(whsec_[\w-]+)<",
        client.get("/account").get_data(as_text=True),
    )
    return found[1] if found else None
