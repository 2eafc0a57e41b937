"""A Reel's video and the media store: on the local backend the upload and the
converted MP4 are moved from the work folder into ``uploads/`` (never written
twice), copied only across filesystems; and a conversion whose storage stays
down is given up after the engine's number of tries, failing the post with a
plain reason and telling the owner."""

from __future__ import annotations

import errno
import io
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from models import User
from models import db
from ospost.blobstore.local import LocalBlobs
from ospost.media import jobs
from ospost.media import workspace
from support import AuthActions
from support import local_input
from support import soon
from support import wait_for
from videoclips import make_clip

IG = "17841400000000001"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("store-clips")
    return make_clip(folder / "wide.mp4", size=(320, 180), seconds=3.2).read_bytes()


def upload(client, media: bytes, when=None):
    return client.post(
        "/post/add/reel",
        data={
            "date": local_input(when or soon(), "Europe/Paris"),
            "media": (io.BytesIO(media), "clip.mp4"),
        },
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )


def logged_in(app, world):
    client = app.test_client()
    AuthActions(client, world).login()
    with app.app_context():
        assert db.session.scalars(select(User.id)).one()
    return client


def video_row(app):
    from ospost.reel_models import PostVideo

    with app.app_context():
        video = db.session.scalars(select(PostVideo)).one()
        db.session.expunge(video)
        return video


def settled_video(app):
    def check():
        video = video_row(app)
        return video.status != "converting" and video

    return wait_for(check, timeout=60)


class Watch:
    """Records what the video jobs wrote in the work folder (inode numbers)
    and every file object the local backend copied chunk by chunk."""

    def __init__(self, monkeypatch) -> None:
        self.received: list[int] = []
        self.read_from: list[int] = []
        self.converted: list[int] = []
        self.copies: list[str] = []
        receive, prepare, put = workspace.receive, jobs.prepare_video, LocalBlobs.put

        def watched_receive(stream, folder, name):
            path = receive(stream, folder, name)
            self.received.append(path.stat().st_ino)
            return path

        def watched_prepare(src, dst, *args, **kwargs):
            self.read_from.append(Path(src).stat().st_ino)
            prepared = prepare(src, dst, *args, **kwargs)
            self.converted.append(prepared.path.stat().st_ino)
            return prepared

        def watched_put(blobs, key, data, *, public=False):
            if not isinstance(data, bytes | bytearray | memoryview):
                self.copies.append(key)
            return put(blobs, key, data, public=public)

        monkeypatch.setattr(workspace, "receive", watched_receive)
        monkeypatch.setattr(jobs, "prepare_video", watched_prepare)
        monkeypatch.setattr(LocalBlobs, "put", watched_put)


def test_the_upload_and_the_converted_video_are_moved_into_uploads_not_copied(
    make_app, world, clip, monkeypatch
):
    app = make_app()
    client = logged_in(app, world)
    watch = Watch(monkeypatch)
    resp = upload(client, clip)
    assert resp.status_code == 200, resp.get_json()
    video = settled_video(app)
    assert video.status == "ready", video.error
    # The conversion read the very file the request wrote in its work folder
    # (the stored upload is that inode), and the stored MP4 is the very file
    # the converter wrote: neither was written a second time.
    assert watch.read_from == watch.received and len(watch.received) == 1
    stored = Path(app.config["UPLOAD_FOLDER"], IG, video.filename)
    assert [stored.stat().st_ino] == watch.converted
    assert watch.copies == []
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert not list(Path(app.config["UPLOAD_FOLDER"]).rglob("*.part"))
    assert not list(Path(app.config["VIDEO_WORK_FOLDER"]).rglob("*.*"))


@pytest.fixture
def other_filesystem(tmp_path):
    """A folder on another filesystem than ``tmp_path`` (tmpfs /dev/shm)."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        pytest.skip("no writable /dev/shm")
    if shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("/dev/shm is on the same filesystem as the test folder")
    folder = Path(tempfile.mkdtemp(prefix="ospost-work-", dir=shm))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_work_folder_on_another_filesystem_copies_the_video_once(
    make_app, world, clip, monkeypatch, other_filesystem
):
    app = make_app(VIDEO_WORK_FOLDER=str(other_filesystem / "work"))
    client = logged_in(app, world)
    watch = Watch(monkeypatch)
    resp = upload(client, clip)
    assert resp.status_code == 200, resp.get_json()
    video = settled_video(app)
    assert video.status == "ready", video.error
    # EXDEV: each file is copied, once, through the backend's .part + rename.
    upload_key, mp4_key = watch.copies
    assert upload_key.startswith(f"uploads/{IG}/") and upload_key.endswith(".upload")
    assert mp4_key == f"uploads/{IG}/{video.filename}"
    stored = Path(app.config["UPLOAD_FOLDER"], IG, video.filename)
    assert stored.stat().st_ino not in watch.converted
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert not list(Path(app.config["UPLOAD_FOLDER"]).rglob("*.part"))
    assert not list((other_filesystem / "work").rglob("*.*"))


def test_put_file_falls_back_to_a_copy_across_filesystems(tmp_path, monkeypatch):
    blobs = LocalBlobs({"uploads": tmp_path / "uploads", "tmp": tmp_path / "tmp"})
    src = tmp_path / "work" / "a.mp4"
    src.parent.mkdir()
    src.write_bytes(b"video" * 1000)
    src.chmod(0o644)
    replaced = []
    real_replace = os.replace

    def cross_device(a, b, *args, **kwargs):
        if Path(a) == src:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        replaced.append(Path(b).name)  # the copy's own .part rename
        return real_replace(a, b, *args, **kwargs)

    monkeypatch.setattr(os, "replace", cross_device)
    blobs.put_file("uploads/acct/a.mp4", src)
    stored = tmp_path / "uploads" / "acct" / "a.mp4"
    assert stored.read_bytes() == b"video" * 1000
    assert replaced == ["a.mp4"] and not src.exists()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert list(stored.parent.iterdir()) == [stored]  # no .part left


def test_put_file_moves_on_one_filesystem_and_keeps_other_errors(tmp_path):
    blobs = LocalBlobs({"uploads": tmp_path / "uploads", "tmp": tmp_path / "tmp"})
    src = tmp_path / "a.upload"
    src.write_bytes(b"x" * 10)
    src.chmod(0o644)
    inode = src.stat().st_ino
    blobs.put_file("uploads/acct/a.upload", src)
    stored = tmp_path / "uploads" / "acct" / "a.upload"
    assert stored.stat().st_ino == inode and not src.exists()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    # A missing source is an error, not an empty file.
    with pytest.raises(FileNotFoundError):
        blobs.put_file("uploads/acct/b.upload", tmp_path / "gone")
    assert not (stored.parent / "b.upload").exists()


# -- a conversion whose media storage stays down ---------------------------------

GAVE_UP = (
    "Ospost's media storage kept failing ({tries} tries), so the video could "
    "not be kept. Upload the video again."
)


def back_to_converting(app, clip: bytes) -> int:
    """The post's video as a conversion left it by a crash: its upload in the
    store, no MP4 yet, nobody holding it. Returns the post's id."""
    from ospost.reel_models import PostVideo

    store = app.extensions["media_store"]
    source = "3" * 32 + ".upload"
    store.blobs.put(store.key(IG, source), clip)
    with app.app_context():
        video = db.session.scalars(select(PostVideo)).one()
        store.delete(IG, video.filename)
        video.source, video.filename, video.error = source, None, None
        video.status, video.job_owner, video.job_until = "converting", None, None
        db.session.commit()
        return video.post_id


def storage_down(app, monkeypatch, backend: str) -> None:
    """Take the media storage away: on S3 the endpoint stops answering (a
    closed port, connection refused); on the local disk writes fail with
    'No space left on device'."""
    store = app.extensions["media_store"]
    if backend == "s3":
        import socket

        from ospost.blobstore.s3 import S3Blobs

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        config = {
            **app.config,
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "S3_ATTEMPTS": 1,
            "S3_TIMEOUT": (0.5, 1),
        }
        monkeypatch.setattr(store, "blobs", S3Blobs.from_config(config))
        return

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(LocalBlobs, "put_file", full)
    monkeypatch.setattr(LocalBlobs, "put", full)


def failed_notices(app) -> list[dict]:
    from ospost.notify.models import NotificationEvent

    with app.app_context():
        rows = db.session.scalars(
            select(NotificationEvent).where(NotificationEvent.kind == "post.failed")
        ).all()
        return [row.payload for row in rows]


def post_row(app, post_id):
    from models import Post

    with app.app_context():
        post = db.session.get(Post, post_id)
        db.session.expunge(post)
        return post


@pytest.mark.storage
def test_a_conversion_whose_storage_stays_down_gives_up_and_fails_its_post(
    make_app, world, clip, monkeypatch, media_backend
):
    from datetime import UTC
    from datetime import datetime

    from ospost.reels import conversions

    app = make_app(PUBLISH_MAX_ATTEMPTS=3)
    client = logged_in(app, world)
    assert upload(client, clip).status_code == 200  # due in an hour
    assert settled_video(app).status == "ready"
    post_id = back_to_converting(app, clip)
    storage_down(app, monkeypatch, media_backend)

    for tries in (1, 2):
        started = datetime.now(UTC)
        conversions.run(post_id)
        finished = datetime.now(UTC)
        video = video_row(app)
        # Given back until a growing, jittered delay (the engine's backoff:
        # 0.2 s doubling, at most 1 s here, x0.5-1.5) has passed.
        assert (video.status, video.job_owner) == ("converting", None)
        assert video.storage_failures == tries
        assert started < video.job_until
        assert (video.job_until - finished).total_seconds() <= 1.5
        assert video.error == (
            "Ospost's media storage did not answer; converting again shortly "
            f"(try {tries + 1} of 3)."
        )
        status = client.get(f"/post/{post_id}/video").get_json()
        assert status["status"] == "converting" and status["error"] == video.error
        page = client.get(f"/post/{post_id}/edit").get_data(as_text=True)
        assert "media storage did not answer" in page
        assert post_row(app, post_id).status == "scheduled"
        # ``resume`` (every 30 s) starts it again once its time has come.
        wait_for(lambda: video_row(app).job_until < datetime.now(UTC), timeout=3)

    conversions.run(post_id)
    video = video_row(app)
    assert (video.status, video.error) == ("failed", GAVE_UP.format(tries=3))
    assert conversions.resume() == []  # never again
    # The post can never be published: it fails now, with the reason, and
    # its owner is told (the "post failed" notice), not in an hour.
    post = post_row(app, post_id)
    reason = "The video could not be converted: " + GAVE_UP.format(tries=3)
    assert (post.status, post.error_message) == ("failed", reason)
    assert post.next_attempt_at is None
    notices = failed_notices(app)
    assert [(n["post_id"], n["reason"]) for n in notices] == [(post_id, reason)]
    page = client.get(f"/post/{post_id}/edit").get_data(as_text=True)
    assert "Ospost&#39;s media storage kept failing (3 tries)" in page
    assert not list(Path(app.config["VIDEO_WORK_FOLDER"]).rglob("*.*"))
    monkeypatch.undo()  # the upload is still there for the sweep or a removal
    assert app.extensions["media_store"].exists(IG, video.source)
    assert [c for c in world.calls() if c["endpoint"] == "create"] == []


@pytest.mark.parametrize("held", [False, True], ids=["waiting", "held"])
def test_a_post_due_while_its_storage_fails_fails_with_that_reason(
    make_app, world, clip, monkeypatch, held
):
    from datetime import UTC
    from datetime import datetime
    from datetime import timedelta

    from sqlalchemy import update

    from models import Post
    from ospost.reels import conversions
    from ospost.scheduler import publisher
    from support import serve_app

    app = make_app(start_scheduler=True, PUBLISH_MAX_ATTEMPTS=1)
    client = logged_in(app, world)
    assert upload(client, clip).status_code == 200
    assert settled_video(app).status == "ready"
    post_id = back_to_converting(app, clip)
    with serve_app(app):
        with app.app_context():  # Post now: it waits for its video
            db.session.get(Post, post_id).retry(datetime.now(UTC))
            db.session.commit()
        publisher.wake(post_id)
        wait_for(
            lambda: (post_row(app, post_id).waiting_reason or "").startswith(
                "Waiting for the video"
            )
        )
        # The engine looks again every 0.2 s here (60 s by default), claiming
        # the post each time: put its next look an hour away, so that the
        # conversion meets the post waiting, not in one of those looks.
        later = datetime.now(UTC) + timedelta(hours=1)

        def parked():
            with app.app_context():
                db.session.execute(
                    update(Post)
                    .where(Post.id == post_id, Post.next_attempt_at < later)
                    .values(next_attempt_at=later)
                )
                db.session.commit()
            time.sleep(0.5)  # a look in progress would have saved by now
            post = post_row(app, post_id)
            return post.next_attempt_at > later - timedelta(seconds=1) and (
                post.lease_until is None or post.lease_until < datetime.now(UTC)
            )

        wait_for(parked)
        if held:
            # A publishing step holds the post at the moment the conversion
            # gives up: the conversion leaves the post to it.
            with app.app_context():
                db.session.execute(
                    update(Post)
                    .where(Post.id == post_id)
                    .values(
                        lease_owner="another-worker",
                        lease_until=datetime.now(UTC) + timedelta(minutes=5),
                    )
                )
                db.session.commit()
        storage_down(app, monkeypatch, "local")
        conversions.run(post_id)
        assert video_row(app).status == "failed"
        # Waiting: failed at once. Held: not touched (no error yet).
        assert (post_row(app, post_id).status == "failed") is not held
        if held:  # that step ends, booking its next look for now
            with app.app_context():
                db.session.execute(
                    update(Post)
                    .where(Post.id == post_id)
                    .values(
                        lease_owner=None,
                        lease_until=None,
                        next_attempt_at=datetime.now(UTC),
                    )
                )
                db.session.commit()
            publisher.wake(post_id)

        # Once that lease runs out, the engine finds the failed video and
        # fails the post with the same reason, instead of waiting forever.
        def done():
            post = post_row(app, post_id)
            return post.status == "failed" and post

        post = wait_for(done, timeout=15)
    reason = "The video could not be converted: " + GAVE_UP.format(tries=1)
    assert post.error_message == reason
    assert [n["reason"] for n in failed_notices(app)] == [reason]
    assert [c for c in world.calls() if c["endpoint"] == "create"] == []
