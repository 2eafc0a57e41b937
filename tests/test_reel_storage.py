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
