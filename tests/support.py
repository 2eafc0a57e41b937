"""Helpers the tests share: logging in through the real login route, building
images, typing local times, creating posts as the pages do, and starting
gunicorn on a test's database.

Fixtures live in ``conftest.py``; plain functions and classes live here so tests
import them by name instead of from ``conftest``.
"""

from __future__ import annotations

import io
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from PIL import Image
from sqlalchemy import select
from werkzeug.serving import make_server

import simulator
from models import Post
from models import db

ROOT = Path(__file__).resolve().parent.parent
# Token key shared by in-process apps and the gunicorn workers they start.
KEY = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="


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


def create_post(
    client,
    *,
    when=None,
    tz="Europe/Paris",
    caption="hello",
    action="/post/add",
    **extra,
):
    """Create a post through the add route (or another of the New post page's
    buttons: ``action``), as the page's fetch() does."""
    data = {
        "caption": caption,
        "alt_text": extra.pop("alt_text", ""),
        "date": local_input(when or soon(), tz),
        "image": (io.BytesIO(extra.pop("image", image_bytes())), "photo.jpg"),
    }
    data.update(extra)
    return client.post(
        action,
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


COLOURS = ((200, 30, 30), (30, 160, 30), (30, 60, 200), (220, 200, 40), (120, 40, 160))


def seed_post(
    app,
    user_id: int,
    *,
    images: int | list[bytes] = 1,
    when: datetime | None = None,
    caption: str = "hello",
    tags: list[list[dict]] | None = None,
    **fields,
) -> int:
    """Store a post with ``images`` (a count: coloured 1080x1080 squares) the
    way the routes do, straight into the database; returns its id.

    ``tags``: the people tags of each image; ``fields``: more Post columns
    (collaborators, first_comment...).
    """
    from models import PostMedia
    from models import User

    if isinstance(images, int):
        images = [
            image_bytes(1080, 1080, color=COLOURS[i % len(COLOURS)])
            for i in range(images)
        ]
    store = app.extensions["media_store"]
    with app.app_context():
        user = db.session.get(User, user_id)
        items = []
        for i, jpeg in enumerate(images):
            filename, thumb = store.save(user.ig_account_id, jpeg, jpeg)
            items.append(
                PostMedia(
                    filename=filename,
                    thumbnail=thumb,
                    width=1080,
                    height=1080,
                    alt_text=f"Image {i + 1}",
                    user_tags=(tags[i] if tags else []),
                )
            )
        post = Post(user=user, caption=caption)
        post.set_media(items)
        post.collaborators = fields.pop("collaborators", [])
        post.set_first_comment(fields.pop("first_comment", ""))
        for key, value in fields.items():
            setattr(post, key, value)
        post.schedule(when or soon(60))
        db.session.add(post)
        db.session.commit()
        return post.id


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A gunicorn master with N workers, each running its own scheduler."""

    def __init__(
        self,
        app,
        sim,
        workers: int,
        port: int | None = None,
        env: dict | None = None,
        cwd: Path = ROOT,
    ):
        """``cwd``: the working directory (another "host"'s own folder)."""
        self.port = port or free_port()
        cfg = app.config
        env = {
            **os.environ,
            "SECRET_KEY": "processes-test-secret-key-0123456789",
            "FB_APP_ID": simulator.DEFAULT_APP_ID,
            "FB_APP_SECRET": simulator.DEFAULT_APP_SECRET,
            "FB_ENDPOINT": sim.graph_url,
            "APP_URL": f"http://127.0.0.1:{self.port}",
            "DATABASE_URL": cfg["SQLALCHEMY_DATABASE_URI"],
            "TOKEN_ENCRYPTION_KEYS": KEY,
            "OSPOST_UPLOAD_FOLDER": cfg["UPLOAD_FOLDER"],
            "OSPOST_STAGING_FOLDER": cfg["STAGING_FOLDER"],
            "OSPOST_PUBLISH_LEASE_SECONDS": "5",
            "OSPOST_PUBLISH_SWEEP_SECONDS": "0.5",
            "OSPOST_PUBLISH_FIRST_CHECK_SECONDS": "0.3",
            "OSPOST_PUBLISH_CHECK_INTERVAL_SECONDS": "0.3",
            "OSPOST_PUBLISH_VIDEO_CHECK_SECONDS": "0.2",
            "OSPOST_GRAPH_TIMEOUT": "[1, 2]",
            **(env or {}),
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "--pythonpath",
                str(ROOT),
                "app:create_app()",
            ],
            cwd=cwd,
            env=env,
            start_new_session=True,  # so a crash can take the whole group down
        )
        wait_for(self._up, timeout=20)

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def crash(self) -> None:
        """SIGKILL the master and every worker at once, like a power cut."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            # A loaded machine may take longer; never leave it running (nor
            # its Popen unreaped: a ResourceWarning fails the next test).
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def kill_worker_mid_call(cluster: Cluster, world, endpoint: str) -> None:
    """SIGKILL the cluster's one worker while its call to ``endpoint`` is
    under way at the simulator (the fault keeps it answering for seconds)."""
    wait_for(lambda: endpoint in world.in_flight(), timeout=20)
    time.sleep(0.3)  # the call has reached the simulator; kill now
    (worker,) = cluster.workers()
    os.kill(worker, signal.SIGKILL)


class S3Endpoint:
    """A real S3 HTTP endpoint for the tests: moto's threaded server on a free
    port, standing in for AWS S3 or MinIO at the network boundary, as the
    simulator stands in for Meta."""

    ACCESS_KEY, SECRET_KEY, REGION = "ospost-test", "ospost-test-secret", "eu-west-1"

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._numbers = itertools.count(1)
        self.url = ""

    def start(self) -> S3Endpoint:
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self.server.stop()

    def client(self):
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            region_name=self.REGION,
            aws_access_key_id=self.ACCESS_KEY,
            aws_secret_access_key=self.SECRET_KEY,
        )

    def new_bucket_settings(self, **extra) -> dict:
        """Create an empty bucket; the app settings that use it."""
        bucket = f"ospost-{os.getpid()}-{next(self._numbers)}"
        self.client().create_bucket(
            Bucket=bucket,
            CreateBucketConfiguration={"LocationConstraint": self.REGION},
        )
        return {
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": self.url,
            "S3_REGION": self.REGION,
            "S3_ACCESS_KEY_ID": self.ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": self.SECRET_KEY,
            "S3_PREFIX": "media",
            **extra,
        }


def staged_copies(app) -> list[str]:
    """The public copies staged for Meta's crawler, whichever the backend."""
    return sorted(b.key for b in app.extensions["media_store"].blobs.list("tmp/"))


def stored_files(app, ig_account_id: str) -> list[str]:
    """The names of an account's stored files, whichever the backend."""
    return app.extensions["media_store"].names(ig_account_id)


# -- Reels and Stories ---------------------------------------------------------


def reel_form(
    media: bytes | None = None,
    name: str = "clip.mp4",
    *,
    when: datetime | None = None,
    tz: str = "Europe/Paris",
    cover: bytes | None = None,
    **fields,
) -> dict:
    """The Reel/Story composer's fields as the page sends them: the time
    typed in ``tz`` (a ``date`` field overrides it, "" for none), the file
    as ``media`` and an uploaded ``cover`` image, plus any other field."""
    data = {"date": local_input(when or soon(), tz), **fields}
    if media is not None:
        data["media"] = (io.BytesIO(media), name)
    if cover is not None:
        data["cover"] = (io.BytesIO(cover), "cover.jpg")
    return data


def send_form(client, url: str, data: dict):
    """POST a multipart form as the composer's fetch() does (JSON answers)."""
    return client.post(
        url,
        data=data,
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )


def video_status(app, post_id: int) -> str:
    """Wait for the post's video conversion to end: "ready" or "failed"."""
    from ospost.reel_models import PostVideo

    def check():
        with app.app_context():
            video = db.session.scalars(
                select(PostVideo).where(PostVideo.post_id == post_id)
            ).one()
            return video.status != "converting" and video.status

    return wait_for(check, timeout=60)


def publish_now(app, post_id: int) -> None:
    """As "Post now": due at once, and the publisher woken."""
    from ospost.scheduler import publisher

    with app.app_context():
        db.session.get(Post, post_id).retry(datetime.now(UTC))
        db.session.commit()
    publisher.wake(post_id)


def settled(app, post_id: int, timeout: float = 30) -> Post:
    """Wait until the post is published or failed; returns it detached."""
    from models import PostStatus

    def check():
        with app.app_context():
            post = db.session.get(Post, post_id)
            if post.status in (PostStatus.PUBLISHED, PostStatus.FAILED):
                post.media, post.video  # noqa: B018  (load before detaching)
                db.session.expunge_all()
                return post
            return None

    return wait_for(check, timeout=timeout)
