"""Reel and Story uploads through the production front (deploy/nginx.conf, real
nginx, real gunicorn): the video location takes a real upload larger than the
30 MB every other route allows, nginx refuses a body over the video limit in
the app's words before the app or its disk sees any of it, and the other
routes keep the small limit. The harness is tests/test_front.py's."""

from __future__ import annotations

import functools
import json
import re
import struct
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from test_front import Front

import simulator
from models import Post
from models import db
from ospost.reel_models import PostVideo
from support import local_input
from support import soon
from support import wait_for
from videoclips import make_clip

MB = 1024 * 1024
IG = "17841400000000001"  # the simulator's demo account
TZ = "Europe/Paris"


@pytest.fixture
def video_front(make_app, sim, tmp_path):
    """The front of test_front.py, with gunicorn logging in against the
    simulator and converting videos in this test's folders."""
    app = make_app()
    front = Front(app, tmp_path)
    front.gunicorn.env.update(
        {
            "FB_ENDPOINT": sim.graph_url,
            "OSPOST_VIDEO_WORK_FOLDER": app.config["VIDEO_WORK_FOLDER"],
            "OSPOST_RATELIMIT_ENABLED": "false",
            "OSPOST_APP_URL_CHECK": "false",
        }
    )
    try:
        front.gunicorn.start()
        front.nginx.start(front.http_port, front.https_port)
        yield app, front
    finally:
        front.nginx.stop()
        front.gunicorn.stop()


def login(front: Front, world) -> tuple[requests.Session, str]:
    """Log in through nginx as a browser does; the session and CSRF token."""
    browser = requests.Session()
    # Per request: a REQUESTS_CA_BUNDLE in the environment beats Session.verify.
    browser.request = functools.partial(browser.request, verify=str(front.cert))
    # Over HTTPS the CSRF check wants a Referer on the app's host, which the
    # app takes from nginx's $host: without the test's port (443 in real life).
    browser.headers["Referer"] = "https://127.0.0.1/post/add/reel"
    page = browser.get(front.url("/login"), timeout=10)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)[1]
    token = world.issue_token(simulator.DEMO_USERS["demo"])["accessToken"]
    resp = browser.post(
        front.url("/login"),
        json={"accessToken": token, "timezone": TZ},
        headers={"X-CSRFToken": csrf},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    page = browser.get(front.url("/post/add/reel"), timeout=10)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)[1]
    return browser, csrf


def padded_clip(folder: Path, megabytes: int) -> bytes:
    """A real phone-style MP4 grown past ``megabytes`` with a trailing 'free'
    box (MP4 padding every reader skips), so the body is big but valid."""
    clip = make_clip(folder / "clip.mp4", size=(320, 180), seconds=3.2).read_bytes()
    pad = megabytes * MB - len(clip) + 1024
    return clip + struct.pack(">I", pad) + b"free" + bytes(pad - 8)


def files_under(*folders) -> list[str]:
    return sorted(
        str(p) for folder in folders for p in Path(folder).rglob("*") if p.is_file()
    )


def test_a_reel_bigger_than_the_photo_limit_uploads_and_converts_through_nginx(
    video_front, world, tmp_path
):
    app, front = video_front
    browser, csrf = login(front, world)
    body = padded_clip(tmp_path, 35)  # over the 30 MB of every other route
    started = time.monotonic()
    resp = browser.post(
        front.url("/post/add/reel"),
        data={"date": local_input(soon(), TZ), "caption": "Through nginx"},
        files={"media": ("harbour.mp4", body, "video/mp4")},
        headers={"X-CSRFToken": csrf, "Accept": "application/json"},
        timeout=120,
    )
    took = time.monotonic() - started
    assert resp.status_code == 200, resp.text
    assert resp.json()["ok"] is True

    # gunicorn saw the whole request once, from nginx.
    # (gunicorn writes its access line after the answer: wait for it.)
    def methods_seen():
        seen = front.gunicorn.requests_seen()
        return [r[0].split()[0] for r in seen if "/post/add/reel " in r[0]]

    wait_for(lambda: len(methods_seen()) >= 2, timeout=10, describe=methods_seen)
    assert methods_seen() == ["GET", "POST"]

    def converted():
        with app.app_context():
            video = db.session.scalars(select(PostVideo)).one_or_none()
            return video is not None and video.status != "converting" and video

    video = wait_for(converted, timeout=90)
    assert video.status == "ready", video.error
    assert video.duration_ms > 3000
    assert abs(video.width / video.height - 9 / 16) < 0.01  # 320 x 568
    assert "Added black bars to make it 9:16." in video.changes
    with app.app_context():
        post = db.session.scalars(select(Post)).one()
        assert post.caption == "Through nginx" and post.post_type == "reel"
    # The converted MP4 is stored (the padding is gone), the upload is not.
    stored = Path(app.config["UPLOAD_FOLDER"]) / IG
    mp4 = stored / video.filename
    assert mp4.is_file() and mp4.stat().st_size < 10 * MB
    wait_for(lambda: not list(stored.glob("*.upload")))
    assert files_under(app.config["VIDEO_WORK_FOLDER"]) == []
    # nginx read the whole body into its temp folder before gunicorn saw it
    # (proxy_request_buffering), and removed it afterwards.
    log = (front.nginx.folder / "error.log").read_text()
    assert "a client request body is buffered to a temporary file" in log
    assert files_under(front.nginx.folder / "tmp") == []
    assert took < 60


def raw_post(front: Front, path: str, length: int, accept="application/json"):
    """Send only a POST's header announcing ``length`` bytes; nginx's answer."""
    with front.tls_socket() as sock:
        sock.sendall(
            b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Accept: %s\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n"
            b"Content-Length: %d\r\n\r\n" % (path.encode(), accept.encode(), length)
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.decode().partition("\r\n\r\n")
    return head.split("\r\n")[0], body


def test_a_video_over_the_limit_is_refused_by_nginx_and_nothing_is_saved(
    video_front, world
):
    app, front = video_front
    login(front, world)
    limit = app.config["VIDEO_MAX_UPLOAD_MB"]
    # The forms that take videos: Reels and Stories (new, draft, edit) and the
    # post forms (a carousel's video items: new, edit, drafts, queue).
    for path in (
        "/post/add/reel",
        "/post/add/story/draft",
        "/post/1/reel",
        "/post/add",
        "/post/1/edit",
        "/drafts",
        "/post/1/queue",
    ):
        status, body = raw_post(front, path, limit * MB + 1)
        assert status == "HTTP/1.1 413 Request Entity Too Large"
        # The app's words and shape (as for photos over 30 MB), not nginx's page.
        assert json.loads(body) == {
            "ok": False,
            "error": f"File is too large: the limit is {limit} MB.",
        }
    # Refused from the header: gunicorn never saw them, nothing was written.
    assert not any(
        r[0].startswith("POST /post/") for r in front.gunicorn.requests_seen()
    )
    with app.app_context():
        assert db.session.scalars(select(Post)).all() == []
    assert (
        files_under(
            app.config["UPLOAD_FOLDER"],
            app.config["VIDEO_WORK_FOLDER"],
            front.nginx.folder / "tmp",
        )
        == []
    )


def test_other_routes_keep_the_small_limit_beside_the_video_location(video_front):
    app, front = video_front
    small = app.config["MAX_CONTENT_LENGTH"] // MB
    # Every other form route, and addresses that only look like the video
    # location, get the 30 MB limit.
    for path in (
        "/bulk/upload",
        "/post/x/edit",
        "/post/1/editx",
        "/post/add/reel/x",
        "/post/1/reel/x",
        "/draftsx",
        "/post/add/reels",
        "/xpost/add/reel",
    ):
        status, body = raw_post(front, path, (small + 1) * MB)
        assert status == "HTTP/1.1 413 Request Entity Too Large", path
        assert json.loads(body)["error"] == (
            f"File is too large: the limit is {small} MB."
        ), path
    # The video location waits for a body of that size instead of refusing it.
    with front.tls_socket(timeout=2) as sock:
        sock.sendall(
            b"POST /post/add/reel HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Length: %d\r\n\r\n" % ((small + 1) * MB)
        )
        with pytest.raises(TimeoutError):
            sock.recv(65536)
