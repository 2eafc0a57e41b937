"""The live profile: the account's Instagram header and feed, read from the
simulator into the database, shown under the scheduled tiles, within Meta's
rate limits, and never fetched on the home page's request path."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy import update

import simulator
from models import FeedItem
from models import InstagramProfile
from models import Post
from models import PostStatus
from models import User
from models import db
from models import now_utc
from ospost import feed
from ospost.feed.meta import clean_items
from ospost.feed.refresh import SLOW_DOWN
from ospost.feed.refresh import refresher
from support import AuthActions
from support import create_post
from support import post_row
from support import soon
from support import wait_for

IG_DEMO = "17841400000000001"
JSON = {"Accept": "application/json"}
FEED_TILE = re.compile(r'<li class="feed-tile">(.*?)</li>', re.S)


@pytest.fixture(autouse=True)
def fresh_process_state(monkeypatch):
    """The refresher and the schedule are per process: each test starts clean."""
    monkeypatch.setattr(refresher, "app_paused_until", None)
    monkeypatch.setattr(feed.schedule, "app", None)


def refresh(client, **headers):
    return client.post("/feed/refresh", headers={**JSON, **headers})


def graph_calls(world, *endpoints) -> int:
    return sum(1 for c in world.calls() if c["endpoint"] in endpoints)


def meta_feed(world, token) -> list[dict]:
    """The account's posts as the simulator lists them, newest first."""
    reply = world.handle(
        simulator.GraphRequest(
            "GET",
            f"/{IG_DEMO}/media",
            {"fields": "id,timestamp", "limit": "100"},
            token,
        )
    )
    return reply.body["data"]


def stored(app, user_id: int) -> tuple[InstagramProfile | None, list[FeedItem]]:
    with app.app_context():
        profile = db.session.get(InstagramProfile, user_id)
        items = db.session.scalars(
            select(FeedItem)
            .where(FeedItem.user_id == user_id)
            .order_by(FeedItem.posted_at.desc())
        ).all()
        db.session.expunge_all()
        return profile, list(items)


def allow_manual_refresh(app, user_id: int) -> None:
    """As if the last refresh were long ago (the button is paced)."""
    with app.app_context():
        db.session.execute(
            update(InstagramProfile)
            .where(InstagramProfile.user_id == user_id)
            .values(attempted_at=now_utc() - timedelta(hours=1))
        )
        db.session.commit()


def home(client) -> str:
    resp = client.get("/")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


# -- refreshing --------------------------------------------------------------------


def test_refresh_stores_the_profile_the_feed_and_thumbnails(
    app, client, user, world, sim
):
    token = AuthActions(client, world).token()
    expected = meta_feed(world, token)
    before = graph_calls(world, "ig_user", "media_list")
    resp = refresh(client)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["ok"] and f"{len(expected)} posts on the profile" in body["message"]
    profile, items = stored(app, user.id)
    assert profile.username == "ospost.demo" and profile.name == "Ospost Demo Café"
    assert profile.media_count == len(expected)
    assert isinstance(profile.followers_count, int)
    assert profile.refreshed_at is not None and profile.problem is None
    assert profile.lease_until is None and profile.backoff_until is None
    # Newest first, exactly Meta's posts, in ceil(n / 50) pages after the profile.
    assert [i.ig_media_id for i in items] == [m["id"] for m in expected]
    pages = -(-len(expected) // 50)
    assert graph_calls(world, "ig_user", "media_list") - before == 1 + pages
    assert all(i.posted_at.tzinfo is not None for i in items)
    assert {i.media_type for i in items} >= {"IMAGE", "CAROUSEL_ALBUM", "VIDEO"}
    store = app.extensions["media_store"]
    for item in items:
        assert item.permalink.startswith("https://www.instagram.com/p/")
        path = store.feed_thumbnail_path(IG_DEMO, item.thumbnail)
        assert path.read_bytes()[:2] == b"\xff\xd8"
    with app.app_context():
        fresh = db.session.get(User, user.id)
        # A fresh picture URL from Meta on every refresh (old ones expire).
        assert fresh.profile_picture_url.startswith(sim.url + "/_sim/avatar/")


def test_refresh_keeps_the_newest_and_forgets_what_left_instagram(make_app, world):
    # The demo account has 24-60 posts: keep 20, read in pages of 15.
    app = make_app(FEED_MAX_ITEMS=20, FEED_PAGE_SIZE=15, FEED_MANUAL_MIN_SECONDS=0)
    client = app.test_client()
    auth = AuthActions(client, world)
    auth.login()
    with app.app_context():
        user_id = db.session.scalar(select(User.id))
    assert refresh(client).status_code == 200
    _, items = stored(app, user_id)
    assert len(items) == 20
    newest = [m["id"] for m in meta_feed(world, auth.token())][:20]
    assert [i.ig_media_id for i in items] == newest
    store = app.extensions["media_store"]
    files = [store.feed_thumbnail_path(IG_DEMO, i.thumbnail) for i in items]
    assert all(f.exists() for f in files)
    # The existing posts disappear from Instagram: the next refresh forgets them.
    world.configure(existing_feed=False)
    assert refresh(client).status_code == 200
    profile, items = stored(app, user_id)
    assert items == [] and profile.media_count == 0
    assert not any(f.exists() for f in files)
    assert "Nothing is published on this Instagram account yet" in home(client)


def test_meta_answers_are_cleaned_before_storing():
    good = {"id": "1", "timestamp": "2026-11-01T10:00:00+0000", "media_url": "u"}
    raw = [
        good,
        dict(good),  # the same post twice (a page boundary moved)
        {**good, "id": "2", "permalink": "javascript:alert(1)"},
        {**good, "id": "3", "permalink": "https://evil.example/p/x/"},
        {**good, "id": "4", "timestamp": "yesterday"},
        {**good, "id": "../5"},
        {**good, "id": "6", "media_product_type": "STORY"},
        {**good, "id": "7", "media_type": "VIDEO", "thumbnail_url": "t"},
        {**good, "id": "8", "media_type": "HOLOGRAM", "caption": None},
        {
            **good,
            "id": "9",
            "timestamp": "2026-11-02T10:00:00+0000",
            "permalink": "https://www.instagram.com/p/abc/",
        },
    ]
    items = clean_items(raw)
    assert [i["id"] for i in items] == ["9", "8", "7", "3", "2", "1"]
    assert items[0]["permalink"] == "https://www.instagram.com/p/abc/"
    assert {i["id"]: i["permalink"] for i in items}["2"] == ""
    assert {i["id"]: i["permalink"] for i in items}["3"] == ""
    video = next(i for i in items if i["id"] == "7")
    assert video["picture_url"] == "t"  # the cover, never the video
    other = next(i for i in items if i["id"] == "8")
    assert (other["media_type"], other["caption"]) == ("IMAGE", "")


def test_expired_picture_urls_leave_placeholders_then_fill_in(app, client, user, world):
    world.configure(cdn_url_ttl=-60)  # every CDN URL is already expired
    resp = refresh(client)
    assert resp.status_code == 200
    _, items = stored(app, user.id)
    assert items and all(i.thumbnail is None for i in items)
    page = home(client)
    assert page.count('class="feed-img feed-placeholder"') == len(items)
    world.configure(cdn_url_ttl=3600)
    allow_manual_refresh(app, user.id)
    assert refresh(client).status_code == 200
    _, items = stored(app, user.id)
    assert all(i.thumbnail for i in items)


# -- on the home page --------------------------------------------------------------


def test_home_shows_the_feed_under_the_scheduled_posts(app, client, user, world):
    for minutes in (60, 120):
        assert create_post(client, when=soon(minutes)).status_code == 200
    page = home(client)
    assert "On Instagram now" in page
    assert "has not read your Instagram posts yet" in page
    assert 'form="feed-refresh-form"' in page
    assert refresh(client).status_code == 200
    page = home(client)
    profile, items = stored(app, user.id)
    # Scheduled tiles first, then the section with the feed in Meta's order.
    scheduled = page.index('<ol class="grid"')
    section = page.index('id="feed-heading">On Instagram now</h2>')
    assert scheduled < section
    assert page.count('<li class="tile ') == 2
    tiles = FEED_TILE.findall(page[section:])
    assert len(tiles) == len(items)
    for tile, item in zip(tiles, items, strict=True):
        assert f'href="{item.permalink}"' in tile
        assert f'src="/feed/thumbnails/{item.thumbnail}"' in tile
        assert ('class="feed-icon"' in tile) == (item.is_reel or item.is_carousel)
    assert "Reel posted" in page and "Carousel posted" in page
    # The header's figures come from Meta.
    assert re.search(
        rf"<strong>{profile.media_count}</strong> posts</span>\s*"
        r"<span><strong>[\d,.KM]+</strong> followers</span>\s*"
        r"<span><strong>[\d,.KM]+</strong> following",
        page,
    )
    assert "Ospost Demo Café" in page
    with client.get(f"/feed/thumbnails/{items[0].thumbnail}") as thumb:
        assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
        assert thumb.get_data()[:2] == b"\xff\xd8"


def test_the_home_page_never_calls_meta(app, client, user, world):
    assert refresh(client).status_code == 200
    before = len(world.calls())
    for _ in range(3):
        home(client)
    assert len(world.calls()) == before


def test_feed_thumbnails_are_served_to_their_owner_only(app, client, user, world):
    assert refresh(client).status_code == 200
    _, items = stored(app, user.id)
    name = items[0].thumbnail
    other = app.test_client()
    AuthActions(other, world).login("other")
    assert other.get(f"/feed/thumbnails/{name}").status_code == 404
    assert other.get("/feed/thumbnails/..%2F..%2Fsecret.jpg").status_code == 404
    anonymous = app.test_client()
    assert anonymous.get(f"/feed/thumbnails/{name}").status_code == 302


def test_a_refresh_changes_the_cached_grid(app, client, user, world):
    assert refresh(client).status_code == 200
    first = home(client)
    assert home(client) == first  # served from the cache
    with app.app_context():
        newest = db.session.scalars(
            select(FeedItem)
            .where(FeedItem.user_id == user.id)
            .order_by(FeedItem.posted_at.desc())
        ).first()
    # Another worker's refresh removed the newest post.
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(FeedItem.__table__.delete().where(FeedItem.id == newest.id))
        conn.execute(
            update(InstagramProfile.__table__)
            .where(InstagramProfile.user_id == user.id)
            .values(version=InstagramProfile.version + 1)
        )
    assert newest.permalink not in home(client)


def test_posts_published_by_ospost_show_once(app, client, user, world):
    assert create_post(client, when=soon(60), caption="ours").status_code == 200
    assert refresh(client).status_code == 200
    _, items = stored(app, user.id)
    # Ospost published the newest feed post: it has a post row with its media id.
    with app.app_context():
        post = db.session.scalars(select(Post)).one()
        post.mark_published(items[0].ig_media_id, now_utc())
        post.permalink = items[0].permalink
        db.session.commit()
    page = home(client)
    assert page.count(items[0].permalink) == 1
    assert page.count('<li class="tile ') == 0  # not among Ospost's tiles
    assert len(FEED_TILE.findall(page)) == len(items)


def test_a_published_post_missing_from_the_feed_stays_among_the_tiles(
    app, client, user, world
):
    assert refresh(client).status_code == 200
    assert create_post(client, when=soon(60), caption="ours").status_code == 200
    with app.app_context():
        post = db.session.scalars(select(Post)).one()
        post.mark_published("17929999999999999", now_utc())
        db.session.commit()
    page = home(client)
    assert page.count('<li class="tile tile-published"') == 1


# -- Meta's rate limits and failures -----------------------------------------------


def test_high_usage_stops_the_refresh_and_says_so(app, client, user, world):
    world.configure(buc_usage=85)
    resp = refresh(client)
    assert resp.status_code == 200
    assert "85%" in resp.get_json()["message"]
    profile, items = stored(app, user.id)
    # The profile answer said 85%: no page of posts was asked for.
    assert items == [] and graph_calls(world, "media_list") == 0
    assert profile.usage_percent == 85
    wait = profile.backoff_until - profile.attempted_at
    assert timedelta(minutes=15) <= wait <= timedelta(minutes=16)
    page = home(client)
    assert "close to Instagram&#39;s rate limit for this account (85%)" in page
    assert "Ospost reads it again after" in page
    # The button waits too, without calling Meta.
    before = len(world.calls())
    allow_manual_refresh(app, user.id)
    resp = refresh(client)
    assert resp.status_code == 429
    assert "Instagram asked Ospost to slow down" in resp.get_json()["error"]
    assert len(world.calls()) == before


def test_a_regain_estimate_sets_the_pause(app, client, user, world):
    world.configure(regain_minutes=45)
    assert refresh(client).status_code == 200
    profile, _ = stored(app, user.id)
    assert profile.problem == SLOW_DOWN
    wait = profile.backoff_until - profile.attempted_at
    assert timedelta(minutes=45) <= wait <= timedelta(minutes=46)


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80002])
def test_rate_limit_errors_keep_the_cached_feed(app, client, user, world, code):
    assert refresh(client).status_code == 200
    _, cached = stored(app, user.id)
    allow_manual_refresh(app, user.id)
    world.add_fault({"endpoint": "media_list"}, {"code": code}, times=None)
    resp = refresh(client)
    assert resp.status_code == 200  # the profile came; the posts did not
    profile, items = stored(app, user.id)
    assert [i.ig_media_id for i in items] == [i.ig_media_id for i in cached]
    assert profile.problem == SLOW_DOWN and profile.backoff_until > now_utc()
    # Throttled from the first call: still the cached feed, and a clear message.
    world.add_fault({"endpoint": "ig_user"}, {"code": code}, times=None)
    with app.app_context():
        outcome = refresher.refresh(user.id, manual=False)
    assert (outcome.ok, outcome.status) == (False, 429)
    assert "slow down" in outcome.message and "tries again after" in outcome.message
    assert len(stored(app, user.id)[1]) == len(cached)


def test_the_apps_own_usage_pauses_every_account(app, client, user, world):
    world.configure(app_usage=90)
    assert refresh(client).status_code == 200
    assert refresher.app_paused_until is not None
    other = app.test_client()
    AuthActions(other, world).login("other")
    resp = refresh(other)
    assert resp.status_code == 429
    feed.schedule.app = app
    assert feed.schedule.sweep() == 0  # the background job waits as well


@pytest.mark.parametrize(
    ("response", "status", "words"),
    [
        ({"http": 500}, 502, "could not be reached"),
        ({"code": 2}, 502, "could not be reached"),
        ({"code": 10, "http": 403}, 502, "refused to show this account"),
        ({"code": 190, "subcode": 460}, 409, "Log in again"),
    ],
)
def test_meta_failures_give_a_clear_message(
    app, client, user, world, response, status, words
):
    world.add_fault({"endpoint": "ig_user"}, response)
    resp = refresh(client)
    assert resp.status_code == status
    assert words in resp.get_json()["error"]
    # Without JavaScript: a message on the home page, never an error page.
    allow_manual_refresh(app, user.id)
    world.add_fault({"endpoint": "ig_user"}, response)
    with app.app_context():
        db.session.execute(update(User).values(needs_reauth=False))
        db.session.commit()
    resp = client.post("/feed/refresh")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/#feed")
    assert words in home(client)
    with app.app_context():
        reauth = db.session.get(User, user.id).needs_reauth
    assert reauth is (status == 409)


def test_the_button_is_paced(app, client, user, world):
    assert refresh(client).status_code == 200
    before = len(world.calls())
    resp = refresh(client)
    assert resp.status_code == 429
    assert "refreshed a moment ago" in resp.get_json()["error"]
    assert len(world.calls()) == before


def test_refresh_needs_a_csrf_token_and_a_login(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    assert client.post("/feed/refresh").status_code in (400, 302)
    AuthActions(client, world).login()
    resp = client.post("/feed/refresh", headers=JSON)
    assert resp.status_code == 400
    assert "Reload the page" in resp.get_json()["error"]


# -- in the background -------------------------------------------------------------


def test_the_background_job_refreshes_due_accounts(app, client, user, world):
    other = app.test_client()
    AuthActions(other, world).login("other")
    feed.schedule.app = app  # as feed.start() does, without a scheduler
    assert feed.schedule.sweep() == 2
    assert feed.schedule.sweep() == 0  # both fresh now
    with app.app_context():  # as in the engine's wake-up
        feed.after_publish(user.id)
    assert feed.schedule.sweep() == 1
    # An account Meta asked us to leave alone waits.
    with app.app_context():
        db.session.execute(
            update(InstagramProfile).values(
                requested_at=now_utc(), backoff_until=now_utc() + timedelta(minutes=5)
            )
        )
        db.session.commit()
    assert feed.schedule.sweep() == 0


def test_a_published_post_reaches_the_feed_through_the_engine(
    scheduled_app, auth, live_server, world
):
    app = scheduled_app
    client = app.test_client()
    AuthActions(client, world).login()
    feed.start(app)  # the job on the running scheduler
    assert create_post(client, caption="Fresh from Ospost").status_code == 200
    with app.app_context():
        post_id = db.session.scalar(select(Post.id))
    assert client.post(f"/post/{post_id}/publish", headers=JSON).status_code == 200

    def in_feed():
        post = post_row(app, post_id)
        if post.status != PostStatus.PUBLISHED:
            return None
        with app.app_context():
            return db.session.scalar(
                select(FeedItem).where(FeedItem.ig_media_id == post.ig_media_id)
            )

    item = wait_for(in_feed, timeout=20)
    post = post_row(app, post_id)
    store = app.extensions["media_store"]
    # Its thumbnail is Ospost's own copy of the photo, not a download.
    own = store.path(IG_DEMO, post.thumbnail).read_bytes()
    assert store.feed_thumbnail_path(IG_DEMO, item.thumbnail).read_bytes() == own
    page = home(client)
    assert page.count(post.permalink) == 1


def test_deleting_the_account_deletes_its_feed(app, client, user, world):
    assert refresh(client).status_code == 200
    store = app.extensions["media_store"]
    assert any(store.feed_dir(IG_DEMO).iterdir())
    assert client.post("/account/delete").status_code == 302
    profile, items = stored(app, user.id)
    assert profile is None and items == []
    assert not store.feed_dir(IG_DEMO).exists()
