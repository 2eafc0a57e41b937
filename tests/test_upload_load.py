"""Many people uploading at once, on real servers: a threaded werkzeug server (what
`make run` uses) and gunicorn with two workers.

Every response must tell the truth: a 200 means the post and both of its files
are saved, anything else (only a 503 "busy, retry" is expected) means nothing
was saved and no file was left behind. No 500, ever, and anonymous pages keep
answering during the burst.
"""

from __future__ import annotations

import collections
import contextlib
import io
import logging
import os
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from PIL import Image
from PIL import ImageChops
from sqlalchemy import select
from werkzeug.serving import make_server

from models import Post
from models import User
from models import db
from support import KEY
from support import Cluster
from support import local_input
from support import soon

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

UPLOADS = int(os.environ.get("OSPOST_UPLOAD_BURST", "24"))
ANONYMOUS = 4
TZ = "Europe/Paris"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass(frozen=True)
class Outcome:
    caption: str
    status: int
    body: dict | None
    retry_after: str | None


@pytest.fixture(scope="module")
def camera_jpeg() -> bytes:
    """A 12 MP camera-like JPEG (smooth colour plus grain, about 4.5 MB)."""
    size = (4000, 3000)

    def channel() -> Image.Image:
        low = Image.effect_noise((size[0] // 16, size[1] // 16), 80)
        return low.resize(size, Image.Resampling.BICUBIC)

    grain = Image.effect_noise(size, 6)
    photo = ImageChops.add(
        Image.merge("RGB", (channel(), channel(), channel())),
        Image.merge("RGB", (grain, grain, grain)),
        offset=-128,
    )
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def http_login(base_url: str, world) -> tuple[requests.Session, str]:
    """Log the demo user in over HTTP; returns the browser session and CSRF token."""
    from simulator import DEMO_USERS

    browser = requests.Session()
    page = browser.get(f"{base_url}/login", timeout=30)
    token = world.issue_token(DEMO_USERS["demo"])["accessToken"]
    resp = browser.post(
        f"{base_url}/login",
        json={"accessToken": token, "timezone": TZ},
        headers={"X-CSRFToken": _CSRF.search(page.text).group(1)},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    # Logging in starts a new session, so read the form's token afterwards.
    page = browser.get(f"{base_url}/post/add", timeout=30)
    return browser, _CSRF.search(page.text).group(1)


def burst(base_url: str, browser, csrf: str, image: bytes):
    """UPLOADS parallel POST /post/add, with anonymous GET /login among them."""
    cookies = browser.cookies.get_dict()
    start = threading.Barrier(UPLOADS + ANONYMOUS)
    date = local_input(soon(120), TZ)

    def upload(i: int) -> Outcome:
        caption = f"burst {i}"
        start.wait()
        resp = requests.post(
            f"{base_url}/post/add",
            data={"caption": caption, "alt_text": "", "date": date},
            files={"image": ("photo.jpg", image, "image/jpeg")},
            headers={"Accept": "application/json", "X-CSRFToken": csrf},
            cookies=cookies,
            timeout=120,
        )
        is_json = resp.headers.get("Content-Type", "").startswith("application/json")
        return Outcome(
            caption,
            resp.status_code,
            resp.json() if is_json else None,
            resp.headers.get("Retry-After"),
        )

    def anonymous(i: int) -> int:
        start.wait()
        # Land in the middle of the burst, while images are being processed.
        threading.Event().wait(0.3 + 0.4 * i)
        return requests.get(f"{base_url}/login", timeout=120).status_code

    with ThreadPoolExecutor(UPLOADS + ANONYMOUS) as pool:
        uploads = [pool.submit(upload, i) for i in range(UPLOADS)]
        pages = [pool.submit(anonymous, i) for i in range(ANONYMOUS)]
        return [f.result() for f in uploads], [f.result() for f in pages]


def assert_truthful(app, outcomes: list[Outcome], pages: list[int]) -> None:
    """0 x 500; each 200 is a saved post with its files; nothing else left a trace."""
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        posts = db.session.scalars(select(Post)).all()
        files_of_posts = {name for p in posts for name in (p.filename, p.thumbnail)}
        folder = app.extensions["media_store"].user_dir(user.ig_account_id)
        captions = [p.caption for p in posts]
    answered_ok = sorted(o.caption for o in outcomes if o.status == 200)
    assert sorted(captions) == answered_ok
    # No orphan, no half-written (.part) file, and no post without its files.
    # (The feed/ folder holds the live profile's thumbnails, not uploads.)
    assert {p.name for p in folder.iterdir() if p.is_file()} == files_of_posts
    statuses = collections.Counter(o.status for o in outcomes)
    log.info("upload statuses: %s", dict(statuses))
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] > 0, statuses
    for outcome in outcomes:
        if outcome.status == 503:
            assert outcome.retry_after and int(outcome.retry_after) > 0
            assert outcome.body["ok"] is False and outcome.body["error"], outcome
        else:
            assert outcome.body == {"ok": True, "redirect": "/"}, outcome
    assert pages == [200] * ANONYMOUS


@contextlib.contextmanager
def threaded_server(app) -> Iterator[str]:
    """Serve `app` like `make run` does: werkzeug, one thread per request."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    "budget",
    [
        {},  # the defaults: one decoding worker per core, 256 MB, 5 s of patience
        # One worker and little patience: many uploads are turned away with a
        # 503, and those must leave nothing behind.
        {"IMAGE_WORKERS": 1, "IMAGE_WAIT_SECONDS": 0.3},
    ],
    ids=["default-budget", "tight-budget"],
)
def test_parallel_uploads_on_a_threaded_server(make_app, world, camera_jpeg, budget):
    app = make_app(**budget)
    with threaded_server(app) as url:
        browser, csrf = http_login(url, world)
        outcomes, pages = burst(url, browser, csrf, camera_jpeg)
    assert_truthful(app, outcomes, pages)
    if budget:
        assert any(o.status == 503 for o in outcomes)


def test_parallel_uploads_on_gunicorn(make_app, sim, world, camera_jpeg):
    app = make_app(TOKEN_ENCRYPTION_KEYS=[KEY])
    cluster = Cluster(app, sim, workers=2)
    url = f"http://127.0.0.1:{cluster.port}"
    try:
        browser, csrf = http_login(url, world)
        outcomes, pages = burst(url, browser, csrf, camera_jpeg)
    finally:
        cluster.stop()
    assert_truthful(app, outcomes, pages)
