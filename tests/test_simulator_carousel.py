"""The simulator's carousels, people tags, collaborators and comments, over real
HTTP like the rest of tests/test_simulator.py (whose helpers and image host
these tests share). Each test states what Meta answers
(shared/docs/graph-api.md §3.2, §7.4, §7.5; Meta's shapes as seen in the wild).
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest
import requests
from test_simulator import IG_DEMO
from test_simulator import IG_OTHER
from test_simulator import READY_AFTER
from test_simulator import assert_meta_error
from test_simulator import graph
from test_simulator import images  # noqa: F401  (fixture)
from test_simulator import login
from test_simulator import publish
from test_simulator import server  # noqa: F401  (fixture)
from test_simulator import sim  # noqa: F401  (fixture)
from test_simulator import status_of

from simulator import DEMO_USERS
from support import image_bytes
from support import wait_for

COLOURS = ("/red.jpg", "/green.jpg", "/blue.jpg")


@pytest.fixture
def shots(images):  # noqa: F811
    """Three differently coloured square photos on the public image host."""
    colours = ((200, 0, 0), (0, 200, 0), (0, 0, 200))
    for path, colour in zip(COLOURS, colours, strict=True):
        images.put(path, image_bytes(1080, 1080, color=colour))
    return [images.base + path for path in COLOURS]


def item(sim, token, url, ig=IG_DEMO, **params):  # noqa: F811
    return graph(
        sim,
        "POST",
        f"{ig}/media",
        token,
        image_url=url,
        is_carousel_item="true",
        **params,
    )


def carousel(sim, token, children, ig=IG_DEMO, **params):  # noqa: F811
    return graph(
        sim,
        "POST",
        f"{ig}/media",
        token,
        media_type="CAROUSEL",
        children=",".join(children),
        **params,
    )


def made(resp) -> str:
    assert resp.status_code == 200, resp.text
    return resp.json()["id"]


def ready_items(sim, token, urls) -> list[str]:  # noqa: F811
    ids = [made(item(sim, token, url)) for url in urls]
    time.sleep(READY_AFTER * 1.5 + 0.05)  # the slowest item is ready by then
    return ids


def first_finished(sim, token, ids) -> list[str] | None:  # noqa: F811
    """The items' statuses once at least one is FINISHED (else None)."""
    states = [status_of(sim, token, i)["status_code"] for i in ids]
    return states if "FINISHED" in states else None


def sha(images, path) -> str:  # noqa: F811
    return hashlib.sha256(images.files[path][1]).hexdigest()


# --------------------------------------------------------------------------- carousels


def test_items_finish_at_different_times_and_the_carousel_keeps_their_order(
    sim,  # noqa: F811
    images,  # noqa: F811
    shots,
):
    token = login(sim)
    ids = [
        made(item(sim, token, url, alt_text=f"Shot {n}")) for n, url in enumerate(shots)
    ]
    # Right after creation none is ready; a little later some are, not all.
    assert_meta_error(carousel(sim, token, ids), 400, 9007, 2207027)
    states = wait_for(lambda: first_finished(sim, token, ids), timeout=5)
    assert "IN_PROGRESS" in states, states
    time.sleep(READY_AFTER * 1.5)
    parent = made(carousel(sim, token, ids, caption="Three colours #rgb"))
    record = next(c for c in sim.world.containers() if c["id"] == parent)
    assert record["media_type"] == "CAROUSEL" and record["children"] == ids
    time.sleep(READY_AFTER + 0.05)
    media_id = made(publish(sim, token, parent))

    (live,) = sim.world.published()
    assert live["media_id"] == media_id and live["media_type"] == "CAROUSEL_ALBUM"
    assert live["caption"] == "Three colours #rgb"
    assert [c["container_id"] for c in live["children"]] == ids
    assert [c["image_sha256"] for c in live["children"]] == [
        sha(images, p) for p in COLOURS
    ]
    assert [c["alt_text"] for c in live["children"]] == ["Shot 0", "Shot 1", "Shot 2"]
    read = graph(sim, "GET", media_id, token, fields="media_type,children")
    assert read.json()["media_type"] == "CAROUSEL_ALBUM"
    assert read.json()["children"] == {"data": [{"id": i} for i in ids]}
    # One post against the quota, and its items are used up.
    limit = graph(sim, "GET", f"{IG_DEMO}/content_publishing_limit", token)
    assert limit.json()["data"][0]["quota_usage"] == 1
    assert_meta_error(carousel(sim, token, ids), 400, 24, 2207006)
    assert [status_of(sim, token, i)["status_code"] for i in ids] == ["PUBLISHED"] * 3


@pytest.mark.parametrize("count", [1, 11])
def test_a_carousel_needs_two_to_ten_items(sim, count):  # noqa: F811
    token = login(sim)
    children = [str(17890000000000001 + n) for n in range(count)]
    error = assert_meta_error(carousel(sim, token, children), 400, 100, 2207028)
    assert "too little or too many" in error["error_user_msg"]


def test_a_carousel_refuses_foreign_unknown_and_plain_containers(
    sim,  # noqa: F811
    shots,
):
    token = login(sim)
    other = login(sim, DEMO_USERS["other"])
    mine = ready_items(sim, token, shots[:2])
    theirs = made(item(sim, other, shots[2], ig=IG_OTHER))
    plain = made(graph(sim, "POST", f"{IG_DEMO}/media", token, image_url=shots[0]))
    time.sleep(READY_AFTER * 1.5 + 0.05)
    assert_meta_error(carousel(sim, token, [*mine, theirs]), 400, 24, 2207006)
    assert_meta_error(
        carousel(sim, token, [*mine, "17899999999999999"]), 400, 24, 2207006
    )
    assert_meta_error(carousel(sim, token, [*mine, plain]), 400, 100)
    assert_meta_error(carousel(sim, token, [mine[0], mine[0]]), 400, 100)
    # An item is never published on its own.
    assert_meta_error(publish(sim, token, mine[0]), 400, 100)


@pytest.mark.parametrize(
    ("state", "code", "subcode"),
    [("EXPIRED", -2, 2207020), ("ERROR", -1, 2207032)],
)
def test_an_expired_or_failed_item_refuses_the_carousel(
    sim,  # noqa: F811
    shots,
    state,
    code,
    subcode,
):
    token = login(sim)
    sim.world.add_fault({"endpoint": "create_item"}, {"container_status": state})
    ids = ready_items(sim, token, shots[:2])
    assert status_of(sim, token, ids[0])["status_code"] == state
    assert_meta_error(carousel(sim, token, ids), 400, code, subcode)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("collaborators", '["jane.doe"]'),
        ("caption", "Captions go on the carousel"),
        ("location_id", "110843418940484"),
    ],
)
def test_items_refuse_what_belongs_on_the_carousel(sim, shots, field, value):  # noqa: F811
    """Postiz #1547: collaborators sent on items broke every carousel."""
    token = login(sim)
    error = assert_meta_error(item(sim, token, shots[0], **{field: value}), 400, 100)
    assert error["message"] == f"The param {field} is not allowed for carousel child"
    assert sim.world.containers() == []


# --------------------------------------------------------------- people, collaborators


def test_tags_and_collaborators_reach_the_published_post(sim, shots):  # noqa: F811
    token = login(sim)
    tags = [{"username": "jane.doe", "x": 0.25, "y": 0.75}]
    resp = graph(
        sim,
        "POST",
        f"{IG_DEMO}/media",
        token,
        image_url=shots[0],
        caption="With friends",
        user_tags=json.dumps(tags),
        collaborators=json.dumps(["chef.marco", "studio.lumen", "other.brand"]),
    )
    container = made(resp)
    time.sleep(READY_AFTER + 0.05)
    made(publish(sim, token, container))
    (live,) = sim.world.published()
    assert live["user_tags"] == tags
    assert live["collaborators"] == ["chef.marco", "studio.lumen", "other.brand"]


@pytest.mark.parametrize(
    ("fields", "code", "subcode", "names"),
    [
        ({"collaborators": '["private.paula"]'}, 110, 2207018, "private.paula"),
        ({"collaborators": '["nobody.here", "jane.doe"]'}, 110, 2207018, "nobody.here"),
        ({"collaborators": '["@jane.doe"]'}, 110, 2207018, "@jane.doe"),
        (
            {"user_tags": '[{"username": "private.paula", "x": 0.5, "y": 0.5}]'},
            110,
            2207018,
            "private.paula",
        ),
        (
            {"collaborators": '["a.b", "jane.doe", "chef.marco", "nora.travels"]'},
            100,
            None,
            None,
        ),
        (
            {"user_tags": '[{"username": "jane.doe", "x": 1.5, "y": 0.5}]'},
            100,
            None,
            None,
        ),
        ({"user_tags": '{"username": "jane.doe"}'}, 100, None, None),
        (
            {
                "user_tags": json.dumps(
                    [{"username": "jane.doe", "x": 0.5, "y": 0.5}] * 21
                )
            },
            100,
            2207040,
            None,
        ),
    ],
)
def test_people_meta_cannot_load_are_refused_like_meta(
    sim,  # noqa: F811
    shots,
    fields,
    code,
    subcode,
    names,
):
    token = login(sim)
    resp = graph(sim, "POST", f"{IG_DEMO}/media", token, image_url=shots[0], **fields)
    error = assert_meta_error(resp, 400, code, subcode)
    if names:
        assert error["message"] == "Invalid user id"
        assert error["error_user_title"] == (
            "Cannot load user with a private profile or invalid username"
        )
        assert error["error_user_msg"] == (
            f"The following user(s) cannot be accessed: {names}"
        )
    assert sim.world.containers() == []


def test_people_can_be_added_through_the_control_api(sim, shots):  # noqa: F811
    token = login(sim)
    tags = json.dumps([{"username": "new.friend", "x": 0.1, "y": 0.9}])
    resp = item(sim, token, shots[0], user_tags=tags)
    assert_meta_error(resp, 400, 110, 2207018)
    added = requests.post(
        f"{sim.url}/_sim/people", json={"username": "new.friend"}, timeout=10
    )
    assert added.status_code == 200
    made(item(sim, token, shots[0], user_tags=tags))
    people = requests.get(f"{sim.url}/_sim/people", timeout=10).json()
    assert {"username": "new.friend", "private": False} in people
    assert {"username": "private.paula", "private": True} in people


# --------------------------------------------------------------------------- comments


def live_post(sim, token, url) -> str:  # noqa: F811
    sim.world.configure(container_ready_after=0)
    container = made(graph(sim, "POST", f"{IG_DEMO}/media", token, image_url=url))
    return made(publish(sim, token, container))


def test_comment_then_read_it_back(sim, shots):  # noqa: F811
    token = login(sim)
    media_id = live_post(sim, token, shots[0])
    text = "More photos at the shop 🌿 #sale @jane.doe"
    resp = graph(sim, "POST", f"{media_id}/comments", token, message=text)
    comment_id = made(resp)
    assert resp.json() == {"id": comment_id}
    listed = graph(
        sim, "GET", f"{media_id}/comments", token, fields="id,text,username,timestamp"
    )
    (entry,) = listed.json()["data"]
    assert entry["id"] == comment_id and entry["text"] == text
    assert entry["username"] == "ospost.demo"
    assert set(entry) == {"id", "text", "username", "timestamp"}
    count = graph(sim, "GET", media_id, token, fields="comments_count")
    assert count.json()["comments_count"] == 1
    (record,) = sim.world.comments()
    assert (record["media_id"], record["text"]) == (media_id, text)
    assert sim.world.calls()[-3]["comment_id"] == comment_id


def test_comments_need_the_permission_and_the_post(sim, shots):  # noqa: F811
    token = login(sim)
    media_id = live_post(sim, token, shots[0])
    no_scope = login(sim, scopes=["instagram_basic", "instagram_content_publish"])
    resp = graph(sim, "POST", f"{media_id}/comments", no_scope, message="hi")
    assert_meta_error(resp, 403, 10)
    other = login(sim, DEMO_USERS["other"])
    resp = graph(sim, "POST", f"{media_id}/comments", other, message="hi")
    assert_meta_error(resp, 400, 100, 33)
    assert_meta_error(graph(sim, "POST", f"{media_id}/comments", token), 400, 100)
    assert sim.world.comments() == []


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("endpoint", ["create_item", "create_carousel", "comments"])
def test_scripted_faults_hit_each_new_call(sim, shots, endpoint):  # noqa: F811
    token = login(sim)
    media_id = live_post(sim, token, shots[0])
    ids = ready_items(sim, token, shots[1:])
    sim.world.add_fault({"endpoint": endpoint}, {"code": 2, "http": 500})
    calls = {
        "create_item": lambda: item(sim, token, shots[0]),
        "create_carousel": lambda: carousel(sim, token, ids),
        "comments": lambda: graph(sim, "GET", f"{media_id}/comments", token),
    }
    assert_meta_error(calls[endpoint](), 500, 2)
    assert calls[endpoint]().status_code == 200  # consumed once
    faulted = [c for c in sim.world.calls() if c["fault"]]
    assert [c["endpoint"] for c in faulted] == [endpoint]


def test_a_lost_comment_answer_still_comments(sim, shots):  # noqa: F811
    """What the engine must survive: Meta made the comment, the answer never came."""
    token = login(sim)
    media_id = live_post(sim, token, shots[0])
    sim.world.add_fault({"endpoint": "comment"}, {"after": True, "http": 500})
    resp = graph(sim, "POST", f"{media_id}/comments", token, message="first!")
    assert resp.status_code == 500
    assert [c["text"] for c in sim.world.comments()] == ["first!"]


def test_a_random_timeout_on_a_comment_happens_after_the_comment(sim):  # noqa: F811
    from simulator.records import random_fault

    fault = random_fault("timeout", "comment", sim.world.settings)
    assert fault.after
    assert not random_fault("timeout", "create_item", sim.world.settings).after
