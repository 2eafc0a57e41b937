"""Several Instagram accounts per person: what Meta lists decides who may act.

The simulator's Facebook users: "multi" manages two Instagram accounts
(multi.one, multi.two), "demo" one (ospost.demo), "other" one (other.brand).
Page roles granted in the simulator let two people manage one account.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlalchemy import select

import simulator
from models import AccountAccess
from models import Person
from models import Post
from models import PostEvent
from models import User
from models import WebSession
from models import db
from support import AuthActions
from support import create_post

MULTI_ONE = "17841400000000002"
MULTI_TWO = "17841400000000003"
DEMO_IG = "17841400000000001"
DEMO_PAGE = "200000000000001"
MULTI_TWO_PAGE = "200000000000003"
FB = simulator.DEMO_USERS


def browser(app, world, name: str, **body):
    """A new browser logged in as ``name`` through the real login route."""
    client = app.test_client()
    resp = AuthActions(client, world).login(name, **body)
    assert resp.status_code == 200, resp.get_json()
    return client


def account(app, ig_id: str) -> User | None:
    with app.app_context():
        row = db.session.scalar(select(User).where(User.ig_account_id == ig_id))
        if row is not None:
            db.session.expunge(row)
        return row


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def switch(client, app, ig_id: str):
    return client.post(f"/accounts/{account(app, ig_id).id}/switch")


def post_ids(app, ig_id: str) -> set[int]:
    acc = account(app, ig_id)
    with app.app_context():
        return set(db.session.scalars(select(Post.id).where(Post.user_id == acc.id)))


def test_login_connects_every_listed_account_and_switching_moves_between_them(
    app, world
):
    client = browser(app, world, "multi")
    with app.app_context():
        person = db.session.scalars(select(Person)).one()
        assert (person.fb_user_id, person.name) == (FB["multi"], "Multi Page Owner")
    assert count(app, AccountAccess) == 2
    home = client.get("/").get_data(as_text=True)
    assert "Switch account" in home
    assert "@multi.one" in home and "@multi.two" in home

    assert create_post(client, caption="for one").status_code == 200
    assert switch(client, app, MULTI_TWO).status_code == 302
    assert create_post(client, caption="for two").status_code == 200
    with app.app_context():
        captions = {
            u.ig_username: [p.caption for p in u.posts]
            for u in db.session.scalars(select(User))
        }
    first = "multi.one" if captions["multi.one"] == ["for one"] else "multi.two"
    # Each account keeps its own posts; the second went where the person switched.
    assert captions[first] == ["for one"]
    assert captions["multi.two" if first == "multi.one" else "multi.one"] == ["for two"]
    grid = client.get("/").get_data(as_text=True)
    assert "for two" in grid and "for one" not in grid


def test_connect_another_account_adds_what_meta_now_lists(app, world):
    client = browser(app, world, "demo")
    assert count(app, AccountAccess) == 1
    page = client.get("/login?connect=1")
    assert page.status_code == 200
    assert b"Connect another Instagram account" in page.data
    world.grant_page(MULTI_TWO_PAGE, FB["demo"])
    resp = AuthActions(client, world).login("demo")
    assert resp.status_code == 200
    assert count(app, AccountAccess) == 2
    # The newly connected account is the one shown next.
    assert b"Connected @multi.two." in client.get("/").data
    assert b'aria-current="true"' in client.get("/").data


def test_two_people_share_an_account_and_history_says_who_did_what(app, world):
    world.grant_page(DEMO_PAGE, FB["other"])
    demo = browser(app, world, "demo")
    other = browser(app, world, "other", ig_id=DEMO_IG)
    assert create_post(demo, caption="from demo").status_code == 200
    (post_id,) = post_ids(app, DEMO_IG)
    assert b"from demo" in other.get("/").data
    edit = other.get(f"/post/{post_id}/edit")
    assert edit.status_code == 200
    resp = other.post(f"/post/{post_id}/draft", headers={"Accept": "application/json"})
    assert resp.status_code == 200, resp.get_json()
    with app.app_context():
        lines = [
            (e.message, e.actor)
            for e in db.session.scalars(
                select(PostEvent).where(PostEvent.post_id == post_id)
            )
        ]
    assert ("Created", "Demo User") in lines
    assert ("Made a draft", "Other Person") in lines
    page = demo.get(f"/post/{post_id}/edit").get_data(as_text=True)
    assert "(Other Person)" in page and "(Demo User)" in page


def test_an_account_meta_stops_listing_is_taken_away_and_its_posts_kept(app, world):
    world.grant_page(DEMO_PAGE, FB["other"])
    demo = browser(app, world, "demo")
    other = browser(app, world, "other", ig_id=DEMO_IG)  # other's token is stored
    assert create_post(demo, caption="keep me").status_code == 200
    assert account(app, DEMO_IG).fb_user_id == FB["other"]

    world.revoke_page(DEMO_PAGE, FB["other"])
    second_browser = browser(app, world, "other")  # logs in again: Meta says no
    assert b"no longer lists @ospost.demo" in second_browser.get("/").data
    # Every browser of that person loses the account at once.
    resp = other.get("/post/add", headers={"Accept": "application/json"})
    assert resp.status_code == 404
    assert "not connected to you" in resp.get_json()["error"]
    page = other.get("/", follow_redirects=True).get_data(as_text=True)
    assert "not connected to you any more" in page  # they choose another
    assert "Switch to @other.brand" in page
    # The post stays, flagged; the account waits for demo to log in again,
    # since the stored token was other's.
    (post_id,) = post_ids(app, DEMO_IG)
    with app.app_context():
        messages = [
            e.message
            for e in db.session.scalars(
                select(PostEvent).where(PostEvent.post_id == post_id)
            )
        ]
    assert any("no longer lists" in m for m in messages)
    acc = account(app, DEMO_IG)
    assert acc.needs_reauth and acc.access_token is None
    assert b"keep me" in demo.get("/").data
    browser(app, world, "demo")
    assert not account(app, DEMO_IG).needs_reauth


def test_losing_every_account_keeps_the_posts_and_explains(app, world):
    client = browser(app, world, "demo")
    assert create_post(client).status_code == 200
    world.revoke_page(DEMO_PAGE, FB["demo"])
    resp = AuthActions(client, world).login("demo")
    assert resp.status_code == 400
    assert "None of your Facebook Pages" in resp.get_json()["error"]
    assert count(app, AccountAccess) == 0
    assert count(app, Post) == 1  # kept for whoever logs the account in again
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "No Instagram account is connected to you" in page


def test_disconnect_removes_only_that_accounts_data(app, world):
    client = browser(app, world, "multi")
    assert create_post(client, caption="one").status_code == 200
    current = next(
        u
        for u in (account(app, MULTI_ONE), account(app, MULTI_TWO))
        if post_ids(app, u.ig_account_id)
    )
    keep = MULTI_TWO if current.ig_account_id == MULTI_ONE else MULTI_ONE
    assert switch(client, app, keep).status_code == 302
    assert create_post(client, caption="two").status_code == 200
    switch(client, app, current.ig_account_id)
    store = app.extensions["media_store"]
    gone_dir = store.user_dir(current.ig_account_id)
    assert len(list(gone_dir.iterdir())) == 2
    looking = browser(app, world, "multi", ig_id=current.ig_account_id)

    resp = client.post(f"/accounts/{current.id}/disconnect")
    assert resp.status_code == 302
    assert account(app, current.ig_account_id) is None
    assert not gone_dir.exists()
    assert len(list(store.user_dir(keep).iterdir())) == 2
    assert count(app, Post) == 1
    # The other browser looking at it is logged out of it; this one moves on.
    assert count(app, WebSession, WebSession.user_id == current.id) == 0
    assert looking.get("/").status_code == 302
    assert b"two" in client.get("/").data


def test_disconnecting_a_shared_account_only_drops_my_access(app, world):
    world.grant_page(DEMO_PAGE, FB["other"])
    demo = browser(app, world, "demo")
    other = browser(app, world, "other", ig_id=DEMO_IG)
    assert create_post(demo).status_code == 200
    shared = account(app, DEMO_IG)
    page = other.get("/accounts").get_data(as_text=True)
    assert "Shared with 1 other person." in page
    assert other.post(f"/accounts/{shared.id}/disconnect").status_code == 302
    assert account(app, DEMO_IG) is not None
    assert count(app, Post) == 1
    assert count(app, AccountAccess, AccountAccess.user_id == shared.id) == 1
    # Other's token was the stored one: the account waits for demo's login.
    assert account(app, DEMO_IG).needs_reauth
    assert demo.get("/").status_code == 200


def test_deleting_my_ospost_account_keeps_shared_accounts_for_the_others(app, world):
    world.grant_page(MULTI_TWO_PAGE, FB["other"])
    multi = browser(app, world, "multi")
    other = browser(app, world, "other", ig_id=MULTI_TWO)
    assert create_post(other, caption="shared post").status_code == 200
    switch(multi, app, MULTI_ONE)
    assert create_post(multi, caption="mine only").status_code == 200
    second = browser(app, world, "multi")

    assert multi.post("/account/delete").status_code == 302
    assert account(app, MULTI_ONE) is None
    assert account(app, MULTI_TWO) is not None
    assert count(app, Person, Person.fb_user_id == FB["multi"]) == 0
    assert count(app, Post) == 1
    assert second.get("/").status_code == 302  # every session of the person ended
    assert b"shared post" in other.get("/").data


def test_data_deletion_callback_deletes_the_person_and_their_accounts(app, world):
    from test_auth import meta_payload
    from test_auth import sign

    world.grant_page(MULTI_TWO_PAGE, FB["other"])
    browser(app, world, "multi")
    browser(app, world, "other")
    resp = app.test_client().post(
        "/facebook/data-deletion",
        data={"signed_request": sign(meta_payload(FB["multi"]))},
    )
    assert resp.status_code == 200
    assert account(app, MULTI_ONE) is None
    assert account(app, MULTI_TWO) is not None  # other still manages it
    assert count(app, Person) == 1


def test_a_page_role_that_cannot_publish_is_not_connected(app, world):
    world.grant_page(DEMO_PAGE, FB["other"], ["ANALYZE", "ADVERTISE"])
    client = browser(app, world, "other")
    assert count(app, AccountAccess) == 1
    assert b"@ospost.demo" not in client.get("/").data


def test_granular_scopes_limit_the_accounts_connected(app, world, monkeypatch):
    from ospost.graph import GraphClient

    real = GraphClient.debug_token

    def only_one(self, token):
        info = real(self, token)
        for grant in info["granular_scopes"]:
            if grant["scope"] == "instagram_content_publish":
                grant["target_ids"] = [MULTI_ONE]
        return info

    monkeypatch.setattr(GraphClient, "debug_token", only_one)
    browser(app, world, "multi")
    with app.app_context():
        names = {u.ig_username for u in db.session.scalars(select(User))}
    assert names == {"multi.one"}


@pytest.mark.parametrize("action", ["switch", "disconnect"])
def test_another_persons_account_id_is_a_404(app, world, action):
    browser(app, world, "demo")
    client = browser(app, world, "other")
    theirs = account(app, DEMO_IG)
    assert client.post(f"/accounts/{theirs.id}/{action}").status_code == 404
    assert client.post(f"/accounts/99999/{action}").status_code == 404
    assert account(app, DEMO_IG) is not None


BEFORE_PEOPLE = "ed11f06f9aee"  # the migration before people and account access


def test_migration_makes_a_person_of_each_facebook_user_and_back(make_app):
    """Accounts logged in before people existed: each Facebook user who logged
    one in becomes a person holding it; old sessions are dropped."""
    from flask_migrate import downgrade
    from flask_migrate import upgrade
    from sqlalchemy import text

    app = make_app()
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade(revision=BEFORE_PEOPLE)
        for uid, ig, fb in (
            (1, "101", "'9001'"),
            (2, "102", "'9001'"),
            (3, "103", "'9002'"),
            (4, "104", "NULL"),
        ):
            db.session.execute(
                text(
                    "INSERT INTO users (id, ig_account_id, fb_user_id, ig_username, "
                    "profile_picture_url, page_name, needs_reauth, timezone, "
                    f"created_at) VALUES ({uid}, '{ig}', {fb}, 'u{uid}', '', '', "
                    "false, 'UTC', CURRENT_TIMESTAMP)"
                )
            )
        db.session.execute(
            text(
                "INSERT INTO web_sessions (session_id, user_id, data, expiry) "
                "VALUES ('old', 1, :data, CURRENT_TIMESTAMP)"
            ),
            {"data": b"\x80"},
        )
        db.session.commit()
        upgrade()
        people = {
            p.fb_user_id: sorted(u.id for u in accounts_held(p.id))
            for p in db.session.scalars(select(Person))
        }
        assert people == {"9001": [1, 2], "9002": [3]}
        assert db.session.scalar(select(func.count()).select_from(WebSession)) == 0
        db.session.remove()
        downgrade(revision=BEFORE_PEOPLE)
        tables = set(db.inspect(db.engine).get_table_names())
        assert "people" not in tables and "account_access" not in tables
        assert db.session.execute(text("SELECT count(*) FROM users")).scalar() == 4
        db.session.remove()
        upgrade()


def accounts_held(person_id: int) -> list[User]:
    from ospost.accounts import accounts_of

    return accounts_of(person_id)
