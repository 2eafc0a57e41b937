"""Rate limits (429 with Retry-After, per IP and per person) and the publishing
quota applied when scheduling. The gunicorn + Redis test is in test_processes.py."""

from __future__ import annotations

import logging
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from models import Post
from models import User
from models import db
from ospost.quota import busiest_window
from support import AuthActions
from support import create_post
from support import local_input
from support import soon

JSON = {"Accept": "application/json"}


@pytest.fixture
def limited(make_app):
    """An app with rate limits on (memory storage), at their default thresholds."""
    return make_app(RATELIMIT_ENABLED=True)


def debug_token_calls(world) -> int:
    return sum(c["endpoint"] == "debug_token" for c in world.calls())


def assert_limited_json(resp) -> None:
    assert resp.status_code == 429
    body = resp.get_json()
    assert body["ok"] is False
    assert "Try again in" in body["error"]
    assert 1 <= int(resp.headers["Retry-After"]) <= 3600


def test_bad_logins_are_limited_per_ip_before_meta_is_asked(limited, world):
    client = limited.test_client()
    bad = {"accessToken": "EAAnot-a-token-Meta-issued"}
    for _ in range(10):  # RATELIMIT_LOGIN_PER_IP: 10 per minute
        assert client.post("/login", json=bad).status_code == 401
    assert debug_token_calls(world) == 10
    for path in ("/login", "/login/demo"):
        resp = client.post(path, json=bad)
        assert_limited_json(resp)
        assert "login attempts" in resp.get_json()["error"]
    assert debug_token_calls(world) == 10  # the refused ones cost Meta nothing
    # Another network still logs in.
    neighbour = limited.test_client()
    neighbour.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert AuthActions(neighbour, world).login().status_code == 200
    # Looking at the login page is not limited.
    assert client.get("/login").status_code == 200


def test_changes_are_limited_per_person(make_app, world):
    app = make_app(
        RATELIMIT_ENABLED=True, RATELIMIT_MUTATIONS_PER_PERSON="3 per minute"
    )
    alice = app.test_client()
    AuthActions(alice, world).login("demo")
    bob = app.test_client()  # same IP address, another person
    AuthActions(bob, world).login("other")
    # Reorders, moves, publish-now and account changes share one budget.
    assert alice.post("/", json={"order": []}).status_code == 200
    assert alice.post("/post/1/move", data={}, headers=JSON).status_code == 404
    assert alice.post("/account/timezone", data={"timezone": "UTC"}).status_code == 302
    assert_limited_json(alice.post("/post/1/publish", headers=JSON))
    assert bob.post("/", json={"order": []}).status_code == 200


def test_a_limited_form_post_gets_the_error_page(make_app, world):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_MUTATIONS_PER_PERSON="1 per hour")
    client = app.test_client()
    AuthActions(client, world).login()
    assert client.post("/account/timezone", data={"timezone": "UTC"}).status_code == 302
    resp = client.post("/account/timezone", data={"timezone": "Asia/Tokyo"})
    assert resp.status_code == 429
    assert resp.mimetype == "text/html"
    assert "Too many changes in a short time. Try again in" in resp.get_data(True)
    assert 3000 < int(resp.headers["Retry-After"]) <= 3600
    with app.app_context():
        assert db.session.scalars(select(User.timezone)).one() == "UTC"


def test_many_people_behind_one_address_hit_the_ip_ceiling(make_app, world):
    app = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_MUTATIONS_PER_PERSON="2 per minute",
        RATELIMIT_MUTATIONS_PER_IP="3 per minute",
    )
    alice, bob = app.test_client(), app.test_client()
    AuthActions(alice, world).login("demo")
    AuthActions(bob, world).login("other")
    for client in (alice, alice, bob):
        assert client.post("/", json={"order": []}).status_code == 200
    assert_limited_json(bob.post("/", json={"order": []}))


def test_uploads_past_the_limit_save_nothing(make_app, world):
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_UPLOADS_PER_PERSON="2 per minute")
    client = app.test_client()
    AuthActions(client, world).login()
    assert create_post(client).status_code == 200
    assert create_post(client).status_code == 200
    resp = create_post(client)
    assert_limited_json(resp)
    assert "added or edited" in resp.get_json()["error"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Post)) == 2
        user = db.session.scalars(select(User)).one()
    folder = app.extensions["media_store"].user_dir(user.ig_account_id)
    assert len(list(folder.iterdir())) == 4  # two posts, each image + thumbnail


def test_production_warns_when_limits_are_counted_per_process(make_app, caplog):
    key = Fernet.generate_key().decode()
    with caplog.at_level(logging.WARNING, logger="ospost.ratelimit"):
        make_app(
            TESTING=False,
            RATELIMIT_ENABLED=True,
            TOKEN_ENCRYPTION_KEYS=[key],
            SECRET_KEY=Fernet.generate_key().decode(),  # production wants a strong one
        )
    assert "RATELIMIT_STORAGE_URI=redis://" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ospost.ratelimit"):
        make_app(RATELIMIT_ENABLED=True)  # tests and `make run` use one process
    assert "RATELIMIT_STORAGE_URI" not in caplog.text


# -- the publishing quota ------------------------------------------------------


def set_quota(app, total: int | None) -> None:
    with app.app_context():
        db.session.execute(update(User).values(quota_total=total))
        db.session.commit()


def test_scheduling_past_the_quota_in_24_hours_is_refused(app, client, user):
    """One account scheduled 110 posts in a minute; Meta publishes 100 a day."""
    app.config["SCHEDULE_QUOTA_DEFAULT"] = 10  # Meta's quota not read yet
    answers = [create_post(client, when=soon(60 + i)) for i in range(12)]
    assert [r.status_code for r in answers] == [200] * 10 + [400] * 2
    warnings = [r.get_json().get("warning") for r in answers[:10]]
    assert warnings[:8] == [None] * 8  # warned from 90% of the quota
    assert "9 of the 10 posts" in warnings[8] and "10 of the 10" in warnings[9]
    refusal = answers[10].get_json()["error"]
    assert "at most 10 posts in 24 hours" in refusal and "10 are already" in refusal
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Post)) == 10
    # A day later the window is clear again.
    assert create_post(client, when=soon(60 + 24 * 60 + 20)).status_code == 200


def test_the_accounts_own_quota_counts_and_edits_move_rather_than_add(
    app, client, user
):
    set_quota(app, 3)  # as read from content_publishing_limit
    for minutes in (60, 70, 80):
        assert create_post(client, when=soon(minutes)).status_code == 200
    assert create_post(client, when=soon(90)).status_code == 400
    with app.app_context():
        post_id = db.session.scalars(select(Post.id)).first()
    # Moving one of the three within the same window is fine.
    resp = client.post(
        f"/post/{post_id}/edit",
        data={"caption": "moved", "date": local(soon(95))},
        headers=JSON,
    )
    assert resp.status_code == 200, resp.get_json()
    assert "3 of the 3 posts" in resp.get_json()["warning"]


def test_reorder_warns_when_a_window_already_holds_too_many(app, client, user):
    for minutes in (60, 70, 80, 90):
        assert create_post(client, when=soon(minutes)).status_code == 200
    set_quota(app, 3)  # Meta lowered the account's quota after they were planned
    with app.app_context():
        ids = [p.id for p in db.session.scalars(user_posts_newest_first())]
    resp = client.post("/", json={"order": ids[::-1]})
    assert resp.status_code == 200
    assert "4 posts are planned" in resp.get_json()["warning"]
    assert "more than the 3" in resp.get_json()["warning"]


def test_busiest_window_counts_a_moving_24_hours():
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    times = [t0 + timedelta(hours=h) for h in (0, 1, 23, 24, 30, 47)]
    assert busiest_window(times).count == 3  # 0, 1, 23 (24 h later is outside)
    window = busiest_window(times, around=t0 + timedelta(hours=30))
    assert (window.start, window.count) == (t0 + timedelta(hours=23), 3)
    assert busiest_window([]) is None


def user_posts_newest_first():
    return select(Post).order_by(Post.scheduled_at.desc())


def local(when: datetime) -> str:
    return local_input(when, "Europe/Paris")
