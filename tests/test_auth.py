"""Logging in with Facebook (through the simulator), sessions, CSRF, the account
page, account deletion and Meta's signed callbacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from werkzeug.serving import make_server

import simulator
from models import DeletionRequest
from models import Post
from models import UsedSignedRequest
from models import User
from models import WebSession
from models import db
from models import now_utc
from ospost.graph import GraphClient
from support import create_post
from support import soon
from support import stored_files


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_login_creates_user_with_long_lived_token(app, auth, world):
    resp = auth.login(tz="America/Los_Angeles")
    assert resp.status_code == 200
    assert resp.get_json() == {"ok": True, "redirect": "/"}
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        assert user.ig_account_id == "17841400000000001"
        assert user.ig_username == "ospost.demo"
        assert user.fb_user_id == simulator.DEMO_USERS["demo"]
        assert user.timezone == "America/Los_Angeles"
        # The stored token is the exchanged long-lived one, valid about 60 days.
        assert user.access_token != auth.token()
        remaining = user.token_expires_at - now_utc()
        assert timedelta(days=59) < remaining <= timedelta(days=60, hours=1)
        raw = db.session.execute(text("SELECT access_token FROM users")).scalar()
        assert user.access_token not in raw  # encrypted at rest
    endpoints = [c["endpoint"] for c in world.calls()]
    assert {"debug_token", "exchange", "accounts", "ig_user"} <= set(endpoints)
    # Only debug_token takes the token it inspects in its query, as Meta
    # documents; our own tokens travel in headers and bodies.
    assert not any(
        c["token_in_url"] for c in world.calls() if c["endpoint"] != "debug_token"
    )


def test_home_needs_login_and_logout_ends_session(client, auth):
    assert client.get("/").status_code == 302
    auth.login()
    assert client.get("/").status_code == 200
    resp = auth.logout()
    assert resp.status_code == 302
    assert client.get("/").headers["Location"].startswith("/login")


def test_logout_is_post_only(client, auth):
    auth.login()
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_second_login_updates_the_same_user(app, auth):
    auth.login()
    auth.login(tz="Asia/Kolkata")
    assert count(app, User) == 1
    with app.app_context():
        # The zone chosen at first login (or on the account page) is kept.
        assert db.session.scalars(select(User)).one().timezone == "Europe/Paris"


def test_token_for_another_app_is_refused(app, client, auth, world):
    token = world.issue_token(simulator.DEMO_USERS["demo"], app_id="999")["accessToken"]
    resp = client.post("/login", json={"accessToken": token})
    assert resp.status_code in (401, 403)
    assert resp.get_json()["ok"] is False
    assert count(app, User) == 0
    assert client.get("/").status_code == 302


def test_expired_token_is_refused(app, client, world):
    token = world.issue_token(simulator.DEMO_USERS["demo"], expires_in=-10)[
        "accessToken"
    ]
    resp = client.post("/login", json={"accessToken": token})
    assert resp.status_code == 401
    assert "expired" in resp.get_json()["error"].lower()
    assert count(app, User) == 0


def test_spoofed_ig_id_is_refused(app, client, auth, world):
    # "other" is a real Facebook user with a valid token, claiming demo's IG id.
    token = auth.token("other")
    resp = client.post(
        "/login", json={"accessToken": token, "ig_id": "17841400000000001"}
    )
    assert resp.status_code == 403
    assert "not managed" in resp.get_json()["error"]
    assert count(app, User) == 0
    assert client.get("/").status_code == 302


def test_several_accounts_are_all_connected_and_a_choice_is_shown_first(
    app, client, auth
):
    resp = auth.login("multi", ig_id="17841400000000003")
    assert resp.status_code == 200
    with app.app_context():
        names = {u.ig_username for u in db.session.scalars(select(User))}
    assert names == {"multi.one", "multi.two"}
    page = client.get("/")
    assert page.status_code == 200
    assert b"@multi.two" in page.data  # the account asked for is the current one


def test_page_without_instagram_is_explained(app, auth):
    resp = auth.login("noig")
    assert resp.status_code == 400
    assert "linked to an Instagram business" in resp.get_json()["error"]
    assert count(app, User) == 0


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"accessToken": 5},
        {"accessToken": ""},
        {"authResponse": "EAA"},
        {"authResponse": {"accessToken": ["EAA"]}},
        {"accessToken": "EAAvalidlooking", "ig_id": True},
        {"accessToken": "EAAvalidlooking", "timezone": {"zone": "UTC"}},
        [1, 2],
    ],
)
def test_malformed_login_bodies_get_clear_errors(client, world, body):
    resp = (
        client.post("/login", json=body)
        if body is not None
        else client.post("/login", data="not json")
    )
    assert resp.status_code == 400
    assert resp.get_json()["ok"] is False
    assert "login response" in resp.get_json()["error"]
    assert world.calls() == []  # nothing malformed reaches Meta


@pytest.mark.parametrize("path", ["/login", "/login/demo"])
def test_deeply_nested_login_json_is_a_400(make_app, path):
    client = make_app(DEMO=True).test_client()
    for bomb in (b"[" * 100_000 + b"]" * 100_000, b'{"next":' + b"[" * 100_000):
        resp = client.post(path, data=bomb, content_type="application/json")
        assert resp.status_code == 400
        assert resp.get_json()["ok"] is False


def test_simultaneous_first_logins_make_one_user(app, world, monkeypatch):
    """Six browsers log one new account in at once: one row, six good answers."""
    browsers = 6
    together = threading.Barrier(browsers, timeout=20)
    real_profile = GraphClient.ig_profile

    def profile_then_wait(self, *args, **kwargs):
        profile = real_profile(self, *args, **kwargs)
        together.wait()  # every login reaches the database at the same moment
        return profile

    monkeypatch.setattr(GraphClient, "ig_profile", profile_then_wait)
    tokens = [auth_token(world) for _ in range(browsers)]
    statuses = []

    def log_in(token):
        resp = app.test_client().post("/login", json={"accessToken": token})
        statuses.append((resp.status_code, resp.get_json()))

    threads = [threading.Thread(target=log_in, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [status for status, _ in statuses] == [200] * browsers, statuses
    assert count(app, User) == 1


def auth_token(world) -> str:
    return world.issue_token(simulator.DEMO_USERS["demo"])["accessToken"]


def test_unreachable_facebook_is_a_clean_error(make_app, world):
    app = make_app(FB_ENDPOINT="http://127.0.0.1:9/v21.0/")
    token = world.issue_token(simulator.DEMO_USERS["demo"])["accessToken"]
    resp = app.test_client().post("/login", json={"accessToken": token})
    assert resp.status_code == 502
    assert "could not be reached" in resp.get_json()["error"]


def test_a_nesting_bomb_from_the_graph_api_is_not_a_500(make_app):
    def deep_json(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"[" * 100_000 + b"]" * 100_000]

    server = make_server("127.0.0.1", 0, deep_json, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app = make_app(FB_ENDPOINT=f"http://127.0.0.1:{server.server_port}/v21.0/")
        resp = app.test_client().post("/login", json={"accessToken": "EAA" * 10})
    finally:
        server.shutdown()
    assert resp.status_code == 502
    assert resp.get_json()["ok"] is False


def test_login_rotates_session_id(client, auth):
    client.get("/login")
    client.set_cookie("ospost_session", "attacker-chosen-session-id")
    auth.login()
    cookie = client.get_cookie("ospost_session")
    assert cookie is not None
    assert cookie.value != "attacker-chosen-session-id"
    assert cookie.http_only


def test_open_redirect_after_login_is_ignored(auth):
    resp = auth.login(next="https://evil.example/")
    assert resp.get_json()["redirect"] == "/"
    resp = auth.login(next="//evil.example/")
    assert resp.get_json()["redirect"] == "/"
    resp = auth.login(next="/account")
    assert resp.get_json()["redirect"] == "/account"


def test_post_without_csrf_token_is_refused(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    token = world.issue_token(simulator.DEMO_USERS["demo"])["accessToken"]
    resp = client.post(
        "/login", json={"accessToken": token}, headers={"Accept": "application/json"}
    )
    assert resp.status_code == 400
    assert "expired" in resp.get_json()["error"]
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    resp = client.post(
        "/login", json={"accessToken": token}, headers={"X-CSRFToken": csrf}
    )
    assert resp.status_code == 200
    # Logged in, every state change still needs the token.
    assert client.post("/logout").status_code == 400
    assert client.post("/", json={"order": []}).status_code == 400


def test_demo_login_goes_through_the_real_login(make_app, world):
    app = make_app(DEMO=True)
    resp = app.test_client().post("/login/demo", json={"timezone": "Asia/Kolkata"})
    assert resp.status_code == 200, resp.get_json()
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        assert user.ig_username == "ospost.demo"
        assert user.timezone == "Asia/Kolkata"
    assert {"debug_token", "exchange"} <= {c["endpoint"] for c in world.calls()}


def test_demo_login_is_off_outside_demo_mode(client):
    assert client.post("/login/demo", json={}).status_code == 404


def test_account_page_shows_profile_and_expiry(client, user):
    page = client.get("/account").get_data(as_text=True)
    assert "ospost.demo" in page
    assert "Europe/Paris" in page


def test_timezone_can_be_changed_and_is_validated(app, client, user):
    resp = client.post("/account/timezone", data={"timezone": "Asia/Kolkata"})
    assert resp.status_code == 302
    resp = client.post("/account/timezone", data={"timezone": "Mars/Olympus"})
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(User, user.id).timezone == "Asia/Kolkata"


@pytest.mark.storage
def test_delete_account_removes_rows_files_and_sessions(app, client, auth, user):
    assert create_post(client, when=soon(90)).status_code == 200
    assert create_post(client, when=soon(120)).status_code == 200
    other = app.test_client()
    AuthOther = type(auth)(other, auth.world)
    AuthOther.login()  # a second browser of the same account
    assert len(stored_files(app, user.ig_account_id)) == 4  # 2 images, 2 thumbnails
    assert count(app, WebSession) == 2

    resp = client.post("/account/delete")
    assert resp.status_code == 302
    assert count(app, User) == 0
    assert count(app, Post) == 0
    with app.app_context():
        # Only the anonymous session carrying the goodbye message remains.
        owned = select(func.count()).where(WebSession.user_id.is_not(None))
        assert db.session.scalar(owned) == 0
    assert stored_files(app, user.ig_account_id) == []
    assert other.get("/").status_code == 302  # the other browser is logged out too
    # Logging in again starts from nothing.
    auth.login()
    assert count(app, Post) == 0


def sign(payload: dict, secret: str = simulator.DEFAULT_APP_SECRET) -> str:
    def enc(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    body = enc(json.dumps(payload).encode())
    sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{enc(sig)}.{body}"


def meta_payload(user_id: str, **fields) -> dict:
    """A callback payload as Meta sends it, issued now unless told otherwise."""
    return {
        "algorithm": "HMAC-SHA256",
        "issued_at": int(time.time()),
        "user_id": user_id,
        **fields,
    }


DEMO_FB = simulator.DEMO_USERS["demo"]
CALLBACKS = ("/facebook/data-deletion", "/facebook/deauthorize")


@pytest.mark.parametrize(
    "signed",
    [
        sign(meta_payload(simulator.DEMO_USERS["demo"]), secret="wrong-secret"),
        "garbage",
        "a.b.c",
        "",
    ],
)
def test_callbacks_reject_bad_signatures(app, client, user, signed):
    for path in ("/facebook/data-deletion", "/facebook/deauthorize"):
        resp = client.post(path, data={"signed_request": signed})
        assert resp.status_code == 400
    assert count(app, User) == 1


@pytest.mark.storage
def test_data_deletion_callback_deletes_and_reports_status(app, client, user):
    assert create_post(client).status_code == 200
    assert len(stored_files(app, user.ig_account_id)) == 2
    anon = app.test_client()
    resp = anon.post(
        "/facebook/data-deletion",
        data={"signed_request": sign(meta_payload(simulator.DEMO_USERS["demo"]))},
    )
    assert resp.status_code == 200
    body = resp.get_json()
    assert re.fullmatch(r"[0-9a-f]{20}", body["confirmation_code"])
    assert body["url"].endswith(f"/facebook/deletion/{body['confirmation_code']}")
    assert count(app, User) == 0
    assert count(app, Post) == 0
    assert count(app, DeletionRequest) == 1
    assert stored_files(app, user.ig_account_id) == []
    status_page = anon.get(f"/facebook/deletion/{body['confirmation_code']}")
    assert status_page.status_code == 200
    assert body["confirmation_code"] in status_page.get_data(as_text=True)
    assert anon.get("/facebook/deletion/nope").status_code == 404


def test_deauthorize_callback_disconnects(app, client, user):
    resp = app.test_client().post(
        "/facebook/deauthorize",
        data={"signed_request": sign(meta_payload(simulator.DEMO_USERS["demo"]))},
    )
    assert resp.status_code == 200
    with app.app_context():
        stored = db.session.get(User, user.id)
        assert stored.access_token is None
        assert stored.needs_reauth
    assert client.get("/").status_code == 302  # its sessions ended


def user_state(app) -> tuple[int, bool | None]:
    """(number of users, whether the demo user still has its token)."""
    with app.app_context():
        user = db.session.scalars(select(User)).one_or_none()
        return count(app, User), None if user is None else user.access_token is not None


@pytest.mark.parametrize(
    "fields",
    [
        {"issued_at": 1_430_000_000},  # 2015
        {"issued_at": int(time.time()) - 3600},
        {"issued_at": int(time.time()) + 3600},
        {"expires": int(time.time()) - 5},
        {"issued_at": 2**40},
        {"issued_at": -1},
    ],
    ids=["2015", "an-hour-ago", "future", "expired", "year-36812", "negative"],
)
def test_callbacks_refuse_stale_or_future_requests(app, user, fields):
    for path in CALLBACKS:
        resp = app.test_client().post(
            path, data={"signed_request": sign(meta_payload(DEMO_FB, **fields))}
        )
        assert resp.status_code == 400, resp.get_json()
        assert resp.get_json()["ok"] is False
    assert user_state(app) == (1, True)


def test_replayed_deletion_does_not_delete_the_recreated_account(app, auth, user):
    captured = sign(meta_payload(DEMO_FB))
    meta = app.test_client()
    first = meta.post("/facebook/data-deletion", data={"signed_request": captured})
    assert first.status_code == 200
    assert user_state(app) == (0, None)
    assert auth.login().status_code == 200  # the person signs up again
    replay = meta.post("/facebook/data-deletion", data={"signed_request": captured})
    assert replay.status_code == 400
    assert "already used" in replay.get_json()["error"]
    assert user_state(app) == (1, True)
    assert count(app, DeletionRequest) == 1


def test_replayed_deauthorize_is_refused(app, auth, user):
    captured = sign(meta_payload(DEMO_FB))
    meta = app.test_client()
    assert meta.post(CALLBACKS[1], data={"signed_request": captured}).status_code == 200
    assert auth.login().status_code == 200  # reconnected
    replay = meta.post(CALLBACKS[1], data={"signed_request": captured})
    assert replay.status_code == 400
    assert user_state(app) == (1, True)


def test_simultaneous_copies_of_one_request_act_once(app, user):
    captured = sign(meta_payload(DEMO_FB))
    together = threading.Barrier(4, timeout=20)
    statuses = []

    def post():
        together.wait()
        resp = app.test_client().post(
            "/facebook/data-deletion", data={"signed_request": captured}
        )
        statuses.append(resp.status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200, 400, 400, 400]
    assert count(app, DeletionRequest) == 1


def enc(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize(
    "payload",
    [
        b'{"user_id": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b"[" * 3000,
        b'{"algorithm": "HMAC-SHA256", "user_id": "1", "x": ' + b"{" * 2000 + b"}",
        b'{"algorithm": "HMAC-SHA256", "user_id": {"a": 1}, "issued_at": 1}',
        b'{"algorithm": "none", "user_id": "1", "issued_at": 1}',
        b"\xff\xfe",
    ],
    ids=["deep", "deep-open", "deep-extra", "wrong-type", "no-hmac", "binary"],
)
def test_malformed_payloads_are_refused_without_a_500(app, user, payload, signed):
    body = enc(payload)
    secret = simulator.DEFAULT_APP_SECRET if signed else "attacker-guess"
    sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    for path in CALLBACKS:
        resp = app.test_client().post(
            path, data={"signed_request": f"{enc(sig)}.{body}"}
        )
        assert resp.status_code == 400
    assert user_state(app) == (1, True)


def test_used_requests_are_purged_once_too_old_to_replay(app, user):
    meta = app.test_client()
    for n in range(3):
        signed = sign(meta_payload("someone-else", n=n))
        assert (
            meta.post(CALLBACKS[1], data={"signed_request": signed}).status_code == 200
        )
    assert count(app, UsedSignedRequest) == 3
    with app.app_context():  # time passes: the age check alone now refuses them
        past = now_utc() - timedelta(seconds=1)
        db.session.execute(update(UsedSignedRequest).values(expires_at=past))
        db.session.commit()
    fresh = sign(meta_payload("someone-else", n=9))
    assert meta.post(CALLBACKS[1], data={"signed_request": fresh}).status_code == 200
    assert count(app, UsedSignedRequest) == 1  # only the new one is kept
