"""Email and browser push per person: everyone who manages an account chooses
their own address and events, and only hears about accounts they still hold.

The simulator's "demo" Facebook user manages @ospost.demo; granting its Page
to "other" makes two people share that one account (as in test_accounts.py).
"""

from __future__ import annotations

import pytest
from notify_servers import BrowserKeys
from notify_support import JSON
from notify_support import config
from notify_support import deliveries
from notify_support import drain
from notify_support import failed_event
from notify_support import record
from sqlalchemy import select

import simulator
from models import User
from models import db
from ospost.notify import events
from ospost.notify import render
from ospost.notify.models import PersonNotificationSettings
from ospost.notify.outbox import outbox
from ospost.notify.push import new_private_key
from ospost.people import Person
from support import AuthActions

DEMO_IG = "17841400000000001"
DEMO_PAGE = "200000000000001"
FB = simulator.DEMO_USERS
ALL_ON = ("email_failed", "email_reauth", "email_expiring")


def person(app, world, name: str, email: str, *choices: str, **login):
    """A browser of ``name`` (logged in through the real route) that saved
    ``email`` and exactly ``choices`` on the account page."""
    client = app.test_client()
    assert AuthActions(client, world).login(name, **login).status_code == 200
    form = {"email": email} | dict.fromkeys(choices, "on")
    assert client.post("/account/notifications", data=form).status_code == 302
    return client


@pytest.fixture
def shared(world):
    """Two people, demo and other, both holding @ospost.demo."""
    world.grant_page(DEMO_PAGE, FB["other"])
    return world


def mailed(box) -> list[tuple[str, str]]:
    return sorted((m["To"], m["Subject"].split(":")[0]) for m in box.messages)


def choices(app, address: str) -> PersonNotificationSettings:
    with app.app_context():
        row = db.session.scalars(
            select(PersonNotificationSettings).where(
                PersonNotificationSettings.email == address
            )
        ).one()
        db.session.expunge(row)
        return row


def test_a_failed_post_emails_exactly_the_people_who_chose_it_once_each(
    make_app, shared, mail
):
    port, box = mail
    app = make_app(**config(port))
    person(app, shared, "demo", "ann@example.com", *ALL_ON)
    person(app, shared, "other", "bob@example.com", "email_reauth", ig_id=DEMO_IG)
    third = person(app, shared, "multi", "cy@example.com", *ALL_ON)
    page = third.get("/account").get_data(as_text=True)
    assert 'value="cy@example.com"' in page  # each page shows its own address
    user = the_user_of(app, DEMO_IG)
    record(app, failed_event(user))
    record(app, failed_event(user))  # the same event again: recorded once
    drain(app)
    assert mailed(box) == [("ann@example.com", "Post not published on @ospost.demo")]

    record(app, events.needs_reauth(user, "Password changed."))
    drain(app)
    reauth = [to for to, subject in mailed(box) if subject.startswith("Log in")]
    assert reauth == ["ann@example.com", "bob@example.com"]
    emails = deliveries(app, channel="email")
    assert len(emails) == 3 and all(d.status == "sent" for d in emails)
    # Each is its own delivery, to its own person and target.
    reauth_rows = [d for d in emails if d.event_id == emails[-1].event_id]
    assert len({d.person_id for d in reauth_rows}) == 2
    assert len({d.target for d in reauth_rows}) == 2
    # Running the worker again sends nothing more.
    drain(app)
    assert len(box.messages) == 3


def test_unsubscribing_from_one_persons_email_leaves_the_others(make_app, shared, mail):
    port, box = mail
    app = make_app(**config(port))
    person(app, shared, "demo", "ann@example.com", *ALL_ON)
    person(app, shared, "other", "bob@example.com", *ALL_ON, ig_id=DEMO_IG)
    user = the_user_of(app, DEMO_IG)
    record(app, failed_event(user, occurrence="1"))
    drain(app)
    assert [to for to, _ in mailed(box)] == ["ann@example.com", "bob@example.com"]
    to_ann = next(m for m in box.messages if m["To"] == "ann@example.com")
    link = to_ann["List-Unsubscribe"].strip("<>").removeprefix("https://ospost.test")
    # What a mail client does for a one-click unsubscribe: no login, no cookie.
    resp = app.test_client().post(
        link,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert resp.status_code == 200
    assert "ann@example.com" in resp.get_data(as_text=True)
    assert "bob@example.com" not in resp.get_data(as_text=True)
    assert choices(app, "ann@example.com").email_failed is False
    assert choices(app, "ann@example.com").email_reauth is True
    assert choices(app, "bob@example.com").email_failed is True

    box.messages.clear()
    record(app, failed_event(user, occurrence="2"))
    drain(app)
    assert [to for to, _ in mailed(box)] == ["bob@example.com"]


def test_a_person_whose_access_was_removed_gets_no_email_or_push(
    make_app, shared, mail, receiver
):
    port, box = mail
    app = make_app(
        **config(
            port,
            VAPID_PRIVATE_KEY=new_private_key(),
            VAPID_SUBJECT="mailto:ops@ospost.test",
        )
    )
    receiver.default_status = 201
    person(app, shared, "demo", "ann@example.com", *ALL_ON, "push_failed")
    bob = person(
        app, shared, "other", "bob@example.com", *ALL_ON, "push_failed", ig_id=DEMO_IG
    )
    sub = BrowserKeys().subscription(receiver.url("/push/bobs-phone"))
    assert bob.post("/account/push", json=sub, headers=JSON).status_code == 200
    user = the_user_of(app, DEMO_IG)

    # A failed post fanned out while Bob still held the account...
    record(app, failed_event(user, occurrence="1"))
    with app.app_context():
        outbox.fan_out()
    assert {(d.channel, d.target) for d in deliveries(app)} == {
        ("email", "ann@example.com"),
        ("email", "bob@example.com"),
        ("push", str(deliveries(app, channel="push")[0].target)),
    }
    # ...then Bob disconnects it for himself (Ann keeps it).
    assert bob.post(f"/accounts/{user.id}/disconnect").status_code == 302
    record(app, failed_event(user, occurrence="2"))
    drain(app)
    failed = [to for to, s in mailed(box) if s.startswith("Post not published")]
    assert failed == ["ann@example.com", "ann@example.com"]
    assert receiver.count() == 0
    cancelled = {
        (d.channel, d.target) for d in deliveries(app) if d.status == "cancelled"
    }
    assert ("email", "bob@example.com") in cancelled
    assert any(channel == "push" for channel, _ in cancelled)
    # The event after he left made nothing for him at all.
    with app.app_context():
        bob_id = db.session.scalar(
            select(Person.id).where(Person.fb_user_id == FB["other"])
        )
    later = [d for d in deliveries(app) if d.status != "cancelled"]
    assert all(d.person_id != bob_id for d in later)
    # His address for that account is gone with his access.
    with app.app_context():
        assert (
            db.session.scalars(
                select(PersonNotificationSettings.email).where(
                    PersonNotificationSettings.person_id == bob_id
                )
            ).all()
            == []
        )


def test_each_persons_choices_are_their_own_on_the_account_page(make_app, shared):
    app = make_app(**config())
    ann = person(app, shared, "demo", "ann@example.com", "email_failed")
    bob = person(app, shared, "other", "", "email_summary", ig_id=DEMO_IG)
    ann_page = ann.get("/account").get_data(as_text=True)
    bob_page = bob.get("/account").get_data(as_text=True)
    assert 'value="ann@example.com"' in ann_page
    assert "ann@example.com" not in bob_page
    assert choices(app, "ann@example.com").email_summary is False
    with app.app_context():
        rows = db.session.scalars(select(PersonNotificationSettings)).all()
        assert sorted((r.email or "", r.email_summary) for r in rows) == [
            ("", True),
            ("ann@example.com", False),
        ]


def the_user_of(app, ig_id: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.ig_account_id == ig_id))
        db.session.expunge(user)
    return user


BEFORE = "b5e8a4c2d7f1"  # people exist, notification choices are the account's


def test_migration_copies_each_accounts_choices_to_everyone_holding_it(make_app):
    """Accounts with email choices from before: every holder gets a copy, the
    webhook stays the account's, a push subscription goes to the person who
    last logged the account in; a downgrade puts them back on the account."""
    from flask_migrate import downgrade
    from flask_migrate import upgrade
    from sqlalchemy import text

    app = make_app()
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade(revision=BEFORE)
        sql = [
            "INSERT INTO users (id, ig_account_id, fb_user_id, ig_username, "
            "profile_picture_url, page_name, needs_reauth, timezone, created_at) "
            "VALUES (1, '101', '9002', 'shared', '', '', false, 'UTC', "
            "CURRENT_TIMESTAMP), (2, '102', '9001', 'solo', '', '', false, 'UTC', "
            "CURRENT_TIMESTAMP)",
            "INSERT INTO people (id, fb_user_id, name, created_at) VALUES "
            "(1, '9001', 'Ann', CURRENT_TIMESTAMP), "
            "(2, '9002', 'Bob', CURRENT_TIMESTAMP)",
            "INSERT INTO account_access (person_id, user_id, granted_at) VALUES "
            "(1, 1, CURRENT_TIMESTAMP), (2, 1, CURRENT_TIMESTAMP), "
            "(1, 2, CURRENT_TIMESTAMP)",
            "INSERT INTO notification_settings (user_id, email, email_failed, "
            "email_reauth, email_expiring, email_summary, push_failed, "
            "push_published, webhook_url, updated_at) VALUES "
            "(1, 'team@example.com', false, true, true, true, true, false, "
            "'https://hook.example/in', CURRENT_TIMESTAMP)",
            "INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, "
            "created_at) VALUES (5, 1, 'https://push.example/1', 'k', 'a', "
            "CURRENT_TIMESTAMP)",
            "INSERT INTO notification_events (id, key, uid, kind, user_id, payload, "
            "created_at, fanned_out_at) VALUES (1, 'post.failed:1:1', 'u1', "
            "'post.failed', 1, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            "INSERT INTO notification_deliveries (id, event_id, user_id, channel, "
            "target, status, attempts, created_at) VALUES "
            "(1, 1, 1, 'email', 'team@example.com', 'pending', 0, CURRENT_TIMESTAMP),"
            " (2, 1, 1, 'webhook', 'https://hook.example/in', 'pending', 0, "
            "CURRENT_TIMESTAMP)",
        ]
        for statement in sql:
            db.session.execute(text(statement))
        db.session.commit()
        upgrade()
        rows = db.session.execute(
            text(
                "SELECT person_id, user_id, email, email_failed, email_summary, "
                "push_published FROM person_notification_settings ORDER BY 1, 2"
            )
        ).all()
        assert [tuple(r) for r in rows] == [
            (1, 1, "team@example.com", False, True, False),
            (2, 1, "team@example.com", False, True, False),
        ]
        assert db.session.execute(
            text("SELECT user_id, webhook_url FROM notification_settings")
        ).all() == [(1, "https://hook.example/in")]
        # Bob (9002) logged the shared account in last: his browser.
        assert db.session.execute(
            text("SELECT id, person_id FROM push_subscriptions")
        ).all() == [(5, 2)]
        # An email queued before the upgrade still goes out (to that person).
        assert db.session.execute(
            text("SELECT id, person_id FROM notification_deliveries ORDER BY id")
        ).all() == [(1, 2), (2, None)]
        db.session.remove()
        downgrade(revision=BEFORE)
        assert db.session.execute(
            text("SELECT user_id, email, email_failed FROM notification_settings")
        ).all() == [(1, "team@example.com", False)]
        assert db.session.execute(
            text("SELECT id, user_id FROM push_subscriptions")
        ).all() == [(5, 1)]
        db.session.remove()
        upgrade()


def test_the_demo_outbox_shows_each_person_their_own_emails(make_app, shared):
    app = make_app(**config(), DEMO=True)
    ann = person(app, shared, "demo", "ann@example.com", *ALL_ON)
    bob = person(app, shared, "other", "bob@example.com", *ALL_ON, ig_id=DEMO_IG)
    record(app, failed_event(the_user_of(app, DEMO_IG)))
    drain(app)
    assert sorted(d.status for d in deliveries(app)) == ["demo", "demo"]
    ann_page = ann.get("/notifications/outbox").get_data(as_text=True)
    bob_page = bob.get("/notifications/outbox").get_data(as_text=True)
    assert "Post not published on @ospost.demo" in ann_page
    assert "ann@example.com" in ann_page and "bob@example.com" not in ann_page
    assert "bob@example.com" in bob_page and "ann@example.com" not in bob_page


def test_an_unsubscribe_link_from_before_people_speaks_for_every_holder(
    make_app, shared
):
    """Links already in inboxes named only the account: they keep their word."""
    from itsdangerous import URLSafeSerializer

    app = make_app(**config())
    person(app, shared, "demo", "ann@example.com", *ALL_ON)
    person(app, shared, "other", "bob@example.com", *ALL_ON, ig_id=DEMO_IG)
    user = the_user_of(app, DEMO_IG)
    old = URLSafeSerializer(app.config["SECRET_KEY"], salt="ospost.unsubscribe")
    token = old.dumps([user.id, user.ig_account_id, events.POST_FAILED])
    resp = app.test_client().post(f"/unsubscribe/{token}")
    assert resp.status_code == 200
    assert choices(app, "ann@example.com").email_failed is False
    assert choices(app, "bob@example.com").email_failed is False
    assert choices(app, "bob@example.com").email_reauth is True
    # A person's link for an account they no longer hold finds nothing.
    with app.app_context():
        bob_id = db.session.scalar(
            select(Person.id).where(Person.fb_user_id == FB["other"])
        )
    gone = render.unsubscribe_token(
        app.config["SECRET_KEY"], bob_id + 100, user, events.POST_FAILED
    )
    assert app.test_client().get(f"/unsubscribe/{gone}").status_code == 404
