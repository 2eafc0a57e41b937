"""The simulator's carousels with video items, over real HTTP.

What Meta does (graph-api.md §3.2, §7.4): a carousel item may be a video
(``media_type=VIDEO``, ``is_carousel_item=true``, ``video_url``); Meta fetches
and checks it like a Reel's video, keeps it IN_PROGRESS while processing,
then FINISHED (or ERROR 2207026 for a video it can't use). A carousel naming
an unfinished item is refused like publishing too early (9007/2207027), one
naming an errored item like a failed upload (-1/2207032).
"""

from __future__ import annotations

import pytest
from test_simulator_video import IG_DEMO
from test_simulator_video import create
from test_simulator_video import error_of
from test_simulator_video import graph
from test_simulator_video import host  # noqa: F401  (fixture)
from test_simulator_video import server  # noqa: F401  (fixture)
from test_simulator_video import sim  # noqa: F401  (fixture)
from test_simulator_video import status
from test_simulator_video import token_for
from test_simulator_video import wait_done


def video_item(sim, token, url: str, **params):  # noqa: F811
    return create(
        sim, token, media_type="VIDEO", is_carousel_item="true", video_url=url,
        **params,
    )  # fmt: skip


def photo_item(sim, token, host):  # noqa: F811
    resp = create(
        sim, token, image_url=host.base + "/photo.jpg", is_carousel_item="true"
    )
    return resp.json()["id"]


def carousel(sim, token, children: list[str], **params):  # noqa: F811
    return create(
        sim, token, media_type="CAROUSEL", children=",".join(children), **params
    )


def test_a_photo_and_a_video_make_one_carousel_once_the_video_is_processed(
    sim,  # noqa: F811
    host,  # noqa: F811
):
    token = token_for(sim)
    photo = photo_item(sim, token, host)
    video = video_item(sim, token, host.base + "/ready.mp4").json()["id"]
    assert status(sim, token, video)["status_code"] == "IN_PROGRESS"
    early = carousel(sim, token, [photo, video], caption="Mixed")
    error = error_of(early, 400, 9007, 2207027)
    assert error["error_user_title"]
    assert wait_done(sim, token, video)["status_code"] == "FINISHED"
    wait_done(sim, token, photo)
    parent = carousel(sim, token, [photo, video], caption="Mixed").json()["id"]
    wait_done(sim, token, parent)
    resp = graph(sim, "POST", f"{IG_DEMO}/media_publish", token, creation_id=parent)
    media_id = resp.json()["id"]
    body = graph(sim, "GET", media_id, token, fields="media_type,caption").json()
    assert (body["media_type"], body["caption"]) == ("CAROUSEL_ALBUM", "Mixed")
    (record,) = sim.world.published()
    kinds = [child["media_type"] for child in record["children"]]
    assert kinds == ["IMAGE", "VIDEO"]
    assert record["children"][1]["video"]["codec"] == "h264"
    items = {c["id"]: c for c in sim.world.containers()}
    assert items[video]["media_type"] == "VIDEO" and items[video]["is_carousel_item"]


def test_a_video_item_meta_cannot_use_ends_in_error_and_spoils_the_carousel(
    sim,  # noqa: F811
    host,  # noqa: F811
):
    token = token_for(sim)
    photo = photo_item(sim, token, host)
    video = video_item(sim, token, host.base + "/raw.mp4").json()["id"]
    body = wait_done(sim, token, video)
    assert body["status_code"] == "ERROR"
    assert body["status"].endswith("2207026")
    problem = {c["id"]: c for c in sim.world.containers()}[video]["video"]["problem"]
    assert "moov atom" in problem
    error_of(carousel(sim, token, [photo, video]), 400, -1, 2207032)


@pytest.mark.parametrize(
    ("params", "code", "subcode"),
    [
        ({"is_carousel_item": "false"}, 100, 2207023),  # a video post is a Reel
        ({"caption": "no"}, 100, None),
        ({"collaborators": '["jane.doe"]'}, 100, None),
        ({"user_tags": '[{"username":"jane.doe","x":0.5,"y":0.5}]'}, 100, None),
        ({"video_url": ""}, 100, None),
        ({"video_url": "http://127.0.0.1:9/x.mp4"}, 9004, 2207052),
    ],
)
def test_bad_video_items_get_metas_errors(sim, host, params, code, subcode):  # noqa: F811
    token = token_for(sim)
    values = {
        "media_type": "VIDEO", "is_carousel_item": "true",
        "video_url": host.base + "/ready.mp4", **params,
    }  # fmt: skip
    error_of(create(sim, token, **values), 400, code, subcode)
    assert sim.world.containers() == []


def test_faults_can_target_video_items(sim, host):  # noqa: F811
    token = token_for(sim)
    sim.world.add_fault(
        {"endpoint": "create_item", "media_type": "VIDEO"}, {"code": 2, "http": 500}
    )
    assert photo_item(sim, token, host)  # an image item: no fault
    error_of(video_item(sim, token, host.base + "/ready.mp4"), 500, 2)
