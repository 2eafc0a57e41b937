"""Media storage: both backends (the local folders, S3 through moto's server)
keep, stream, copy and remove files alike; the S3 settings are checked at
start-up; an unreachable endpoint fails fast with a clear error; the orphan
sweep removes only old files no row refers to."""

from __future__ import annotations

import io
import os
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import create_app
from models import Post
from models import PostStatus
from models import User
from models import db
from ospost import orphans
from ospost.blobstore import BlobError
from ospost.blobstore import BlobNotFound
from ospost.blobstore.s3 import S3Blobs
from support import AuthActions
from support import create_post
from support import staged_copies
from support import stored_files

IG = "17841400000000001"
pytestmark = pytest.mark.storage


def test_both_backends_keep_stream_copy_list_and_remove(app):
    blobs = app.extensions["media_store"].blobs
    blobs.put("uploads/1/a.jpg", b"first")
    # A file object is streamed in parts (17 MiB: S3 takes it as a multipart
    # upload), never read whole.
    big = os.urandom(1024) * (17 * 1024)
    blobs.put("uploads/1/big.mp4", io.BytesIO(big))
    assert blobs.read("uploads/1/a.jpg") == b"first"
    assert blobs.size("uploads/1/big.mp4") == len(big)
    with blobs.open("uploads/1/big.mp4") as stream:
        assert stream.read(4096) == big[:4096]
    blobs.copy("uploads/1/a.jpg", "tmp/" + "C" * 32 + ".jpg", public=True)
    listed = {b.key: b for b in blobs.list("uploads/")}
    assert set(listed) == {"uploads/1/a.jpg", "uploads/1/big.mp4"}
    assert listed["uploads/1/a.jpg"].size == 5
    age = datetime.now(UTC) - listed["uploads/1/a.jpg"].modified
    assert timedelta(0) <= age + timedelta(seconds=2) < timedelta(minutes=1)
    assert blobs.read("tmp/" + "C" * 32 + ".jpg") == b"first"

    blobs.delete("uploads/1/a.jpg", "uploads/1/never-was.jpg")
    assert blobs.size("uploads/1/a.jpg") is None
    with pytest.raises(BlobNotFound):
        blobs.read("uploads/1/a.jpg")
    with pytest.raises(FileNotFoundError):  # what callers already catch
        blobs.copy("uploads/1/a.jpg", "tmp/" + "D" * 32 + ".jpg")
    blobs.delete_prefix("uploads/1/")
    assert list(blobs.list("uploads/")) == []
    for bad in ("../etc/passwd", "uploads/../x", "/abs", "uploads//x"):
        with pytest.raises(ValueError):
            blobs.put(bad, b"x")


def test_an_owner_sees_their_upload_and_a_stranger_gets_404(app, client, user, auth):
    assert create_post(client).status_code == 200
    with app.app_context():
        post = db.session.scalars(select(Post)).one()
        name = post.filename
    store = app.extensions["media_store"]
    with client.get(f"/uploads/{name}") as resp:
        assert resp.status_code == 200
        assert resp.headers["Cache-Control"] == "private, no-store"
        assert int(resp.headers["Content-Length"]) == len(resp.data)
        assert resp.data == store.read(IG, name)
    store.delete(IG, name)  # gone from storage, the row still names it
    assert client.get(f"/uploads/{name}").status_code == 404


def test_the_sweep_removes_old_orphans_and_keeps_what_rows_use(app, client, user):
    assert create_post(client).status_code == 200
    store = app.extensions["media_store"]
    kept = stored_files(app, IG)
    store.blobs.put(f"uploads/{IG}/" + "f" * 32 + ".jpg", b"orphan upload")
    store.blobs.put(f"uploads/{IG}/feed/123-abcdef012345.jpg", b"orphan feed")
    store.blobs.put(f"uploads/{IG}/x.jpg.part", b"half a file")
    store.stage_bytes("S" * 32 + ".jpg", b"a copy nobody publishes")
    with app.app_context():
        post = db.session.scalars(select(Post)).one()
    staged_name = store.stage(IG, post.filename, "P" * 32 + ".jpg")

    # Fresh files are safe: their row may still be on its way.
    assert orphans.sweep(app) == 0
    assert len(stored_files(app, IG)) == 5

    # A day later (the sweep's horizon moved instead of the clock), only the
    # post's own files and the copy of a post being published stay.
    with app.app_context():
        db.session.get(Post, post.id).status = PostStatus.PUBLISHING
        db.session.get(Post, post.id).staged_name = staged_name
        db.session.commit()
    app.config["MEDIA_ORPHAN_HOURS"] = 0
    time.sleep(1.1)  # S3 keeps whole seconds
    assert orphans.sweep(app) == 4
    assert stored_files(app, IG) == kept
    assert staged_copies(app) == ["tmp/" + staged_name]


def test_the_sweep_is_a_periodic_job_of_every_process(scheduled_app):
    from ospost.scheduler import publisher

    job = publisher.scheduler.get_job("media-sweep")
    assert job is not None
    assert job.trigger.interval == timedelta(hours=6)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"S3_BUCKET": "b"}, "S3_REGION"),
        ({"S3_REGION": "eu-west-1", "S3_ACCESS_KEY_ID": "k"}, "S3_BUCKET is empty"),
        (
            {"S3_BUCKET": "b", "S3_REGION": "eu-west-1", "S3_ACCESS_KEY_ID": "k"},
            "go together",
        ),
        ({"S3_BUCKET": "b", "S3_ENDPOINT_URL": "minio:9000"}, "https://"),
        (
            {"S3_BUCKET": "b", "S3_REGION": "x", "S3_PRESIGN_SECONDS": 10},
            "S3_PRESIGN_SECONDS",
        ),
    ],
)
def test_half_configured_s3_refuses_to_start(tmp_path, settings, problem):
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
        "SCHEDULER_ENABLED": False,
        **settings,
    }
    with pytest.raises(RuntimeError, match="half-configured") as caught:
        create_app(config)
    assert problem in str(caught.value)


def test_production_with_full_s3_settings_starts(tmp_path, monkeypatch, s3_server):
    """The whole configuration from the environment, as a deployment sets it."""
    settings = s3_server.new_bucket_settings()
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
            "SCHEDULER_ENABLED": False,
        }
    )
    store = app.extensions["media_store"]
    assert store.blobs.kind == "s3" and store.blobs.bucket == settings["S3_BUCKET"]
    assert store.blobs.prefix == "media/"


def test_an_unreachable_endpoint_fails_fast_with_a_storage_error():
    closed = S3Blobs.from_config(
        {
            "S3_BUCKET": "b",
            "S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "S3_REGION": "eu-west-1",
            "S3_ACCESS_KEY_ID": "k",
            "S3_SECRET_ACCESS_KEY": "s",
            "S3_TIMEOUT": (0.5, 0.5),
            "S3_ATTEMPTS": 2,
        }
    )
    started = time.monotonic()
    with pytest.raises(BlobError, match="S3 unreachable"):
        closed.put("uploads/1/a.jpg", b"x")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("media_backend", ["s3"], indirect=True)
@pytest.mark.parametrize("action", ["/post/add", "/drafts", "/post/queue"])
def test_an_upload_while_storage_is_down_gets_503_and_saves_nothing(
    make_app, world, action
):
    """Schedule, Save draft and Add to queue all answer a storage outage alike."""
    app = make_app(S3_ENDPOINT_URL="http://127.0.0.1:9", S3_TIMEOUT=(0.5, 0.5))
    client = app.test_client()
    assert AuthActions(client, world).login().status_code == 200
    resp = create_post(client, action=action)
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["ok"] is False and "could not store your images" in body["error"]
    with app.app_context():
        assert db.session.scalars(select(Post)).all() == []
        assert db.session.scalars(select(User)).one()  # logged in, nothing else
    # The sweep gives up for this round; deleting the account still works
    # (its files, if any, are left to a later sweep).
    assert orphans.sweep(app) == 0
    assert client.post("/account/delete").status_code == 302
    with app.app_context():
        assert db.session.scalars(select(User)).all() == []


@pytest.mark.parametrize("media_backend", ["s3"], indirect=True)
def test_with_s3_meta_is_checked_against_the_bucket_not_app_url(app):
    from ospost.reachability import EXPECTED
    from ospost.reachability import OK
    from ospost.reachability import Reachability
    from ospost.reachability import probe

    # APP_URL is nowhere to be reached: only browsers need it with a bucket.
    result = probe("http://127.0.0.1:9", app.extensions["media_store"], timeout=2)
    assert result.finding.level == OK, result.finding.message
    assert result.url.startswith(app.config["S3_ENDPOINT_URL"])
    assert "X-Amz-Signature=" in result.url
    assert staged_copies(app) == []  # the probe file is gone again
    address = Reachability(app).quick_findings()[0]
    assert address.level == EXPECTED
    assert address.message.startswith("S3_ENDPOINT_URL points at 127.0.0.1")


@pytest.mark.parametrize("media_backend", ["s3"], indirect=True)
def test_a_presigned_link_serves_the_copy_with_its_type_and_a_lifetime(app):
    import requests

    blobs = app.extensions["media_store"].blobs
    blobs.put("tmp/" + "V" * 32 + ".mp4", io.BytesIO(b"\x00\x00\x00\x18ftypmp42"))
    blobs.put("tmp/" + "J" * 32 + ".jpg", b"\xff\xd8 a jpeg")
    video = requests.get(blobs.presigned_url("tmp/" + "V" * 32 + ".mp4", 60), timeout=5)
    assert video.status_code == 200 and video.headers["Content-Type"] == "video/mp4"
    link = app.extensions["media_store"].crawler_url("J" * 32 + ".jpg", "unused")
    assert "X-Amz-Expires=3600&" in link  # OSPOST_S3_PRESIGN_SECONDS
    assert link.startswith(app.config["S3_ENDPOINT_URL"] + "/ospost-")
    image = requests.get(link, timeout=5)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/jpeg"
    assert image.content == b"\xff\xd8 a jpeg"
    # Without the signature the private bucket says no. (moto does not
    # enforce the expiry; S3 and MinIO answer 403 once it passed.)
    assert requests.get(link.split("?")[0], timeout=5).status_code == 403
