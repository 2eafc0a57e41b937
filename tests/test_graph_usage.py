"""The Graph client reads Meta's rate-limit headers and the account's feed.

Header shapes are Meta's documented examples (shared/docs/graph-api.md §5.4);
the HTTP tests drive the simulator, which sends the same headers.
"""

from __future__ import annotations

import json

import pytest
from urllib3 import HTTPHeaderDict

import simulator
from ospost.graph import GraphClient
from ospost.graph import GraphError
from ospost.graph import GraphNetworkError
from ospost.graph import Usage
from ospost.graph import parse_usage

IG_DEMO = "17841400000000001"

APP_EXAMPLE = '{"call_count":28,"total_time":25,"total_cputime":25}'
BUC_EXAMPLE = json.dumps(
    {
        "17841400000000001": [
            {
                "type": "instagram",
                "call_count": 100,
                "total_cputime": 25,
                "total_time": 25,
                "estimated_time_to_regain_access": 19,
            }
        ]
    }
)


def test_meta_documented_headers_parse():
    usage = parse_usage({"X-App-Usage": APP_EXAMPLE})
    assert usage == Usage(
        app={"call_count": 28, "total_time": 25, "total_cputime": 25}, accounts={}
    )
    assert usage.highest == 28 and not usage.is_high()
    # Header names are case-insensitive, as in urllib3's answers.
    usage = parse_usage(HTTPHeaderDict({"x-business-use-case-usage": BUC_EXAMPLE}))
    assert usage.accounts[IG_DEMO]["call_count"] == 100
    assert usage.regain_minutes == 19
    assert usage.is_high()


@pytest.mark.parametrize("key", ["call_count", "total_time", "total_cputime"])
@pytest.mark.parametrize(("value", "high"), [(79, False), (80, True), (100, True)])
def test_any_share_at_80_percent_is_high(key, value, high):
    shares = {"call_count": 10, "total_time": 10, "total_cputime": 10, key: value}
    app = parse_usage({"X-App-Usage": json.dumps(shares)})
    assert app.is_high() is high
    buc = parse_usage(
        {"X-Business-Use-Case-Usage": json.dumps({"1": [{"type": "pages", **shares}]})}
    )
    assert buc.is_high() is high


def test_a_regain_estimate_alone_means_stop():
    entry = {"type": "instagram", "call_count": 5, "total_time": 1}
    header = {"9": [{**entry, "estimated_time_to_regain_access": 3}]}
    usage = parse_usage({"X-Business-Use-Case-Usage": json.dumps(header)})
    assert usage.highest == 5 and usage.regain_minutes == 3 and usage.is_high()


def test_several_entries_and_odd_shapes_are_read_safely():
    header = {
        "1": [
            {"type": "instagram", "call_count": 20, "total_time": 85},
            {"type": "pages", "call_count": 60, "total_time": "7"},
        ],
        "2": {"type": "instagram", "call_count": 150, "total_cputime": -4},
        "3": "nonsense",
    }
    usage = parse_usage({"X-Business-Use-Case-Usage": json.dumps(header)})
    assert usage.accounts["1"] == {"call_count": 60, "total_time": 85}
    # Clamped to 0..100.
    assert usage.accounts["2"] == {"call_count": 100, "total_cputime": 0}
    assert "3" not in usage.accounts
    assert parse_usage({}) is None
    broken = parse_usage({"X-App-Usage": "{call_count: 99"})
    assert broken == Usage(app={}, accounts={}) and not broken.is_high()


@pytest.mark.parametrize(
    ("code", "subcode", "http", "limited"),
    [
        (4, None, 400, True),
        (17, None, 400, True),
        (32, None, 400, True),
        (613, 1996, 400, True),
        (80002, None, 400, True),
        (4, 2207051, 400, False),  # suspected spam, not a rate limit
        (100, None, 400, False),
        (190, 463, 400, False),
        (None, None, 429, True),
        (None, None, 500, False),
    ],
)
def test_rate_limit_errors_are_recognised(code, subcode, http, limited):
    error = GraphError("x", code=code, subcode=subcode, http_status=http)
    assert error.rate_limited is limited


# -- over HTTP, against the simulator -------------------------------------------


@pytest.fixture
def client(sim, world) -> GraphClient:
    return GraphClient(
        sim.graph_url, simulator.DEFAULT_APP_ID, simulator.DEFAULT_APP_SECRET
    )


@pytest.fixture
def token(world) -> str:
    return world.issue_token(simulator.DEMO_USERS["demo"])["accessToken"]


def test_every_answer_updates_the_clients_usage(client, token, world):
    profile = client.profile(IG_DEMO, token)
    assert profile["username"] == "ospost.demo"
    assert {"followers_count", "follows_count", "media_count"} <= set(profile)
    assert client.last_usage is not None and not client.last_usage.is_high()
    assert IG_DEMO in client.last_usage.accounts
    world.configure(buc_usage=90)
    client.profile(IG_DEMO, token)
    assert client.last_usage.is_high() and client.last_usage.highest == 90
    world.configure(buc_usage=100, regain_minutes=12)
    with pytest.raises(GraphError) as caught:
        client.media_page(IG_DEMO, token)
    assert caught.value.code == 80002 and caught.value.rate_limited
    assert caught.value.usage.regain_minutes == 12
    assert client.last_usage.regain_minutes == 12


def test_media_pages_follow_the_cursor_to_the_end(client, token):
    seen, after, calls = [], None, 0
    while True:
        page = client.media_page(IG_DEMO, token, after=after, limit=20)
        calls += 1
        seen += page.items
        if page.after is None:
            break
        after = page.after
    count = client.profile(IG_DEMO, token)["media_count"]
    assert len(seen) == count and calls == -(-count // 20)
    assert len({item["id"] for item in seen}) == count
    assert {"id", "media_type", "permalink", "timestamp"} <= set(seen[0])


def test_download_gets_cdn_pictures_and_refuses_the_rest(client, token, world):
    item = client.media_page(IG_DEMO, token, limit=1).items[0]
    url = item.get("thumbnail_url") or item["media_url"]
    assert client.download(url, 5_000_000)[:2] == b"\xff\xd8"  # a JPEG
    with pytest.raises(GraphNetworkError, match="too large"):
        client.download(url, 100)
    world.configure(cdn_url_ttl=-1)
    item = client.media_page(IG_DEMO, token, limit=1).items[0]
    with pytest.raises(GraphNetworkError) as caught:
        client.download(item.get("thumbnail_url") or item["media_url"], 5_000_000)
    assert caught.value.http_status == 403
    with pytest.raises(GraphNetworkError, match="unusable"):
        client.download("file:///etc/passwd", 1000)
