"""Tests for the Graph API simulator, driven over real HTTP the way the app drives Meta.

Each test states what Meta would answer (codes from /work/shared/docs/graph-api.md).
A tiny image host in a thread plays the public server the crawler downloads from.
"""

import hashlib
import io
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from PIL import Image
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

import simulator
from simulator import DEMO_USERS
from simulator import GraphWorld
from simulator import SimulatorServer
from simulator import appsecret_proof
from simulator import sample_image

ROOT = Path(__file__).resolve().parents[1]
IG_DEMO = "17841400000000001"
IG_OTHER = "17841400000000004"
READY_AFTER = 0.3
HTTP_TIMEOUT = 10
PERMALINK_RE = re.compile(r"https://www\.instagram\.com/(?:p|reel)/[A-Za-z0-9_-]{11}/")
IG_TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000")


# --------------------------------------------------------------------------- fixtures


class _SilentHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class ImageHost:
    """A public web server the simulated crawler downloads ``image_url`` from."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, bytes, str]] = {}
        self.user_agents: list[str] = []
        self._server = make_server(
            "127.0.0.1", 0, self, threaded=True, request_handler=_SilentHandler
        )
        self.base = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def __call__(self, environ, start_response):
        req = Request(environ)
        self.user_agents.append(req.headers.get("User-Agent", ""))
        status, body, mimetype = self.files.get(
            req.path, (404, b"missing", "text/plain")
        )
        return Response(body, status, mimetype=mimetype)(environ, start_response)

    def put(self, path: str, body: bytes, mimetype="image/jpeg", status=200) -> str:
        self.files[path] = (status, body, mimetype)
        return self.base + path

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def images():
    host = ImageHost()
    host.put("/photo.jpg", sample_image(1080, 1080))
    host.put("/portrait.jpg", sample_image(1080, 1350))
    host.put("/photo.png", sample_image(1080, 1080, "PNG"), "image/png")
    host.put("/photo.mpo", sample_image(1080, 1080, "MPO"))
    host.put("/wide.jpg", sample_image(2000, 1000))
    host.put("/tall.jpg", sample_image(1080, 1920))
    host.put("/huge.jpg", sample_image(1080, 1080) + b"\0" * (8 * 1024 * 1024))
    host.put("/broken.jpg", b"oops", status=500)
    yield host
    host.close()


@pytest.fixture(scope="module")
def server():
    with SimulatorServer(GraphWorld(container_ready_after=READY_AFTER)) as sim:
        yield sim


@pytest.fixture
def sim(server):
    server.world.reset()
    return server


# --------------------------------------------------------------------------- helpers


def login(sim, user: str = "demo", **extra) -> str:
    resp = requests.post(
        f"{sim.url}/_sim/token",
        json={"fb_user_id": user, **extra},
        timeout=HTTP_TIMEOUT,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["accessToken"]


def graph(sim, method: str, path: str, token: str | None = None, **params):
    """Call the simulator like the app does: token in the Authorization header."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = params.pop("_timeout", HTTP_TIMEOUT)
    url = sim.graph_url + path
    if method == "GET":
        return requests.get(url, params=params, headers=headers, timeout=timeout)
    return requests.post(url, data=params, headers=headers, timeout=timeout)


def assert_meta_error(resp, http: int, code: int, subcode: int | None = None) -> dict:
    """Check Meta's exact error envelope and return its ``error`` object."""
    assert resp.status_code == http, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    error = body["error"]
    required = {"message", "type", "code", "is_transient", "fbtrace_id"}
    optional = {"error_subcode", "error_user_title", "error_user_msg"}
    assert required <= set(error) <= required | optional
    assert error["code"] == code
    assert error.get("error_subcode") == subcode
    assert isinstance(error["is_transient"], bool)
    return error


def create(sim, token: str, url: str, ig: str = IG_DEMO, **params):
    return graph(sim, "POST", f"{ig}/media", token, image_url=url, **params)


def status_of(sim, token: str, container_id: str) -> dict:
    resp = graph(sim, "GET", container_id, token, fields="status_code,status")
    assert resp.status_code == 200, resp.text
    return resp.json()


def publish(sim, token: str, container_id: str, ig: str = IG_DEMO, **params):
    return graph(
        sim, "POST", f"{ig}/media_publish", token, creation_id=container_id, **params
    )


def ready_container(sim, images, token: str) -> str:
    sim.world.configure(container_ready_after=0)
    resp = create(sim, token, images.base + "/photo.jpg", caption="Hello #ospost")
    assert resp.status_code == 200, resp.text
    return resp.json()["id"]


# --------------------------------------------------------------------------- users


BUILTIN_PAGES = {
    "demo": [("200000000000001", "Ospost Demo Café", IG_DEMO)],
    "multi": [
        ("200000000000002", "Multi One", "17841400000000002"),
        ("200000000000003", "Multi Two", "17841400000000003"),
        ("200000000000004", "Multi Blog", None),
    ],
    "noig": [("200000000000005", "Plain Page", None)],
    "other": [("200000000000006", "Other Brand", IG_OTHER)],
}


@pytest.mark.parametrize("user", sorted(BUILTIN_PAGES))
def test_me_accounts_lists_pages_and_omits_missing_ig(sim, user):
    token = login(sim, DEMO_USERS[user])
    resp = graph(
        sim,
        "GET",
        "me/accounts",
        token,
        fields="id,name,instagram_business_account,tasks",
    )
    assert resp.status_code == 200
    pages = resp.json()["data"]
    got = [
        (p["id"], p["name"], p.get("instagram_business_account", {}).get("id"))
        for p in pages
    ]
    assert got == BUILTIN_PAGES[user]
    for page in pages:
        assert set(page) <= {"id", "name", "instagram_business_account", "tasks"}
        assert "CREATE_CONTENT" in page["tasks"]
        if "instagram_business_account" in page:
            assert page["instagram_business_account"] == {"id": page_ig(page)}
    assert "cursors" in resp.json()["paging"]


def page_ig(page: dict) -> str:
    return page["instagram_business_account"]["id"]


def test_me_answers_on_versioned_and_unversioned_paths(sim):
    token = login(sim)
    expected = {"id": DEMO_USERS["demo"], "name": "Demo User"}
    assert graph(sim, "GET", "me", token, fields="id,name").json() == expected
    resp = requests.get(
        f"{sim.url}/me", headers={"Authorization": f"OAuth {token}"}, timeout=5
    )
    assert resp.json() == expected


def test_page_and_ig_profile_fields(sim):
    token = login(sim)
    page = graph(
        sim, "GET", "200000000000001", token, fields="instagram_business_account,name"
    )
    assert page.json() == {
        "instagram_business_account": {"id": IG_DEMO},
        "name": "Ospost Demo Café",
        "id": "200000000000001",
    }
    fields = "id,username,profile_picture_url,name,followers_count"
    profile = graph(sim, "GET", IG_DEMO, token, fields=fields).json()
    assert profile["username"] == "ospost.demo"
    assert isinstance(profile["followers_count"], int)
    assert profile["profile_picture_url"].startswith(sim.url + "/_sim/avatar/")
    picture = requests.get(profile["profile_picture_url"], timeout=5)
    assert picture.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(picture.content)).format == "PNG"


def test_add_user_creates_fresh_ids_and_reset_restores_builtins(sim):
    world = sim.world
    first = world.add_user("Bench 1", [{"name": "B1", "ig_username": "bench.one"}])
    second = world.add_user("Bench 2", [{"name": "B2", "ig_username": None}])
    ids = {first["fb_user_id"], second["fb_user_id"], *DEMO_USERS.values()}
    assert len(ids) == 6
    assert first["pages"][0]["ig_user_id"] not in (None, IG_DEMO)
    assert second["pages"][0]["ig_user_id"] is None
    token = login(sim, first["fb_user_id"])
    world.reset()
    assert {u["fb_user_id"] for u in world.users()} == set(DEMO_USERS.values())
    assert_meta_error(graph(sim, "GET", "me", token), 400, 190)


def test_me_accounts_pages_like_meta_without_leaking_the_token(sim):
    user = sim.world.add_user(
        "Agency",
        [{"name": f"Brand {n}", "ig_username": f"brand.{n}"} for n in range(30)],
    )
    token = login(sim, user["fb_user_id"])
    first = graph(sim, "GET", "me/accounts", token, fields="id,name").json()
    assert len(first["data"]) == 25
    next_url = first["paging"]["next"]
    assert "access_token" not in next_url
    rest = requests.get(
        next_url, headers={"Authorization": f"Bearer {token}"}, timeout=5
    ).json()
    assert len(rest["data"]) == 5
    assert "next" not in rest["paging"]


# --------------------------------------------------------------------------- tokens


def test_exchange_then_debug_token_describes_the_long_lived_token(sim):
    short = login(sim)
    resp = requests.post(
        sim.graph_url + "oauth/access_token",
        data={
            "grant_type": "fb_exchange_token",
            "client_id": simulator.DEFAULT_APP_ID,
            "client_secret": simulator.DEFAULT_APP_SECRET,
            "fb_exchange_token": short,
        },
        timeout=5,
    )
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 5183944
    long_token = body["access_token"]
    assert graph(sim, "GET", "me", long_token).json()["id"] == DEMO_USERS["demo"]
    # POST keeps both tokens out of the URL (Meta accepts either verb).
    resp = graph(
        sim, "POST", "debug_token", sim.world.app_token, input_token=long_token
    )
    debug = resp.json()["data"]
    assert debug["is_valid"] is True
    assert debug["app_id"] == simulator.DEFAULT_APP_ID
    assert debug["user_id"] == DEMO_USERS["demo"]
    assert debug["type"] == "USER"
    assert abs(debug["expires_at"] - (time.time() + 5183944)) < 10
    assert debug["data_access_expires_at"] > debug["issued_at"]
    assert "instagram_content_publish" in debug["scopes"]
    assert sim.world.calls()[-1]["token_in_url"] is False


def exchange(sim, token: str, client_id=None, secret=None):
    return requests.post(
        sim.graph_url + "oauth/access_token",
        data={
            "grant_type": "fb_exchange_token",
            "client_id": client_id or simulator.DEFAULT_APP_ID,
            "client_secret": secret or simulator.DEFAULT_APP_SECRET,
            "fb_exchange_token": token,
        },
        timeout=5,
    )


def test_exchange_rejects_bad_credentials_and_dead_tokens(sim):
    token = login(sim)
    error = assert_meta_error(exchange(sim, token, secret="wrong"), 400, 1)
    assert error["message"] == "Error validating client secret."
    assert error["type"] == "OAuthException"
    assert_meta_error(exchange(sim, token, client_id="999"), 400, 101)
    other_app = login(sim, app_id="999000999000999")
    assert_meta_error(exchange(sim, other_app), 400, 190)
    expired = login(sim, expires_in=0)
    error = assert_meta_error(exchange(sim, expired), 400, 190, 463)
    assert "Session has expired" in error["message"]
    assert_meta_error(exchange(sim, "EAAgarbage"), 400, 190)


def test_debug_token_for_other_app_expired_and_bad_app_token(sim):
    app_token = sim.world.app_token
    other_app = login(sim, app_id="999000999000999")
    error = assert_meta_error(
        graph(sim, "GET", "debug_token", app_token, input_token=other_app), 400, 100
    )
    assert "did not match the Viewing App" in error["message"]
    expired = login(sim, expires_in=-60)
    data = graph(sim, "GET", "debug_token", app_token, input_token=expired).json()[
        "data"
    ]
    assert data["is_valid"] is False
    assert data["error"]["code"] == 190
    assert data["error"]["subcode"] == 463
    wrong_app_token = f"{simulator.DEFAULT_APP_ID}|not-the-secret"
    resp = graph(sim, "GET", "debug_token", wrong_app_token, input_token=expired)
    assert_meta_error(resp, 400, 190)


def test_invalidated_tokens_fail_with_the_given_subcode(sim):
    token = login(sim)
    resp = requests.post(
        f"{sim.url}/_sim/invalidate",
        json={"fb_user_id": DEMO_USERS["demo"], "subcode": 460},
        timeout=5,
    )
    assert resp.status_code == 200
    resp = graph(sim, "GET", "me/accounts", token)
    error = assert_meta_error(resp, 400, 190, 460)
    assert "changed their password" in error["message"]
    assert resp.headers["WWW-Authenticate"].startswith('OAuth "Facebook Platform"')


def test_missing_and_unparsable_tokens(sim):
    assert_meta_error(graph(sim, "GET", "me"), 400, 2500)
    assert_meta_error(graph(sim, "GET", IG_DEMO), 400, 104)
    error = assert_meta_error(graph(sim, "GET", "me", "EAAnope"), 400, 190)
    assert error["message"].startswith("Invalid OAuth access token")


def test_token_in_url_is_recorded(sim):
    token = login(sim)
    requests.get(sim.graph_url + "me", params={"access_token": token}, timeout=5)
    graph(sim, "GET", "me", token)
    requests.post(
        sim.graph_url + f"{IG_DEMO}/media", json={"access_token": token}, timeout=5
    )
    calls = sim.world.calls()
    assert [c["token_in_url"] for c in calls] == [True, False, False]
    assert [c["endpoint"] for c in calls] == ["me", "me", "create"]
    assert calls[0]["path"] == "/v21.0/me"
    assert calls[2]["ig_user_id"] == IG_DEMO
    assert calls[2]["status"] == 400
    assert calls[2]["error_code"] == 100  # image_url missing, but the token was fine


def test_appsecret_proof_is_checked_and_can_be_required(sim):
    token = login(sim)
    proof = appsecret_proof(token, simulator.DEFAULT_APP_SECRET)
    assert graph(sim, "GET", "me", token, appsecret_proof=proof).status_code == 200
    error = assert_meta_error(
        graph(sim, "GET", "me", token, appsecret_proof="0" * 64), 400, 100
    )
    assert error["message"] == "Invalid appsecret_proof provided in the API argument"
    assert error["type"] == "GraphMethodException"
    sim.world.configure(require_appsecret_proof=True)
    assert_meta_error(graph(sim, "GET", "me", token), 400, 100)
    assert graph(sim, "GET", "me", token, appsecret_proof=proof).status_code == 200


# --------------------------------------------------------------------------- crawler


def test_crawler_accepts_a_compliant_jpeg(sim, images):
    token = login(sim)
    resp = create(sim, token, images.base + "/portrait.jpg", caption="Hi", alt_text="A")
    assert resp.status_code == 200
    container_id = resp.json()["id"]
    assert resp.json() == {"id": container_id}
    assert images.user_agents[-1] == "facebookexternalhit/1.1"
    (record,) = sim.world.containers()
    expected_sha = hashlib.sha256(images.files["/portrait.jpg"][1]).hexdigest()
    assert record["image_sha256"] == expected_sha
    assert (record["width"], record["height"]) == (1080, 1350)
    assert (record["caption"], record["alt_text"]) == ("Hi", "A")
    assert sim.world.calls()[-1]["container_id"] == container_id


@pytest.mark.parametrize(
    ("path", "code", "subcode"),
    [
        ("/photo.png", 36001, 2207005),
        ("/photo.mpo", 36001, 2207005),
        ("/wide.jpg", 36003, 2207009),
        ("/tall.jpg", 36003, 2207009),
        ("/huge.jpg", 36000, 2207004),
        ("/gone.jpg", 9004, 2207052),
        ("/broken.jpg", 9004, 2207052),
    ],
)
def test_crawler_rejects_like_meta(sim, images, path, code, subcode):
    token = login(sim)
    resp = create(sim, token, images.base + path)
    assert_meta_error(resp, 400, code, subcode)
    assert sim.world.containers() == []


def test_crawler_reports_unreachable_hosts(sim):
    token = login(sim)
    resp = create(sim, token, "http://127.0.0.1:9/photo.jpg")
    error = assert_meta_error(resp, 400, 9004, 2207052)
    assert "127.0.0.1:9" in error["error_user_msg"]


@pytest.mark.parametrize(
    ("caption", "code", "subcode"),
    [
        ("x" * 2201, 36004, 2207010),
        (" ".join(f"#tag{n}" for n in range(31)), 36004, 2207010),
        (" ".join(f"@user{n}" for n in range(21)), 100, 2207040),
    ],
)
def test_caption_limits(sim, images, caption, code, subcode):
    token = login(sim)
    resp = create(sim, token, images.base + "/photo.jpg", caption=caption)
    assert_meta_error(resp, 400, code, subcode)


def test_caption_at_the_limits_is_accepted(sim, images):
    token = login(sim)
    caption = (
        " ".join(f"#t{n}" for n in range(30))
        + " "
        + " ".join(f"@u{n}" for n in range(20))
    )
    assert create(sim, token, images.base + "/photo.jpg", caption=caption).ok


def test_create_accepts_a_json_body(sim, images):
    token = login(sim)
    resp = requests.post(
        sim.graph_url + f"{IG_DEMO}/media",
        json={"image_url": images.base + "/photo.jpg", "caption": "json"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert resp.status_code == 200
    assert sim.world.containers()[0]["caption"] == "json"


def test_foreign_ig_accounts_are_off_limits(sim, images):
    token = login(sim)
    error = assert_meta_error(
        create(sim, token, images.base + "/photo.jpg", IG_OTHER), 403, 10
    )
    assert error["type"] == "OAuthException"
    assert_meta_error(
        graph(sim, "GET", IG_OTHER, token, fields="username"), 400, 100, 33
    )
    assert sim.world.containers() == []  # refused before any crawl


# --------------------------------------------------------------------------- publishing


def test_container_progresses_and_publishes_exactly_once(sim, images):
    token = login(sim)
    container_id = create(
        sim, token, images.base + "/photo.jpg", caption="Launch"
    ).json()["id"]
    assert status_of(sim, token, container_id)["status_code"] == "IN_PROGRESS"
    assert_meta_error(publish(sim, token, container_id), 400, 9007, 2207027)
    time.sleep(READY_AFTER + 0.05)
    assert status_of(sim, token, container_id)["status_code"] == "FINISHED"
    resp = publish(sim, token, container_id)
    assert resp.status_code == 200
    media_id = resp.json()["id"]
    assert resp.json() == {"id": media_id}
    assert status_of(sim, token, container_id)["status_code"] == "PUBLISHED"
    assert_meta_error(publish(sim, token, container_id), 400, 24, 2207006)
    (post,) = sim.world.published()
    assert post["media_id"] == media_id
    assert post["container_id"] == container_id
    assert post["caption"] == "Launch"
    assert (post["width"], post["height"], post["format"]) == (1080, 1080, "JPEG")
    assert post["published_at"].endswith("+00:00")


def test_published_media_reads_back_like_meta(sim, images):
    token = login(sim)
    first = publish(sim, token, ready_container(sim, images, token)).json()["id"]
    second = publish(sim, token, ready_container(sim, images, token)).json()["id"]
    fields = "id,permalink,shortcode,timestamp,media_type,media_product_type,caption"
    media = graph(sim, "GET", second, token, fields=fields).json()
    assert media["id"] == second
    assert PERMALINK_RE.fullmatch(media["permalink"])
    assert media["permalink"].endswith(f"/{media['shortcode']}/")
    assert IG_TIME_RE.fullmatch(media["timestamp"])
    assert (media["media_type"], media["media_product_type"]) == ("IMAGE", "FEED")
    assert media["caption"] == "Hello #ospost"
    listing = graph(
        sim, "GET", f"{IG_DEMO}/media", token, fields="id,caption,timestamp"
    )
    # Newest first, ahead of the account's existing history.
    assert [m["id"] for m in listing.json()["data"]][:2] == [second, first]


def test_publishing_quota_is_enforced_in_the_window(sim, images):
    token = login(sim)
    sim.world.configure(quota_total=2)
    for _ in range(2):
        assert (
            publish(sim, token, ready_container(sim, images, token)).status_code == 200
        )
    third = ready_container(sim, images, token)
    assert_meta_error(publish(sim, token, third), 400, 9, 2207042)
    assert status_of(sim, token, third)["status_code"] == "FINISHED"
    limit = graph(
        sim,
        "GET",
        f"{IG_DEMO}/content_publishing_limit",
        token,
        fields="quota_usage,config",
    )
    assert limit.json() == {
        "data": [
            {"quota_usage": 2, "config": {"quota_total": 2, "quota_duration": 86400}}
        ]
    }
    assert len(sim.world.published()) == 2


def test_expired_container_cannot_be_published(sim, images):
    token = login(sim)
    container_id = ready_container(sim, images, token)
    sim.world.configure(container_ttl=0.1)
    time.sleep(0.15)
    assert status_of(sim, token, container_id)["status_code"] == "EXPIRED"
    assert_meta_error(publish(sim, token, container_id), 400, -2, 2207020)


def test_publish_rejects_unknown_and_foreign_containers(sim, images):
    token = login(sim)
    assert_meta_error(publish(sim, token, "17890000000009999"), 400, 24, 2207006)
    container_id = ready_container(sim, images, token)
    other = login(sim, "other")
    assert_meta_error(publish(sim, other, container_id, ig=IG_OTHER), 400, 24, 2207006)
    assert_meta_error(publish(sim, other, container_id), 403, 10)
    assert sim.world.published() == []


# ------------------------------------------------------------------- existing feed

FEED_FIELDS = (
    "id,media_type,media_product_type,media_url,thumbnail_url,permalink,timestamp,"
    "caption"
)


def whole_feed(sim, token: str, ig: str = IG_DEMO, limit: int = 10) -> list[dict]:
    """Every post of an account, following ``paging.cursors.after`` like Ospost."""
    items, after = [], None
    for _ in range(20):
        params = {"fields": FEED_FIELDS, "limit": limit}
        if after:
            params["after"] = after
        resp = graph(sim, "GET", f"{ig}/media", token, **params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        items += body["data"]
        if "next" not in body.get("paging", {}):
            return items
        assert "access_token" not in body["paging"]["next"]
        after = body["paging"]["cursors"]["after"]
    raise AssertionError("the feed never ended")


def test_existing_feed_pages_newest_first_with_cursors(sim):
    token = login(sim)
    items = whole_feed(sim, token)
    profile = graph(sim, "GET", IG_DEMO, token, fields="media_count").json()
    assert 24 <= len(items) <= 60
    assert profile["media_count"] == len(items)
    assert len({m["id"] for m in items}) == len(items)
    stamps = [m["timestamp"] for m in items]
    assert all(IG_TIME_RE.fullmatch(t) for t in stamps)
    assert stamps == sorted(stamps, reverse=True)
    kinds = {(m["media_type"], m["media_product_type"]) for m in items}
    assert {("IMAGE", "FEED"), ("CAROUSEL_ALBUM", "FEED"), ("VIDEO", "REELS")} <= kinds
    for item in items:
        assert PERMALINK_RE.fullmatch(item["permalink"])
        assert item["media_url"].startswith(sim.url + "/_sim/cdn/")
        # Only videos have a cover picture, as at Meta.
        assert ("thumbnail_url" in item) == (item["media_type"] == "VIDEO")
    # Deterministic: the same history after a reset, and another account's differs.
    sim.world.reset()
    again = whole_feed(sim, login(sim), limit=25)
    assert [m["id"] for m in again] == [m["id"] for m in items]
    assert [m.get("caption") for m in again] == [m.get("caption") for m in items]
    other = whole_feed(sim, login(sim, "other"), IG_OTHER)
    assert not {m["id"] for m in other} & {m["id"] for m in items}


def test_published_posts_top_the_feed_but_not_published(sim, images):
    token = login(sim)
    before = whole_feed(sim, token)
    media_id = publish(sim, token, ready_container(sim, images, token)).json()["id"]
    after = whole_feed(sim, token)
    assert [m["id"] for m in after] == [media_id] + [m["id"] for m in before]
    assert after[0]["caption"] == "Hello #ospost"
    assert [p["media_id"] for p in sim.world.published()] == [media_id]
    count = graph(sim, "GET", IG_DEMO, token, fields="media_count").json()
    assert count["media_count"] == len(before) + 1


def test_cdn_urls_serve_pictures_until_they_expire(sim):
    token = login(sim)
    photo = next(m for m in whole_feed(sim, token) if m["media_type"] == "IMAGE")
    resp = requests.get(photo["media_url"], timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(resp.content)).format == "JPEG"
    reel = next(m for m in whole_feed(sim, token) if m["media_type"] == "VIDEO")
    cover = Image.open(
        io.BytesIO(requests.get(reel["thumbnail_url"], timeout=5).content)
    )
    assert cover.height > cover.width
    tampered = photo["media_url"].replace("oh=00_", "oh=00_f")
    assert requests.get(tampered, timeout=5).status_code == 403
    sim.world.configure(cdn_url_ttl=-60)
    stale = graph(sim, "GET", photo["id"], token, fields="media_url").json()
    resp = requests.get(stale["media_url"], timeout=5)
    assert (resp.status_code, resp.text) == (403, "URL signature expired")


def test_existing_feed_can_be_switched_off(sim):
    token = login(sim)
    sim.world.configure(existing_feed=False)
    assert whole_feed(sim, token) == []
    assert graph(sim, "GET", IG_DEMO, token, fields="media_count").json() == {
        "media_count": 0,
        "id": IG_DEMO,
    }


# --------------------------------------------------------------------- rate limits


def usage_headers(resp) -> tuple[dict, dict | None]:
    app = json.loads(resp.headers["X-App-Usage"])
    buc = resp.headers.get("X-Business-Use-Case-Usage")
    return app, json.loads(buc) if buc else None


def test_every_answer_reports_usage_like_meta(sim):
    token = login(sim)
    app, buc = usage_headers(graph(sim, "GET", IG_DEMO, token, fields="username"))
    assert set(app) == {"call_count", "total_cputime", "total_time"}
    assert all(isinstance(v, int) and 0 <= v < 100 for v in app.values())
    [entry] = buc[IG_DEMO]
    assert entry["type"] == "instagram"
    assert entry["estimated_time_to_regain_access"] == 0
    assert set(entry) == {
        "type",
        "call_count",
        "total_cputime",
        "total_time",
        "estimated_time_to_regain_access",
    }
    # Calls about no Instagram account carry only the app's usage.
    app, buc = usage_headers(graph(sim, "GET", "me", token))
    assert buc is None
    # Errors carry them too.
    failed = graph(sim, "GET", "12345", token)
    assert failed.status_code == 400 and "X-App-Usage" in failed.headers


def test_usage_can_be_pushed_high_then_throttles(sim):
    token = login(sim)
    sim.world.configure(buc_usage=85, regain_minutes=7)
    resp = graph(sim, "GET", f"{IG_DEMO}/media", token, fields="id", limit=1)
    assert resp.status_code == 200
    [entry] = usage_headers(resp)[1][IG_DEMO]
    assert entry["call_count"] == 85
    assert entry["estimated_time_to_regain_access"] == 7
    sim.world.configure(buc_usage=100)
    resp = graph(sim, "GET", f"{IG_DEMO}/media", token, fields="id")
    error = assert_meta_error(resp, 400, 80002)
    assert error["is_transient"] is True
    assert "too many calls to this Instagram account" in error["message"]
    assert usage_headers(resp)[1][IG_DEMO][0]["call_count"] == 100
    sim.world.configure(buc_usage=None, app_usage=100)
    resp = graph(sim, "GET", "me", token)
    assert_meta_error(resp, 400, 4)
    assert usage_headers(resp)[0]["call_count"] == 100
    assert sim.world.calls()[-1]["fault"] == "throttled"


def test_call_limits_count_each_accounts_calls(sim):
    token, other = login(sim), login(sim, "other")
    sim.world.configure(buc_call_limit=4)
    for expected in (25, 50, 75, 100):
        resp = graph(sim, "GET", IG_DEMO, token, fields="username")
        assert resp.status_code == 200
        assert usage_headers(resp)[1][IG_DEMO][0]["call_count"] == expected
    resp = graph(sim, "GET", IG_DEMO, token, fields="username")
    assert_meta_error(resp, 400, 80002)
    regain = usage_headers(resp)[1][IG_DEMO][0]["estimated_time_to_regain_access"]
    assert 1 <= regain <= 24 * 60
    # Another account has its own budget.
    assert graph(sim, "GET", IG_OTHER, other, fields="username").status_code == 200
    usage = requests.get(
        f"{sim.url}/_sim/usage", params={"ig_user_id": IG_DEMO}, timeout=5
    ).json()
    assert usage["instagram"]["call_count"] >= 100


# --------------------------------------------------------------------------- faults


def test_scripted_error_is_consumed_once(sim):
    token = login(sim)
    sim.world.add_fault({"endpoint": "me"}, {"http": 400, "code": 190, "subcode": 463})
    error = assert_meta_error(graph(sim, "GET", "me", token), 400, 190, 463)
    assert "expired" in error["message"]
    assert graph(sim, "GET", "me", token).status_code == 200
    assert sim.world.calls()[0]["fault"] == "scripted"


def test_scripted_faults_via_control_api_match_users_and_repeat(sim):
    demo, multi = login(sim), login(sim, "multi")
    resp = requests.post(
        f"{sim.url}/_sim/faults",
        json={
            "match": {"endpoint": "accounts", "fb_user_id": DEMO_USERS["multi"]},
            "response": {"http": 500},
            "times": None,
        },
        timeout=5,
    )
    assert resp.status_code == 200
    for _ in range(3):
        failed = graph(sim, "GET", "me/accounts", multi)
        assert failed.status_code == 500
        assert failed.headers["Content-Type"].startswith("text/plain")
    assert graph(sim, "GET", "me/accounts", demo).status_code == 200


def test_concurrent_publishes_of_one_container_make_one_post(sim, images):
    token = login(sim)
    container_id = ready_container(sim, images, token)
    statuses = []

    def attempt():
        statuses.append(publish(sim, token, container_id).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 400, 400, 400, 400, 400]
    assert len(sim.world.published()) == 1


def test_lost_publish_response_still_publishes(sim, images):
    token = login(sim)
    container_id = ready_container(sim, images, token)
    sim.world.add_fault(
        {"endpoint": "publish", "ig_user_id": IG_DEMO}, {"after": True, "http": 500}
    )
    assert publish(sim, token, container_id).status_code == 500
    assert len(sim.world.published()) == 1
    assert status_of(sim, token, container_id)["status_code"] == "PUBLISHED"
    assert_meta_error(publish(sim, token, container_id), 400, 24, 2207006)
    assert len(sim.world.published()) == 1


def test_delay_fault_times_out_the_client(sim):
    token = login(sim)
    sim.world.add_fault({"endpoint": "me"}, {"delay": 0.4})
    with pytest.raises(requests.Timeout):
        graph(sim, "GET", "me", token, _timeout=0.1)
    sim.world.add_fault({"endpoint": "me"}, {"delay": 0.1})
    started = time.monotonic()
    assert graph(sim, "GET", "me", token).status_code == 200
    assert time.monotonic() - started >= 0.1


def test_container_status_fault_forces_error(sim, images):
    token = login(sim)
    container_id = ready_container(sim, images, token)
    sim.world.add_fault(
        {"endpoint": "status"}, {"container_status": "ERROR", "status": "2207001"}
    )
    assert status_of(sim, token, container_id) == {
        "status_code": "ERROR",
        "status": "2207001",
        "id": container_id,
    }
    assert_meta_error(publish(sim, token, container_id), 400, -1, 2207032)


def test_faults_are_matched_first_come_first_served(sim):
    token = login(sim)
    sim.world.add_fault({"endpoint": "*"}, {"code": 4})
    sim.world.add_fault({"endpoint": "me"}, {"code": 17})
    error = assert_meta_error(graph(sim, "GET", "me", token), 400, 4)
    assert error["is_transient"] is True
    assert_meta_error(graph(sim, "GET", "me", token), 400, 17)
    assert graph(sim, "GET", "me", token).status_code == 200


def test_random_faults_follow_fail_kinds(sim, images):
    token = login(sim)
    container_id = ready_container(sim, images, token)
    sim.world.configure(fail_rate=1.0, fail_kinds=["code613"], seed=7)
    assert_meta_error(graph(sim, "GET", "me", token), 400, 613)
    sim.world.configure(fail_kinds=["not_ready"])
    assert graph(sim, "GET", "me", token).status_code == 500
    assert_meta_error(publish(sim, token, container_id), 400, 9007, 2207027)
    sim.world.configure(fail_kinds=["timeout"], timeout_delay=0.3)
    with pytest.raises(requests.Timeout):
        publish(sim, token, container_id, _timeout=0.1)
    assert len(sim.world.published()) == 1  # the lost response still published


def test_latency_applies_to_graph_calls_only(sim):
    token = login(sim)
    sim.world.configure(latency_ms=200)
    started = time.monotonic()
    graph(sim, "GET", "me", token)
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    requests.get(f"{sim.url}/_sim/calls", timeout=5)
    assert time.monotonic() - started < 0.2


# --------------------------------------------------------------------------- misc


def test_unknown_objects_and_edges(sim):
    token = login(sim)
    error = assert_meta_error(graph(sim, "GET", "12345", token), 400, 100, 33)
    assert "Object with ID '12345' does not exist" in error["message"]
    error = assert_meta_error(graph(sim, "GET", f"{IG_DEMO}/reels", token), 400, 100)
    assert "nonexisting field (reels)" in error["message"]
    resp = graph(sim, "GET", f"{IG_DEMO}/media/extra", token)
    assert_meta_error(resp, 400, 2500)


def test_control_api_reports_bad_input(sim):
    assert (
        requests.post(
            f"{sim.url}/_sim/token", json={"fb_user_id": "nobody"}, timeout=5
        ).status_code
        == 404
    )
    resp = requests.post(f"{sim.url}/_sim/settings", json={"warp": 9}, timeout=5)
    assert resp.status_code == 400
    assert "warp" in resp.json()["error"]
    resp = requests.post(f"{sim.url}/_sim/settings", json={"quota_total": 5}, timeout=5)
    assert resp.json()["quota_total"] == 5
    users = requests.get(f"{sim.url}/_sim/users", timeout=5).json()
    assert [u["fb_user_id"] for u in users] == list(DEMO_USERS.values())


def test_cli_starts_and_answers():
    command = [
        sys.executable,
        "-m",
        "simulator",
        "--port",
        "0",
        "--ready-after",
        "0",
    ]
    with subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True) as proc:
        try:
            url = None
            for line in proc.stderr:
                found = re.search(r"listening on (http://\S+)", line)
                if found:
                    url = found.group(1)
                    break
            assert url, "simulator did not log its URL"
            token = requests.post(
                f"{url}/_sim/token", json={"fb_user_id": DEMO_USERS["demo"]}, timeout=5
            ).json()["accessToken"]
            me = requests.get(
                f"{url}/v21.0/me",
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            )
            assert me.json() == {"name": "Demo User", "id": DEMO_USERS["demo"]}
        finally:
            proc.terminate()
            proc.stderr.read()
    assert proc.returncode == 0


def test_missing_publish_permission_is_a_permission_error(sim, images):
    token = login(sim, scopes=["instagram_basic", "pages_show_list"])
    resp = create(sim, token, images.base + "/photo.jpg")
    assert_meta_error(resp, 403, 10)


def test_world_answers_without_http(sim):
    token = sim.world.issue_token(DEMO_USERS["noig"])["accessToken"]
    reply = sim.world.handle(
        simulator.GraphRequest(
            "GET", "/v21.0/me/accounts", {"fields": "id,name"}, token
        )
    )
    assert reply.status == 200
    assert reply.body["data"] == [{"id": "200000000000005", "name": "Plain Page"}]
