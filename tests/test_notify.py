"""Notifications by email through a real SMTP server (aiosmtpd), one-click
unsubscribe, the outbox's exactly-once recording and delivery, and the demo
Outbox page. Webhooks and push: tests/test_notify_webhooks.py."""

from __future__ import annotations

import re
import ssl
import threading
from datetime import timedelta

import pytest
from notify_servers import free_port
from notify_servers import password_checker
from notify_servers import self_signed_cert
from notify_servers import smtp_server
from notify_support import ADDRESS
from notify_support import JSON
from notify_support import config
from notify_support import deliveries
from notify_support import drain
from notify_support import failed_event
from notify_support import log_in
from notify_support import record
from notify_support import set_webhook
from notify_support import the_post_id
from notify_support import the_user
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from models import Post
from models import PostStatus
from models import User
from models import db
from models import now_utc
from ospost.engine import LostLease
from ospost.engine import Step
from ospost.notify import events
from ospost.notify import render
from ospost.notify.models import Delivery
from ospost.notify.models import NotificationEvent
from ospost.notify.models import NotificationSettings
from ospost.notify.models import PersonNotificationSettings
from ospost.notify.outbox import Outbox
from ospost.notify.outbox import outbox
from ospost.notify.push import new_private_key
from ospost.people import AccountAccess
from ospost.people import Person
from ospost.scheduler import publisher
from support import create_post
from support import wait_for

# -- email through a real SMTP server ------------------------------------------------


def test_failed_post_is_emailed_once_with_reason_retry_link_and_unsubscribe(
    make_app, world, mail
):
    port, box = mail
    app = make_app(start_scheduler=True, **config(port))
    client = log_in(app, world)
    world.add_fault(
        {"endpoint": "create"},
        {"http": 400, "code": 100, "subcode": 2207040, "user_msg": "You can't tag 21."},
    )
    assert create_post(client, caption="Beach day #sun").status_code == 200
    post_id = the_post_id(app)
    client.post(f"/post/{post_id}/publish", headers=JSON)
    wait_for(lambda: box.messages, timeout=15)
    [msg] = box.messages
    assert msg["To"] == ADDRESS and msg["From"] == "Ospost <ospost@ospost.test>"
    assert msg["Subject"] == "Post not published on @ospost.demo: Beach day #sun"
    body = msg.get_content()
    assert "Why: You can't tag 21." in body
    assert f"https://ospost.test/post/{post_id}/edit" in body
    assert re.fullmatch(r"<ospost\.[0-9a-f]{32}\.\d+@ospost\.test>", msg["Message-ID"])
    unsubscribe = re.fullmatch(
        r"<(https://ospost\.test/unsubscribe/\S+)>", msg["List-Unsubscribe"]
    )
    assert unsubscribe and unsubscribe[1] in body
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # More ticks and the sweep send nothing more.
    publisher.shutdown()
    drain(app)
    assert len(box.messages) == 1
    [sent] = deliveries(app)
    assert (sent.channel, sent.status, sent.attempts) == ("email", "sent", 1)


def test_token_error_emails_the_failure_and_one_log_in_again(make_app, world, mail):
    port, box = mail
    app = make_app(start_scheduler=True, **config(port))
    client = log_in(app, world)
    world.add_fault(
        {"endpoint": "create"}, {"http": 400, "code": 190, "subcode": 463}, times=None
    )
    for caption in ("one", "two"):
        assert create_post(client, caption=caption).status_code == 200
    with app.app_context():
        ids = db.session.scalars(select(Post.id)).all()
    for post_id in ids:
        client.post(f"/post/{post_id}/publish", headers=JSON)
    wait_for(lambda: len(box.messages) >= 3, timeout=20)
    publisher.shutdown()
    drain(app)
    subjects = sorted(str(m["Subject"]).strip() for m in box.messages)
    assert subjects == [
        "Log in again: Instagram disconnected @ospost.demo from Ospost",
        "Post not published on @ospost.demo: one",
        "Post not published on @ospost.demo: two",
    ]
    reauth = next(m for m in box.messages if m["Subject"].startswith("Log in"))
    assert "https://ospost.test/login?reconnect=1" in reauth.get_content()


def test_starttls_and_login_with_a_self_signed_certificate(make_app, world, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    with smtp_server(
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=password_checker("ospost", "s3cret pass"),
    ) as (port, box):
        app = make_app(
            **config(
                port,
                SMTP_SECURITY="starttls",
                SMTP_USER="ospost",
                SMTP_PASSWORD="s3cret pass",
                SMTP_CA_FILE=str(cert),
            )
        )
        log_in(app, world)
        record(app, failed_event(the_user(app)))
        drain(app)
        [msg] = box.messages
        assert msg["X-Test-Tls"] == "yes"
        assert msg["X-Test-Rcpt"] == ADDRESS


def test_implicit_tls_and_an_untrusted_certificate(make_app, world, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    with smtp_server(ssl_context=server_tls) as (port, box):
        # Not told to trust the certificate: nothing is sent, it is retried.
        app = make_app(**config(port, SMTP_SECURITY="tls"))
        log_in(app, world)
        record(app, failed_event(the_user(app)))
        outbox.tick()
        [waiting] = deliveries(app)
        assert waiting.status == "pending" and "TLS" in waiting.last_error
        assert box.messages == []
        app.config["SMTP_CA_FILE"] = str(cert)
        with app.app_context():
            db.session.execute(update(Delivery).values(next_attempt_at=now_utc()))
            db.session.commit()
        drain(app)
        [msg] = box.messages
        assert msg["X-Test-Tls"] == "yes"
        assert deliveries(app)[0].attempts == 2


def test_a_refused_recipient_is_not_retried(make_app, world, mail):
    port, box = mail
    box.refuse_rcpt = "550 5.1.1 No such user here"
    app = make_app(**config(port))
    log_in(app, world)
    record(app, failed_event(the_user(app)))
    drain(app)
    [gone] = deliveries(app)
    assert (gone.status, gone.attempts) == ("failed", 1)
    assert "550" in gone.last_error
    assert box.messages == []


def test_an_unreachable_server_is_retried_until_it_answers(make_app, world):
    port = free_port()  # nothing listens there yet
    app = make_app(**config(port))
    log_in(app, world)
    record(app, failed_event(the_user(app)))
    outbox.tick()
    [waiting] = deliveries(app)
    assert waiting.status == "pending" and "could not be reached" in waiting.last_error
    with smtp_server(port=port) as (_port, box):
        drain(app)
        assert len(box.messages) == 1
    assert deliveries(app)[0].status == "sent"


def test_password_never_reaches_the_logs_or_the_delivery(make_app, world, caplog):
    app = make_app(**config(free_port(), SMTP_USER="u", SMTP_PASSWORD="hunter2-secret"))
    log_in(app, world)
    record(app, failed_event(the_user(app)))
    outbox.tick()
    assert "hunter2" not in caplog.text
    assert "hunter2" not in (deliveries(app)[0].last_error or "")


# -- choosing and unsubscribing ------------------------------------------------------


def test_each_email_kind_can_be_chosen_on_the_account_page(make_app, world, mail):
    port, box = mail
    app = make_app(**config(port))
    client = log_in(app, world, email_reauth="")  # failed posts only
    page = client.get("/account").get_data(as_text=True)
    assert 'id="notifications"' in page and f'value="{ADDRESS}"' in page
    user = the_user(app)
    record(app, failed_event(user), events.needs_reauth(user, "gone"))
    drain(app)
    assert [m["Subject"].split(":")[0] for m in box.messages] == [
        "Post not published on @ospost.demo"
    ]
    resp = client.post("/account/notifications", data={"email": "not an address"})
    assert resp.status_code == 302
    assert "one email address" in client.get("/account").get_data(as_text=True)
    with app.app_context():
        [prefs] = db.session.scalars(select(PersonNotificationSettings)).all()
        assert prefs.user_id == user.id and prefs.email == ADDRESS


def test_one_click_unsubscribe_needs_no_login_and_no_csrf_token(make_app, world):
    app = make_app(**config(), WTF_CSRF_ENABLED=True)
    with app.app_context():
        user = User(ig_account_id="17841499", ig_username="shop", timezone="UTC")
        person = Person(fb_user_id="9001")
        db.session.add_all([user, person])
        db.session.flush()
        db.session.add(AccountAccess(person_id=person.id, user_id=user.id))
        db.session.add(
            PersonNotificationSettings(
                person_id=person.id, user_id=user.id, email=ADDRESS
            )
        )
        db.session.commit()
        token = render.unsubscribe_token(
            app.config["SECRET_KEY"], person.id, user, events.POST_FAILED
        )
        user_id, person_id = user.id, person.id
    client = app.test_client()
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert (
        "Stop emails to me@example.com when a post failed on @shop?"
        in page.get_data(as_text=True)
    )
    resp = client.post(
        f"/unsubscribe/{token}",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert resp.status_code == 200
    assert "no longer email" in resp.get_data(as_text=True)
    with app.app_context():
        prefs = db.session.get(PersonNotificationSettings, (person_id, user_id))
        assert prefs.email_failed is False and prefs.email_reauth is True
    assert client.post(f"/unsubscribe/{token[:-2]}xx").status_code == 404
    assert client.get("/unsubscribe/garbage").status_code == 404


# -- the outbox: recorded once, delivered once ----------------------------------------


def test_an_event_is_recorded_once_per_key(make_app, world):
    app = make_app(**config())
    log_in(app, world, email=None)
    user = the_user(app)
    for _ in range(3):
        record(app, failed_event(user, occurrence="same"))
    record(app, failed_event(user, occurrence="after a retry"))
    with app.app_context():
        assert db.session.scalar(select(func.count(NotificationEvent.id))) == 2


def test_a_step_that_lost_its_lease_records_no_event(make_app, world, auth):
    app = make_app(**config())
    client = log_in(app, world, email=None)
    assert create_post(client).status_code == 200
    post_id = the_post_id(app)
    with app.app_context():
        db.session.execute(update(Post).values(next_attempt_at=now_utc()))
        db.session.commit()
        engine = publisher.engine
        post, user, items = engine.leases.claim(post_id, now_utc())
        step = Step(post=post, user=user, token="t", now=now_utc(), items=items)
        # Another worker takes the post over.
        db.session.execute(update(Post).values(lease_owner="someone else"))
        db.session.commit()
        with pytest.raises(LostLease):
            engine.policy.fail(step, "Too many tags.")
        assert db.session.scalar(select(func.count(NotificationEvent.id))) == 0
        assert db.session.get(Post, post_id).status == PostStatus.PUBLISHING


def test_two_workers_send_each_email_exactly_once(make_app, world, mail):
    port, box = mail
    app = make_app(**config(port))
    log_in(app, world)
    user = the_user(app)
    record(app, *(failed_event(user, post_id=i, occurrence=str(i)) for i in range(30)))
    workers = [Outbox(), Outbox()]
    for worker in workers:
        worker.init_app(app)

    def run(worker):
        for _ in range(40):
            worker.tick()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    drain(app)
    ids = box.message_ids()
    assert len(ids) == 30 and len(set(ids)) == 30
    assert {d.status for d in deliveries(app)} == {"sent"}


def test_missed_posts_at_start_up_are_announced_once(make_app, world, mail):
    port, box = mail
    app = make_app(**config(port))
    client = log_in(app, world)
    assert create_post(client, caption="late").status_code == 200
    with app.app_context():
        long_ago = now_utc() - timedelta(days=3)
        db.session.execute(update(Post).values(next_attempt_at=long_ago))
        db.session.commit()
    publisher.recover()
    publisher.recover()
    drain(app)
    [msg] = box.messages
    assert "Missed while the server was down" in msg.get_content()


def test_expiring_login_and_daily_summary_are_recorded_once(make_app, world, mail):
    port, box = mail
    app = make_app(**config(port, NOTIFY_SUMMARY_HOUR=0))
    client = log_in(app, world, email_summary="on")
    assert create_post(client, caption="after expiry").status_code == 200
    with app.app_context():
        expires = now_utc() + timedelta(days=3)
        db.session.execute(update(User).values(token_expires_at=expires))
        db.session.execute(
            update(Post).values(scheduled_at=expires + timedelta(days=1))
        )
        db.session.commit()
    for _ in range(2):
        with app.app_context():
            outbox.scan()
    drain(app)
    subjects = sorted(str(m["Subject"]).strip() for m in box.messages)
    assert len(subjects) == 2
    assert subjects[0].startswith("Ospost daily summary for @ospost.demo: 0 published")
    assert subjects[1].startswith("Your Instagram login for @ospost.demo expires on")
    expiring = next(m for m in box.messages if "expires" in m["Subject"])
    assert "1 scheduled post is due after that" in expiring.get_content()


def test_deleting_the_account_deletes_its_notifications(make_app, world, receiver):
    app = make_app(**config())
    client = log_in(app, world)
    set_webhook(client, receiver.url())
    record(app, failed_event(the_user(app)))
    with app.app_context():
        outbox.fan_out()
    assert client.post("/account/delete").status_code == 302
    with app.app_context():
        for model in (
            NotificationEvent,
            Delivery,
            NotificationSettings,
            PersonNotificationSettings,
        ):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0


# -- demo mode -----------------------------------------------------------------------


def test_demo_mode_shows_notifications_in_the_outbox_instead_of_sending(
    make_app, world, mail
):
    port, box = mail
    app = make_app(**config(port), DEMO=True)
    client = log_in(app, world)
    record(app, failed_event(the_user(app)))
    drain(app)
    assert box.messages == []
    [kept] = deliveries(app)
    assert kept.status == "demo"
    page = client.get("/notifications/outbox").get_data(as_text=True)
    assert "Post not published on @ospost.demo: Sunset over the bay" in page
    assert "List-Unsubscribe=One-Click" in page and "Why: Too many tags." in page
    assert 'href="/notifications/outbox"' in client.get("/account").get_data(
        as_text=True
    )
    real = make_app(**config(port))
    assert log_in(real, world).get("/notifications/outbox").status_code == 404


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"SMTP_HOST": "mail.test", "SMTP_SECURITY": "ssl3"}, "SMTP_SECURITY"),
        ({"VAPID_PRIVATE_KEY": "not-a-key", "VAPID_SUBJECT": "mailto:a@b.c"}, "VAPID"),
        (
            {"VAPID_PRIVATE_KEY": new_private_key(), "VAPID_SUBJECT": "me"},
            "VAPID_SUBJECT",
        ),
    ],
)
def test_malformed_settings_refuse_to_start(make_app, setting, message):
    with pytest.raises(RuntimeError, match=message):
        make_app(**setting)
