"""Local working files for the video jobs, whichever backend keeps the media.

PyAV needs seekable files on this host, while the media may live in an S3
bucket shared by several hosts. So the upload request and the background
conversion work in a private folder of their own under ``VIDEO_WORK_FOLDER``
(one per job, removed when the job ends, however it ends), and what they
make is put into the media store (``ospost.storage``): moved into
``uploads/`` on the local backend (copied only when the two folders are on
different filesystems), streamed on S3 in parts, never whole in memory. A
conversion on another host first fetches the upload from the store into its
folder; with the local backend it reads the stored file in place.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from ospost.blobstore import BlobNotFound
from ospost.blobstore.local import PRIVATE_FILE
from ospost.storage import MediaStore
from ospost.storage import private_dir

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
PREFIX = "job-"


@contextmanager
def workspace() -> Iterator[Path]:
    """A new private folder for one upload or conversion, removed with all
    its files afterwards, on success or failure."""
    root = Path(current_app.config["VIDEO_WORK_FOLDER"])
    private_dir(root)
    folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))  # 0700
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def receive(stream: BinaryIO, folder: Path, name: str) -> Path:
    """Write an uploaded file into ``folder`` as ``name``, chunk by chunk."""
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with open(fd, "wb") as out:
        shutil.copyfileobj(stream, out, CHUNK)
    return path


def fetch(store: MediaStore, ig_account_id: str, name: str, folder: Path) -> Path:
    """A local file with one of a user's stored files: the stored file itself
    on the local backend, a copy in ``folder`` on S3. BlobNotFound when it
    is gone, another OSError when the storage can't be read."""
    key = store.key(ig_account_id, name)
    local = store.blobs.local_path(key)
    if local is not None:
        if not local.is_file():
            raise BlobNotFound(key)
        return local
    target = folder / name
    body = store.blobs.open(key)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        with open(fd, "wb") as out:
            shutil.copyfileobj(body, out, CHUNK)
    finally:
        body.close()
    return target


def keep(store: MediaStore, ig_account_id: str, name: str, path: Path) -> None:
    """Put a finished local file into the user's stored files as ``name``:
    on the local backend it is moved there (renamed, not written again, when
    the work folder and the uploads share a filesystem), on S3 streamed in
    parts above 16 MiB. ``path`` may be gone afterwards."""
    store.blobs.put_file(store.key(ig_account_id, name), path)


def sweep_leftovers(root: str | Path, older_than_seconds: float) -> int:
    """Remove job folders a killed process left behind (a finished job always
    removes its own); returns how many went."""
    root = Path(root)
    if not root.is_dir():
        return 0
    cutoff = time.time() - older_than_seconds
    removed = 0
    for folder in root.glob(PREFIX + "*"):
        try:
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        except FileNotFoundError:
            continue
    if removed:
        log.info("removed %d video work folders left by stopped processes", removed)
    return removed
