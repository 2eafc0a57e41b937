"""Where media bytes live: a local folder or S3-compatible object storage.

Both backends keep *blobs* under string keys such as
``uploads/<ig_account_id>/<name>.jpg`` or ``tmp/<staged name>.jpg`` and offer
the same few operations, so uploads, thumbnails, staged copies (and videos
later) are written, read and removed the same way whichever is configured.
``MediaStore`` (``ospost/storage.py``) names the keys; the backends only move
bytes. Big files are streamed (``put`` takes a file object, ``open`` returns
one), never read whole.

Every failure is an ``OSError`` (``BlobError``; ``BlobNotFound`` is also a
``FileNotFoundError``), so callers handle a lost network the way they already
handle a full disk.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from typing import Protocol

log = logging.getLogger(__name__)

# The settings of the S3 backend, as read from the environment (.env).
S3_SETTINGS = (
    "S3_BUCKET",
    "S3_ENDPOINT_URL",
    "S3_REGION",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "S3_PREFIX",
)


class BlobError(OSError):
    """The storage could not do what was asked (network, permissions, bucket)."""


class BlobNotFound(BlobError, FileNotFoundError):
    """No blob has that key."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """One stored blob: its key, size in bytes and last change (aware UTC)."""

    key: str
    size: int
    modified: datetime


class BlobStore(Protocol):
    """What both backends do. Keys are ``/``-separated, relative, without
    ``..``; ``public`` marks a blob Meta's crawler will fetch."""

    kind: str  # "local" or "s3"

    def put(self, key: str, data: bytes | BinaryIO, *, public: bool = False) -> None:
        """Store ``data`` (bytes, or a file object streamed in chunks) as
        ``key``, replacing any blob there; readers never see half of it."""

    def put_file(self, key: str, path: Path, *, public: bool = False) -> None:
        """Store the finished local file ``path`` as ``key``: moved into place
        on the local backend when it can be (``path`` is gone then), streamed
        on S3."""

    def open(self, key: str) -> BinaryIO:
        """A file object reading the blob (stream it; close it)."""

    def read(self, key: str) -> bytes:
        """The whole blob (small files only: images, thumbnails)."""

    def size(self, key: str) -> int | None:
        """The blob's size in bytes, or None when there is none."""

    def copy(self, source: str, target: str, *, public: bool = False) -> None:
        """Copy one blob to another key (on S3, without downloading it)."""

    def delete(self, *keys: str) -> None:
        """Remove blobs; missing ones are fine."""

    def delete_prefix(self, prefix: str) -> None:
        """Remove every blob whose key starts with ``prefix`` (``a/b/``)."""

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        """Every blob under ``prefix``, in no particular order."""

    def presigned_url(self, key: str, seconds: int) -> str | None:
        """A URL anyone may GET the blob from for ``seconds``; None for the
        local folder (the app serves those itself)."""

    def local_path(self, key: str) -> Path | None:
        """The blob's file for a local folder; None on S3."""


def content_type(key: str) -> str:
    """The media type of a blob, from its name (``.jpg``, ``.mp4`` ...)."""
    guessed, _ = mimetypes.guess_type(key.removesuffix(".part"))
    return guessed or "application/octet-stream"


def check_key(key: str) -> str:
    """``key`` if it is a safe relative key; ValueError otherwise."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad storage key {key!r}")
    return key


def s3_problems(config) -> list[str]:
    """What is missing or inconsistent in the S3 settings (empty: fine, or
    S3 not asked for at all)."""
    given = {name for name in S3_SETTINGS if config.get(name)}
    if not given:
        return []
    problems = []
    if "S3_BUCKET" not in given:
        problems.append("S3_BUCKET is empty although other S3_ settings are set")
    keys = {"S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"} & given
    if len(keys) == 1:
        problems.append(
            "S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together (or leave both "
            "empty to use the machine's role)"
        )
    if not {"S3_REGION", "S3_ENDPOINT_URL"} & given:
        problems.append("set S3_REGION (AWS) or S3_ENDPOINT_URL (MinIO, R2, B2 ...)")
    endpoint = config.get("S3_ENDPOINT_URL") or ""
    if endpoint and not endpoint.startswith(("http://", "https://")):
        problems.append(f"S3_ENDPOINT_URL must start with https:// ({endpoint!r})")
    seconds = config.get("S3_PRESIGN_SECONDS")
    if not isinstance(seconds, int) or not 60 <= seconds <= 7 * 86400:
        problems.append("S3_PRESIGN_SECONDS must be from 60 to 604800 (7 days)")
    return problems


def from_config(config) -> BlobStore:
    """The backend the settings ask for: S3 when ``S3_BUCKET`` is set, the
    local folders otherwise. Refuses half-configured S3 settings."""
    from ospost.blobstore.local import LocalBlobs

    problems = s3_problems(config)
    if problems:
        raise RuntimeError(
            "S3 media storage is half-configured: " + "; ".join(problems)
        )
    if config.get("S3_BUCKET"):
        from ospost.blobstore.s3 import S3Blobs

        return S3Blobs.from_config(config)
    return LocalBlobs(
        {"uploads": config["UPLOAD_FOLDER"], "tmp": config["STAGING_FOLDER"]}
    )
