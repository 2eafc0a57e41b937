"""Where post images live, and how Meta's crawler fetches them.

Uploads sit under ``uploads/<ig_account_id>/`` with random names and are served
only to their owner; so do the thumbnails of the account's Instagram feed
(``uploads/<ig_account_id>/feed/``), since Meta's own picture URLs expire. For
publishing, a copy is staged under ``tmp/`` with an unguessable name, because
Meta's crawler must fetch it without logging in. The bytes live in a local
folder (the default; staged copies under ``static/tmp/``, served by
``StagedImages`` or nginx) or in an S3 bucket (``ospost.blobstore``), where
the crawler gets a presigned URL instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Protocol

from flask import Flask
from flask import Response
from flask import abort
from flask import send_from_directory
from werkzeug.http import parse_range_header
from werkzeug.wsgi import wrap_file

from ospost import blobstore
from ospost.blobstore import BlobStore
from ospost.blobstore.local import LocalBlobs

log = logging.getLogger(__name__)

# The public copies' names: 32 URL-safe characters (24 random-looking bytes),
# .jpg for images and Reel covers, .mp4 for videos.
STAGED_NAME = re.compile(r"[A-Za-z0-9_-]{32}\.(?:jpg|mp4)")
STAGED_TYPES = {"jpg": "image/jpeg", "mp4": "video/mp4"}
_CHUNK = 256 * 1024
# Feed thumbnails: the Instagram media id and a hash of the bytes, so a new
# picture gets a new name and browsers may cache each name for long.
FEED_FOLDER = "feed"
FEED_NAME = re.compile(r"[0-9]{1,64}-[0-9a-f]{12}\.jpg")

# Uploads are for their owner only: no other local account may list or read
# them. Staged copies are public (Meta's crawler fetches them without login)
# and must stay readable by a web server running as another user (nginx's
# www-data serving /static/tmp/ itself), whatever the process umask. The local
# backend (``ospost/blobstore/local.py``) applies these modes.
PRIVATE_DIR = 0o700


def init_app(app: Flask) -> None:
    """Give the app its media store and serve the public copies to Meta's crawler.

    Needs ``app.extensions["security_headers"]`` (set by ``ospost.web``).
    """
    store = MediaStore(
        app.config["UPLOAD_FOLDER"],
        app.config["STAGING_FOLDER"],
        blobs=blobstore.from_config(app.config),
        presign_seconds=app.config["S3_PRESIGN_SECONDS"],
    )
    app.extensions["media_store"] = store
    if store.local and store.upload_root.is_dir():
        private_dir(store.upload_root)  # an older install made it 0755
    app.add_url_rule("/static/tmp/<name>", "staged", _staged)
    if "static" in app.view_functions:
        app.view_functions["static"] = _static_outside_staging(
            app.view_functions["static"],
            app.static_folder,
            app.config["STAGING_FOLDER"],
        )
    app.wsgi_app = StagedImages(
        app.wsgi_app, app.config["STAGING_FOLDER"], app.extensions["security_headers"]
    )


class MediaStore:
    """Writes, stages, serves and deletes a user's media files, whichever
    backend (``ospost.blobstore``) holds them.

    Keys: ``uploads/<ig_account_id>/<name>`` for uploads and thumbnails,
    ``uploads/<ig_account_id>/feed/<name>`` for feed thumbnails and
    ``tmp/<staged name>`` for the public copies Meta's crawler fetches.
    """

    def __init__(
        self,
        upload_root: str | Path,
        staging_root: str | Path,
        *,
        blobs: BlobStore | None = None,
        presign_seconds: int = 3600,
    ) -> None:
        self.blobs = blobs or LocalBlobs({"uploads": upload_root, "tmp": staging_root})
        self._roots = {"uploads": Path(upload_root), "tmp": Path(staging_root)}
        if isinstance(self.blobs, LocalBlobs):
            self._roots = self.blobs.roots  # one place to move them (tests)
        self.presign_seconds = presign_seconds

    @property
    def upload_root(self) -> Path:
        return self._roots["uploads"]

    @property
    def staging_root(self) -> Path:
        return self._roots["tmp"]

    @staging_root.setter
    def staging_root(self, path: Path) -> None:
        self._roots["tmp"] = Path(path)

    @property
    def local(self) -> bool:
        """True when files live in this host's folders (not shared)."""
        return self.blobs.kind == "local"

    # -- keys ---------------------------------------------------------------------

    @staticmethod
    def user_key(ig_account_id: str) -> str:
        # ig ids come from Meta and are digits; refuse anything else so a name
        # can never climb out of the user's folder.
        if not ig_account_id.isdigit():
            raise ValueError("unexpected Instagram account id")
        return f"uploads/{ig_account_id}"

    def key(self, ig_account_id: str, name: str) -> str:
        """The key of one of a user's uploads or thumbnails."""
        if "/" in name:
            raise ValueError("unexpected file name")
        return f"{self.user_key(ig_account_id)}/{name}"

    @staticmethod
    def staged_key(staged_name: str) -> str:
        if not STAGED_NAME.fullmatch(staged_name):
            raise ValueError("not a staged file name")
        return f"tmp/{staged_name}"

    def feed_key(self, ig_account_id: str, name: str) -> str:
        """The key of a feed thumbnail; ValueError for a name we never made."""
        if not FEED_NAME.fullmatch(name):
            raise ValueError("not a feed thumbnail name")
        return f"{self.user_key(ig_account_id)}/{FEED_FOLDER}/{name}"

    # -- local paths (the local backend only; tests and the crawler fast path) ----

    def user_dir(self, ig_account_id: str) -> Path:
        return self.upload_root / self.user_key(ig_account_id).split("/", 1)[1]

    def path(self, ig_account_id: str, name: str) -> Path:
        return self.user_dir(ig_account_id) / name

    def feed_dir(self, ig_account_id: str) -> Path:
        return self.user_dir(ig_account_id) / FEED_FOLDER

    def feed_thumbnail_path(self, ig_account_id: str, name: str) -> Path:
        """Where a feed thumbnail is; ValueError for a name we never made."""
        self.feed_key(ig_account_id, name)
        return self.feed_dir(ig_account_id) / name

    # -- a user's uploads -------------------------------------------------------------

    def save(
        self, ig_account_id: str, image: bytes, thumbnail: bytes
    ) -> tuple[str, str]:
        """Store a post's image and thumbnail; returns their file names."""
        if self.local:
            private_dir(self.upload_root)
        stem = secrets.token_hex(16)
        names = (f"{stem}.jpg", f"{stem}.thumb.jpg")
        written: list[str] = []
        try:
            for name, data in zip(names, (image, thumbnail), strict=True):
                key = self.key(ig_account_id, name)
                self.blobs.put(key, data)
                written.append(key)
        except OSError:
            self._forget(written)
            raise
        return names

    def _forget(self, keys: list[str]) -> None:
        """Remove blobs whose rows are gone or never were. A storage failure
        is logged, not raised: the change it follows is already committed,
        and the orphan sweep (``ospost.orphans``) removes them later."""
        try:
            self.blobs.delete(*keys)
        except OSError as exc:
            log.warning("could not remove %s (the orphan sweep will): %s", keys, exc)

    def read(self, ig_account_id: str, name: str) -> bytes:
        """One of a user's uploads or thumbnails, whole (images are small)."""
        return self.blobs.read(self.key(ig_account_id, name))

    def exists(self, ig_account_id: str, name: str) -> bool:
        return self.blobs.size(self.key(ig_account_id, name)) is not None

    def names(self, ig_account_id: str) -> list[str]:
        """The names of every file a user has, feed thumbnails as ``feed/...``."""
        prefix = self.user_key(ig_account_id) + "/"
        return sorted(b.key[len(prefix) :] for b in self.blobs.list(prefix))

    def delete(self, ig_account_id: str, *names: str | None) -> None:
        """Remove some of a user's files; missing ones are fine."""
        self._forget([self.key(ig_account_id, n) for n in names if n])

    def send(self, ig_account_id: str, name: str, **kwargs) -> Response:
        """Answer a request with one of a user's files (the caller checked
        ownership); 404 when it is gone. Streamed, never read whole."""
        return self._send(self.key(ig_account_id, name), **kwargs)

    def _send(self, key: str, *, max_age: int | None = None) -> Response:
        local = self.blobs.local_path(key)
        if local is not None:
            return send_from_directory(local.parent, local.name, max_age=max_age)
        try:
            size = self.blobs.size(key)
            body = self.blobs.open(key) if size is not None else None
        except OSError as exc:
            log.warning("media %s not read: %s", key, exc)
            abort(503)
        if body is None:
            abort(404)
        resp = Response(
            _chunks(body), mimetype=blobstore.content_type(key), direct_passthrough=True
        )
        resp.content_length = size
        if max_age:
            resp.cache_control.private = True
            resp.cache_control.max_age = max_age
        return resp

    # -- public copies for Meta's crawler -------------------------------------------

    def stage(self, ig_account_id: str, name: str, staged_name: str) -> str:
        """Copy an upload to the public staging area as ``staged_name``.

        The caller picks an unguessable name that is stable across retries, so
        a retry reuses the copy instead of leaving a trail of public files.
        """
        target = self.staged_key(staged_name)
        if self.blobs.size(target) is not None:
            return staged_name
        self.blobs.copy(self.key(ig_account_id, name), target, public=True)
        return staged_name

    def stage_bytes(self, staged_name: str, data: bytes) -> None:
        """Put ``data`` in the public staging area as ``staged_name``, served
        like a post's copy (the APP_URL reachability probe uses it)."""
        self.blobs.put(self.staged_key(staged_name), data, public=True)

    def crawler_url(self, staged_name: str, app_url: str) -> str:
        """Where Meta's crawler fetches a staged copy: a presigned URL valid
        ``S3_PRESIGN_SECONDS`` on S3, ``APP_URL/static/tmp/...`` locally."""
        url = self.blobs.presigned_url(
            self.staged_key(staged_name), self.presign_seconds
        )
        return url or f"{app_url.rstrip('/')}/static/tmp/{staged_name}"

    def unstage(self, staged_name: str | None) -> None:
        if staged_name and STAGED_NAME.fullmatch(staged_name):
            self._forget([self.staged_key(staged_name)])

    # -- the Instagram feed's thumbnails -----------------------------------------------

    def save_feed_thumbnail(
        self, ig_account_id: str, ig_media_id: str, thumbnail: bytes
    ) -> str:
        """Keep the thumbnail of a post from the account's Instagram feed;
        returns its file name (under the user's ``feed/`` folder)."""
        if not ig_media_id.isdigit():
            raise ValueError("unexpected Instagram media id")
        name = f"{ig_media_id}-{hashlib.sha256(thumbnail).hexdigest()[:12]}.jpg"
        key = self.feed_key(ig_account_id, name)
        if self.blobs.size(key) is None:  # same bytes, same name: nothing to write
            self.blobs.put(key, thumbnail)
        return name

    def has_feed_thumbnail(self, ig_account_id: str, name: str) -> bool:
        try:
            return self.blobs.size(self.feed_key(ig_account_id, name)) is not None
        except ValueError:
            return False

    def send_feed_thumbnail(self, ig_account_id: str, name: str, **kwargs) -> Response:
        """Answer with a feed thumbnail (the caller checked ownership)."""
        try:
            key = self.feed_key(ig_account_id, name)
        except ValueError:
            abort(404)
        return self._send(key, **kwargs)

    def delete_feed_thumbnails(self, ig_account_id: str, *names: str | None) -> None:
        """Remove feed thumbnails the feed no longer shows; missing ones are fine."""
        self._forget(
            [
                self.feed_key(ig_account_id, name)
                for name in names
                if name and FEED_NAME.fullmatch(name)
            ]
        )

    def delete_user(self, ig_account_id: str, staged_names: list[str]) -> None:
        """Remove every file a user ever gave us."""
        for staged in staged_names:
            self.unstage(staged)
        try:
            self.blobs.delete_prefix(self.user_key(ig_account_id) + "/")
        except OSError as exc:
            log.warning(
                "files of %s not all removed (the orphan sweep will): %s",
                ig_account_id,
                exc,
            )


def _chunks(body, size: int = 64 * 1024):
    """Stream an object's body to the client, closing it at the end."""
    try:
        while chunk := body.read(size):
            yield chunk
    finally:
        body.close()


class StagedPost(Protocol):
    """What naming a post's public copies needs: a post row, or the engine's
    snapshot."""

    id: int
    staged_name: str | None


def staged_name(
    post: StagedPost, filename: str | None, secret: str, suffix: str = ".jpg"
) -> str:
    """The name of the public copy of one of a post's files (``filename``).

    Unguessable (an HMAC of the post id and upload under the app's secret key),
    yet the same on every retry, so the engine need not save it before Meta
    fetches the file. (A single-image post saves the name it used; that
    saved name is the copy that exists.) ``suffix`` is ".mp4" for a video.
    """
    msg = f"{post.id}:{filename}".encode()
    digest = hmac.new(secret.encode(), msg, hashlib.sha256).digest()[:24]
    return base64.urlsafe_b64encode(digest).decode() + suffix


def staged_names(post: StagedPost, filenames: list[str | None], secret: str):
    """The public copies a post may have: one per image or converted video
    (``.mp4``; a post row's video counts without being named), plus the
    saved one."""
    videos = [getattr(post, "video", None)]
    # A carousel's video items (a Post's rows; the engine names them itself).
    videos += [getattr(m, "video", None) for m in getattr(post, "media", None) or []]
    filenames = [*filenames, *(getattr(v, "filename", None) for v in videos)]
    names = [
        staged_name(post, name, secret, ".mp4" if name.endswith(".mp4") else ".jpg")
        for name in dict.fromkeys(filenames)
        if name
    ]
    if post.staged_name and post.staged_name not in names:
        names.append(post.staged_name)
    return names


def private_dir(path: Path) -> None:
    """Make ``path`` a folder only its owner may open (0700), creating it if
    needed and tightening one an older version left readable to others."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != PRIVATE_DIR:
        log.info("making %s private (mode 0700)", path)
        path.chmod(PRIVATE_DIR)


def _staged(name: str):
    """What ``StagedImages`` did not serve under /static/tmp/: a bad name or a
    missing file. Answered here so it never falls through to the static folder
    (the default staging folder lives inside it)."""
    abort(404)


def _static_outside_staging(serve_static, static_folder: str, staging_folder: str):
    """Flask's static file view, refusing every file inside the staging folder.

    Staged copies are served only by ``StagedImages``, by their random name; the
    static route must not offer another way in (other names, a listing of what
    the folder holds), whatever path leads there.
    """
    staging = Path(staging_folder).resolve()

    def static_files(filename: str):
        target = Path(static_folder, filename).resolve()
        if target == staging or staging in target.parents:
            abort(404)
        return serve_static(filename=filename)

    return static_files


class StagedImages:
    """Serve staged images and videos to Meta's crawler ahead of Flask.

    Each post's image is fetched once by Meta while its container is made; a
    crawler needs no session, user or template, and in a burst of due posts
    Flask's request handling (session lookup included) was a tenth of the
    app's CPU. Anything not found here (a bad name, a missing file, a method
    other than GET/HEAD) goes on to Flask, which answers with its 404 page.
    Byte ranges are honoured (one range per request; several get the whole
    file), as video fetchers ask for them.
    """

    PREFIX = "/static/tmp/"

    def __init__(self, wsgi_app, folder: str, headers: dict[str, str]) -> None:
        self.wsgi_app = wsgi_app
        self.folder = folder
        self.headers = list(headers.items())

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        name = path[len(self.PREFIX) :] if path.startswith(self.PREFIX) else ""
        if not STAGED_NAME.fullmatch(name) or environ.get("REQUEST_METHOD") not in (
            "GET",
            "HEAD",
        ):
            return self.wsgi_app(environ, start_response)
        try:
            image = open(os.path.join(self.folder, name), "rb")  # noqa: SIM115
        except OSError:
            return self.wsgi_app(environ, start_response)
        size = os.fstat(image.fileno()).st_size
        headers = [
            ("Content-Type", STAGED_TYPES[name[-3:]]),
            ("Accept-Ranges", "bytes"),
            ("Cache-Control", "no-cache"),
            *self.headers,
        ]
        span = _byte_range(environ.get("HTTP_RANGE"), size)
        if span == "unsatisfiable":
            image.close()
            headers += [("Content-Range", f"bytes */{size}"), ("Content-Length", "0")]
            start_response("416 Range Not Satisfiable", headers)
            return []
        if span is None:
            start_response("200 OK", [("Content-Length", str(size)), *headers])
        else:
            start, stop = span
            headers += [
                ("Content-Range", f"bytes {start}-{stop - 1}/{size}"),
                ("Content-Length", str(stop - start)),
            ]
            start_response("206 Partial Content", headers)
        if environ["REQUEST_METHOD"] == "HEAD":
            image.close()
            return []
        if span is None:
            return wrap_file(environ, image)
        return _file_slice(image, *span)


def _byte_range(header: str | None, size: int):
    """(start, stop) of the one range asked for, None for the whole file, or
    "unsatisfiable".  A malformed header or several ranges mean the whole file
    (RFC 9110 lets a server ignore Range)."""
    parsed = parse_range_header(header) if header else None
    if parsed is None or parsed.units != "bytes" or len(parsed.ranges) != 1:
        return None
    return parsed.range_for_length(size) or "unsatisfiable"


def _file_slice(fh, start: int, stop: int):
    """Yield bytes [start, stop) of an open file, closing it when done."""
    try:
        fh.seek(start)
        left = stop - start
        while left > 0:
            chunk = fh.read(min(_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
    finally:
        fh.close()
