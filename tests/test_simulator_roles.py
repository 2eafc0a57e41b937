"""The simulator's Page roles: several Facebook users managing one Page (and
so its Instagram account), answered in Meta's shapes over real HTTP."""

import requests
from test_simulator import HTTP_TIMEOUT
from test_simulator import IG_DEMO
from test_simulator import assert_meta_error
from test_simulator import graph
from test_simulator import login

from simulator import DEMO_USERS

DEMO_PAGE = "200000000000001"
OTHER_PAGE = "200000000000006"


def pages(sim, token) -> dict[str, dict]:
    body = graph(
        sim,
        "GET",
        "me/accounts",
        token,
        fields="id,name,tasks,instagram_business_account",
    ).json()
    return {p["id"]: p for p in body["data"]}


def test_a_granted_person_sees_the_page_and_may_post_to_its_account(sim, world):
    resp = requests.post(
        f"{sim.url}/_sim/pages/{DEMO_PAGE}/people",
        json={"fb_user_id": "other", "tasks": ["CREATE_CONTENT", "MODERATE"]},
        timeout=HTTP_TIMEOUT,
    )
    assert resp.status_code == 200
    summary = resp.json()
    assert {p["id"] for p in summary["pages"]} == {DEMO_PAGE, OTHER_PAGE}
    token = login(sim, "other")
    listed = pages(sim, token)
    assert set(listed) == {DEMO_PAGE, OTHER_PAGE}
    # Each person sees their own tasks on the Page; the owner keeps all of theirs.
    assert listed[DEMO_PAGE]["tasks"] == ["CREATE_CONTENT", "MODERATE"]
    assert listed[DEMO_PAGE]["instagram_business_account"]["id"] == IG_DEMO
    assert "MANAGE" in pages(sim, login(sim, "demo"))[DEMO_PAGE]["tasks"]
    profile = graph(sim, "GET", IG_DEMO, token, fields="id,username")
    assert profile.json() == {"id": IG_DEMO, "username": "ospost.demo"}
    debug = world.issue_token(DEMO_USERS["other"])["accessToken"]
    info = graph(sim, "GET", "debug_token", world.app_token, input_token=debug).json()[
        "data"
    ]
    publish = next(
        g for g in info["granular_scopes"] if g["scope"] == "instagram_content_publish"
    )
    assert IG_DEMO in publish["target_ids"]


def test_a_revoked_role_hides_the_page_and_refuses_its_account(sim, world):
    world.grant_page(DEMO_PAGE, DEMO_USERS["other"])
    token = login(sim, "other")
    resp = requests.post(
        f"{sim.url}/_sim/pages/{DEMO_PAGE}/people/{DEMO_USERS['other']}/remove",
        timeout=HTTP_TIMEOUT,
    )
    assert resp.status_code == 200
    assert set(pages(sim, token)) == {OTHER_PAGE}
    assert_meta_error(graph(sim, "GET", IG_DEMO, token, fields="id"), 400, 100, 33)
    assert_meta_error(
        graph(sim, "POST", f"{IG_DEMO}/media", token, image_url="https://x/y.jpg"),
        403,
        10,
    )
    # The owner still manages it.
    assert DEMO_PAGE in pages(sim, login(sim, "demo"))


def test_a_role_without_content_tasks_cannot_publish(sim, world):
    world.grant_page(DEMO_PAGE, DEMO_USERS["other"], ["ANALYZE"])
    token = login(sim, "other")
    assert pages(sim, token)[DEMO_PAGE]["tasks"] == ["ANALYZE"]
    assert_meta_error(
        graph(sim, "POST", f"{IG_DEMO}/media", token, image_url="https://x/y.jpg"),
        403,
        10,
    )


def test_unknown_pages_and_people_are_404s(sim, world):
    for path, body in (
        ("pages/999/people", {"fb_user_id": "other"}),
        (f"pages/{DEMO_PAGE}/people", {"fb_user_id": "nobody"}),
    ):
        resp = requests.post(f"{sim.url}/_sim/{path}", json=body, timeout=HTTP_TIMEOUT)
        assert resp.status_code == 404, resp.text
    resp = requests.post(
        f"{sim.url}/_sim/pages/{DEMO_PAGE}/people", json={}, timeout=HTTP_TIMEOUT
    )
    assert resp.status_code == 400
