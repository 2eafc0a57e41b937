"""The simulator's Reels and Stories, over real HTTP like the app will call them.

What Meta answers (graph-api.md §3.3, §5.3, §7.1, §7.2): a REELS/STORIES video
container is created at once, stays IN_PROGRESS while "processing", then ends
FINISHED, or ERROR with 2207026 for a video outside the spec; publishing early
is 9007/2207027, publishing an ERROR video 352/2207026.  Stories are read from
``/{ig-user-id}/stories``, Reels appear in ``/media`` as REELS.
"""

from __future__ import annotations

import threading
import time

import av
import pytest
import requests
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

from ospost.media import worker
from simulator import GraphWorld
from simulator import SimulatorServer
from simulator import sample_image
from videoclips import make_clip

IG_DEMO = "17841400000000001"
PROCESSING = 0.4
NOWHERE = "http://127.0.0.1:9/x.mp4"  # the discard port: nothing listens
REEL = {"media_type": "REELS", "video_url": "/ready.mp4"}  # paths: on the host


class _Quiet(WSGIRequestHandler):
    def log_request(self, code="-", size="-") -> None:
        pass


class FileHost:
    """A public web server the simulated crawler downloads media from."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self._server = make_server(
            "127.0.0.1", 0, self, threaded=True, request_handler=_Quiet
        )
        self.base = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def __call__(self, environ, start_response):
        body, mimetype = self.files.get(Request(environ).path, (b"", "text/plain"))
        status = 200 if body else 404
        return Response(body, status, mimetype=mimetype)(environ, start_response)

    def put(self, path: str, body: bytes, mimetype: str = "video/mp4") -> str:
        self.files[path] = (body, mimetype)
        return self.base + path

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    folder = tmp_path_factory.mktemp("simvideo")
    raw = make_clip(folder / "raw.mp4")
    ready = folder / "ready.mp4"
    worker.run({"op": "prepare", "src": str(raw), "dst": str(ready), "kind": "reel"})
    files = FileHost()
    files.put("/ready.mp4", ready.read_bytes())
    files.put("/raw.mp4", raw.read_bytes())  # index at the end: Meta refuses it
    files.put(
        "/vp9.webm",
        make_clip(folder / "vp9.webm", codec="libvpx-vp9", audio=None).read_bytes(),
        "video/webm",
    )
    short = folder / "short.mp4"
    worker.run({
        "op": "prepare", "kind": "reel", "dst": str(short),
        "src": str(make_clip(folder / "s.mp4", seconds=3.1)),
    })  # fmt: skip
    files.put("/short.mp4", _cut_to_two_seconds(short, folder))
    files.put("/story.jpg", sample_image(1080, 1920), "image/jpeg")
    files.put("/photo.jpg", sample_image(1080, 1080), "image/jpeg")
    files.put("/cover.png", sample_image(1080, 1920, "PNG"), "image/png")
    yield files
    files.close()


def _cut_to_two_seconds(src, folder) -> bytes:
    """A faststart H.264 clip of 2 s: right in every way but its length."""
    out_path = folder / "two.mp4"
    with (
        av.open(str(src)) as source,
        av.open(
            str(out_path), "w", format="mp4", options={"movflags": "+faststart"}
        ) as out,
    ):
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is None or packet.pts * packet.time_base >= 2:
                continue
            packet.stream = stream
            out.mux(packet)
    return out_path.read_bytes()


@pytest.fixture(scope="module")
def server():
    world = GraphWorld(container_ready_after=0.1, video_processing_seconds=PROCESSING)
    with SimulatorServer(world) as sim:
        yield sim


@pytest.fixture
def sim(server):
    server.world.reset()
    return server


def token_for(sim) -> str:
    return sim.world.issue_token("10000000000001")["accessToken"]


def graph(sim, method: str, path: str, token: str, **params):
    headers = {"Authorization": f"Bearer {token}"}
    url = sim.graph_url + path
    if method == "GET":
        return requests.get(url, params=params, headers=headers, timeout=30)
    return requests.post(url, data=params, headers=headers, timeout=30)


def create(sim, token, **params):
    return graph(sim, "POST", f"{IG_DEMO}/media", token, **params)


def status(sim, token, container_id: str) -> dict:
    return graph(sim, "GET", container_id, token, fields="status_code,status").json()


def wait_done(sim, token, container_id: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = status(sim, token, container_id)
        if body["status_code"] != "IN_PROGRESS":
            return body
        time.sleep(0.05)
    raise AssertionError("container never left IN_PROGRESS")


def error_of(resp, http: int, code: int, subcode: int | None = None) -> dict:
    assert resp.status_code == http, resp.text
    error = resp.json()["error"]
    assert (error["code"], error.get("error_subcode")) == (code, subcode)
    return error


def test_a_reel_is_processed_then_published_and_read_back(sim, host):
    token = token_for(sim)
    resp = create(
        sim, token, media_type="REELS", video_url=host.base + "/ready.mp4",
        caption="First reel #ospost", share_to_feed="false", thumb_offset="1000",
        collaborators='["jane.doe", "chef.marco"]',
    )  # fmt: skip
    container = resp.json()["id"]
    assert status(sim, token, container)["status_code"] == "IN_PROGRESS"
    early = graph(sim, "POST", f"{IG_DEMO}/media_publish", token, creation_id=container)
    error_of(early, 400, 9007, 2207027)
    assert wait_done(sim, token, container)["status_code"] == "FINISHED"
    published = graph(
        sim, "POST", f"{IG_DEMO}/media_publish", token, creation_id=container
    )
    media_id = published.json()["id"]
    fields = "media_type,media_product_type,permalink,media_url,thumbnail_url,caption"
    media = graph(sim, "GET", media_id, token, fields=fields).json()
    assert (media["media_type"], media["media_product_type"]) == ("VIDEO", "REELS")
    assert media["permalink"].startswith("https://www.instagram.com/reel/")
    assert "/_sim/cdn/" in media["media_url"] and ".mp4?" in media["media_url"]
    assert ".jpg?" in media["thumbnail_url"]
    listed = graph(sim, "GET", f"{IG_DEMO}/media", token, fields="id").json()["data"]
    assert listed[0]["id"] == media_id  # newest first, above the existing feed
    (record,) = sim.world.published()
    video = record["video"]
    assert record["media_product_type"] == "REELS"
    assert video["share_to_feed"] is False and video["thumb_offset"] == 1000
    assert list(video["collaborators"]) == ["jane.doe", "chef.marco"]
    assert record["collaborators"] == ["jane.doe", "chef.marco"]
    assert video["codec"] == "h264" and 3 <= video["duration"] <= 3.5


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/raw.mp4", "moov atom is not at the front"),
        ("/vp9.webm", "container matroska,webm is not MOV/MP4"),
        ("/short.mp4", "s is out of range"),
    ],
)
def test_videos_outside_the_spec_end_in_error_2207026(sim, host, path, why):
    token = token_for(sim)
    container = create(
        sim, token, media_type="REELS", video_url=host.base + path
    ).json()["id"]
    assert status(sim, token, container)["status_code"] == "IN_PROGRESS"
    body = wait_done(sim, token, container)
    assert body == {
        "status_code": "ERROR",
        "status": "Error: Media upload has failed with error code 2207026",
        "id": container,
    }
    (record,) = sim.world.containers()
    assert why in record["video"]["problem"]
    resp = graph(sim, "POST", f"{IG_DEMO}/media_publish", token, creation_id=container)
    error = error_of(resp, 400, 352, 2207026)
    assert error["error_user_title"] == "Unsupported video format"


def test_stories_from_a_video_and_from_a_9_16_photo(sim, host):
    token = token_for(sim)
    video = create(
        sim, token, media_type="STORIES", video_url=host.base + "/ready.mp4",
        caption="ignored, as Meta does",
    ).json()["id"]  # fmt: skip
    photo = create(
        sim, token, media_type="STORIES", image_url=host.base + "/story.jpg"
    ).json()["id"]
    ids = []
    for container in (video, photo):
        assert wait_done(sim, token, container)["status_code"] == "FINISHED"
        resp = graph(
            sim, "POST", f"{IG_DEMO}/media_publish", token, creation_id=container
        )
        ids.append(resp.json()["id"])
    fields = "media_type,media_product_type,permalink,caption"
    kinds = [graph(sim, "GET", i, token, fields=fields).json() for i in ids]
    assert [(k["media_type"], k["media_product_type"]) for k in kinds] == [
        ("VIDEO", "STORY"), ("IMAGE", "STORY"),
    ]  # fmt: skip
    assert "caption" not in kinds[0]
    assert kinds[0]["permalink"].startswith(
        "https://www.instagram.com/stories/ospost.demo/"
    )
    stories = graph(sim, "GET", f"{IG_DEMO}/stories", token, fields="id").json()
    assert [item["id"] for item in stories["data"]] == ids[::-1]
    feed = graph(sim, "GET", f"{IG_DEMO}/media", token, fields="id").json()
    # Stories are not on the /media edge (only the account's existing posts are).
    assert not {item["id"] for item in feed["data"]} & set(ids)


@pytest.mark.parametrize(
    ("params", "code", "subcode"),
    [
        ({"media_type": "REELS"}, 100, None),
        ({"media_type": "STORIES"}, 100, None),
        ({"media_type": "REELS", "video_url": NOWHERE}, 9004, 2207052),
        ({**REEL, "collaborators": '["a","b","c","d"]'}, 100, None),
        ({**REEL, "thumb_offset": "soon"}, 100, None),
        ({**REEL, "share_to_feed": "maybe"}, 100, None),
        ({**REEL, "cover_url": "/cover.png"}, 36001, 2207005),
    ],
)
def test_bad_reel_and_story_requests_get_metas_errors(sim, host, params, code, subcode):
    token = token_for(sim)
    params = {
        name: host.base + value if value.startswith("/") else value
        for name, value in params.items()
    }
    error_of(create(sim, token, **params), 400, code, subcode)
    assert sim.world.containers() == []


def test_faults_can_target_reels_only(sim, host):
    token = token_for(sim)
    sim.world.add_fault(
        {"endpoint": "create", "media_type": "REELS"}, {"code": 2, "http": 500}
    )
    photo = create(sim, token, image_url=host.base + "/photo.jpg")
    assert photo.status_code == 200  # a feed photo is not a Reel: no fault
    reel = create(sim, token, media_type="REELS", video_url=host.base + "/ready.mp4")
    error_of(reel, 500, 2)
    again = create(sim, token, media_type="REELS", video_url=host.base + "/ready.mp4")
    container = again.json()["id"]
    sim.world.add_fault(
        {"endpoint": "status", "media_type": "REELS"},
        {"container_status": "ERROR", "status": "Error: Media upload has failed "
         "with error code 2207053"},
    )  # fmt: skip
    assert status(sim, token, container)["status"].endswith("2207053")


def test_processing_time_is_a_setting(sim, host):
    sim.world.configure(video_processing_seconds=0)
    token = token_for(sim)
    container = create(
        sim, token, media_type="REELS", video_url=host.base + "/ready.mp4"
    ).json()["id"]
    assert status(sim, token, container)["status_code"] == "FINISHED"
    assert sim.world.settings.as_dict()["video_processing_seconds"] == 0
