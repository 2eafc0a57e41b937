"""Helpers the tests share: logging in through the real login route, building
images, typing local times and creating posts as the pages do.

Fixtures live in ``conftest.py``; plain functions and classes live here so tests
import them by name instead of from ``conftest``.
"""

from __future__ import annotations

import io
import threading
import time
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from PIL import Image
from werkzeug.serving import make_server

import simulator
from models import Post
from models import db


class AuthActions:
    """Log in and out through the real /login route with simulator tokens."""

    def __init__(self, client, world):
        self.client = client
        self.world = world

    def token(self, name: str = "demo", **kwargs) -> str:
        return self.world.issue_token(simulator.DEMO_USERS[name], **kwargs)[
            "accessToken"
        ]

    def login(self, name: str = "demo", *, tz: str = "Europe/Paris", **body):
        payload = {"accessToken": self.token(name), "timezone": tz, **body}
        return self.client.post("/login", json=payload)

    def logout(self):
        return self.client.post("/logout")


def image_bytes(width=1080, height=1350, fmt="JPEG", color=(200, 80, 40), **save):
    """A solid image of the given size and format."""
    buf = io.BytesIO()
    mode = "RGBA" if fmt == "PNG" and save.pop("alpha", False) else "RGB"
    Image.new(mode, (width, height), color).save(buf, fmt, **save)
    return buf.getvalue()


def local_input(when: datetime, tz: str) -> str:
    """The datetime-local value a person in ``tz`` would type for ``when``."""
    from zoneinfo import ZoneInfo

    return when.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M")


def soon(minutes: int = 60) -> datetime:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).replace(
        second=0, microsecond=0
    )


def create_post(client, *, when=None, tz="Europe/Paris", caption="hello", **extra):
    """Create a post through the add route, as the page's fetch() does."""
    data = {
        "caption": caption,
        "alt_text": extra.pop("alt_text", ""),
        "date": local_input(when or soon(), tz),
        "image": (io.BytesIO(extra.pop("image", image_bytes())), "photo.jpg"),
    }
    data.update(extra)
    return client.post(
        "/post/add",
        data=data,
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )


def wait_for(predicate, timeout=10.0, interval=0.05, describe=None):
    """Poll ``predicate`` until it returns something truthy, or fail.

    ``describe`` adds the state seen at the deadline to the failure message.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    seen = f": {describe()}" if describe else ""
    raise AssertionError(f"condition not met within {timeout}s{seen}")


def post_row(app, post_id: int) -> Post | None:
    with app.app_context():
        post = db.session.get(Post, post_id)
        if post is not None:
            db.session.expunge(post)
        return post


@contextmanager
def serve_app(app):
    """Serve ``app`` over HTTP (as APP_URL) so Meta's crawler can fetch from it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app.config["APP_URL"] = f"http://127.0.0.1:{server.server_port}"
    try:
        yield app.config["APP_URL"]
    finally:
        server.shutdown()
