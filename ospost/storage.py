"""Where post images live on disk, and how Meta's crawler fetches them.

Uploads sit under ``uploads/<ig_account_id>/`` with random names and are served
only to their owner; so do the thumbnails of the account's Instagram feed
(``uploads/<ig_account_id>/feed/``), since Meta's own picture URLs expire. For
publishing, a copy is staged under ``static/tmp/`` with an unguessable name,
because Meta's crawler must fetch it without logging in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Protocol

from flask import Flask
from flask import abort
from werkzeug.http import parse_range_header
from werkzeug.wsgi import wrap_file

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
# www-data serving /static/tmp/ itself), whatever the process umask.
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
PUBLIC_DIR, PUBLIC_FILE = 0o755, 0o644


def init_app(app: Flask) -> None:
    """Give the app its media store and serve the public copies to Meta's crawler.

    Needs ``app.extensions["security_headers"]`` (set by ``ospost.web``).
    """
    store = MediaStore(app.config["UPLOAD_FOLDER"], app.config["STAGING_FOLDER"])
    app.extensions["media_store"] = store
    if store.upload_root.is_dir():
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
    """Writes, stages and deletes image files for posts."""

    def __init__(self, upload_root: str | Path, staging_root: str | Path) -> None:
        self.upload_root = Path(upload_root)
        self.staging_root = Path(staging_root)

    def user_dir(self, ig_account_id: str) -> Path:
        # ig ids come from Meta and are digits; refuse anything else so a name
        # can never climb out of the uploads folder.
        if not ig_account_id.isdigit():
            raise ValueError("unexpected Instagram account id")
        return self.upload_root / ig_account_id

    def save(
        self, ig_account_id: str, image: bytes, thumbnail: bytes
    ) -> tuple[str, str]:
        """Store a post's image and thumbnail; returns their file names."""
        folder = self.user_dir(ig_account_id)
        private_dir(self.upload_root)
        private_dir(folder)
        stem = secrets.token_hex(16)
        names = (f"{stem}.jpg", f"{stem}.thumb.jpg")
        written: list[Path] = []
        try:
            for name, data in zip(names, (image, thumbnail), strict=True):
                path = folder / name
                _write_atomic(path, data)
                written.append(path)
        except OSError:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return names

    def path(self, ig_account_id: str, name: str) -> Path:
        return self.user_dir(ig_account_id) / name

    def delete(self, ig_account_id: str, *names: str | None) -> None:
        """Remove some of a user's files; missing ones are fine."""
        for name in names:
            if name:
                self.path(ig_account_id, name).unlink(missing_ok=True)

    def stage(self, ig_account_id: str, name: str, staged_name: str) -> str:
        """Copy an upload to the public staging folder as ``staged_name``.

        The caller picks an unguessable name that is stable across retries, so
        a retry reuses the copy instead of leaving a trail of public files.
        """
        target = self.staging_root / staged_name
        if target.is_file():
            return staged_name
        source = self.path(ig_account_id, name)
        if not source.is_file():
            raise FileNotFoundError(name)
        self._make_staging_root()
        partial = target.with_suffix(".part")
        shutil.copyfile(source, partial)  # the copy does not take the 0600 mode
        partial.chmod(PUBLIC_FILE)
        os.replace(partial, target)  # the crawler never sees half a file
        return staged_name

    def stage_bytes(self, staged_name: str, data: bytes) -> None:
        """Put ``data`` in the public staging folder as ``staged_name``, served
        like a post's copy (the APP_URL reachability probe uses it)."""
        if not STAGED_NAME.fullmatch(staged_name):
            raise ValueError("not a staged file name")
        self._make_staging_root()
        target = self.staging_root / staged_name
        partial = target.with_suffix(".part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PUBLIC_FILE)
        with open(fd, "wb") as fh:
            fh.write(data)
        partial.chmod(PUBLIC_FILE)  # whatever the umask
        os.replace(partial, target)

    def _make_staging_root(self) -> None:
        if not self.staging_root.is_dir():
            self.staging_root.mkdir(parents=True, exist_ok=True)
            # An existing folder keeps the mode its admin gave it (e.g. 0750
            # with nginx's group); a new one must be readable by nginx.
            self.staging_root.chmod(PUBLIC_DIR)

    def unstage(self, staged_name: str | None) -> None:
        if staged_name:
            (self.staging_root / staged_name).unlink(missing_ok=True)

    def save_feed_thumbnail(
        self, ig_account_id: str, ig_media_id: str, thumbnail: bytes
    ) -> str:
        """Keep the thumbnail of a post from the account's Instagram feed;
        returns its file name (under the user's ``feed/`` folder)."""
        if not ig_media_id.isdigit():
            raise ValueError("unexpected Instagram media id")
        name = f"{ig_media_id}-{hashlib.sha256(thumbnail).hexdigest()[:12]}.jpg"
        folder = self.user_dir(ig_account_id) / FEED_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        if not path.is_file():  # same bytes, same name: nothing to write
            _write_atomic(path, thumbnail)
        return name

    def feed_dir(self, ig_account_id: str) -> Path:
        return self.user_dir(ig_account_id) / FEED_FOLDER

    def feed_thumbnail_path(self, ig_account_id: str, name: str) -> Path:
        """Where a feed thumbnail is; ValueError for a name we never made."""
        if not FEED_NAME.fullmatch(name):
            raise ValueError("not a feed thumbnail name")
        return self.feed_dir(ig_account_id) / name

    def delete_feed_thumbnails(self, ig_account_id: str, *names: str | None) -> None:
        """Remove feed thumbnails the feed no longer shows; missing ones are fine."""
        for name in names:
            if name and FEED_NAME.fullmatch(name):
                self.feed_thumbnail_path(ig_account_id, name).unlink(missing_ok=True)

    def delete_user(self, ig_account_id: str, staged_names: list[str]) -> None:
        """Remove every file a user ever gave us."""
        for staged in staged_names:
            self.unstage(staged)
        shutil.rmtree(self.user_dir(ig_account_id), ignore_errors=True)


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
    """The public copies a post may have: one per image, plus the saved one."""
    names = [staged_name(post, name, secret) for name in filenames if name]
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


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)  # also when a leftover .part had another mode
    with open(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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
