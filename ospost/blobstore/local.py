"""The local-folder backend: blobs are files under the app's folders.

The first part of a key picks the folder (``uploads/...`` under
``UPLOAD_FOLDER``, ``tmp/...`` under ``STAGING_FOLDER``). Private blobs are
0600 in 0700 folders whatever the umask; public ones (staged copies nginx may
serve as another user) are 0644 in a 0755 folder. Writes go to a ``.part``
file renamed into place, so a reader never sees half a file. A finished
local file (a video from the work folder) is moved in rather than copied when
it is on the same filesystem (``put_file``).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from ospost.blobstore import BlobInfo
from ospost.blobstore import BlobNotFound
from ospost.blobstore import check_key

log = logging.getLogger(__name__)

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
PUBLIC_DIR, PUBLIC_FILE = 0o755, 0o644
CHUNK = 1024 * 1024


class LocalBlobs:
    """Blobs as files in local folders (the default; one host)."""

    kind = "local"

    def __init__(self, roots: dict[str, str | Path]) -> None:
        self.roots = {area: Path(root) for area, root in roots.items()}

    def local_path(self, key: str) -> Path:
        area, _, rest = check_key(key).partition("/")
        if area not in self.roots or not rest:
            raise ValueError(f"bad storage key {key!r}")
        return self.roots[area] / rest

    def put(self, key: str, data: bytes | BinaryIO, *, public: bool = False) -> None:
        path = self.local_path(key)
        self._make_parents(path, public)
        mode = PUBLIC_FILE if public else PRIVATE_FILE
        tmp = path.with_name(path.name + ".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        os.fchmod(fd, mode)  # whatever the umask, or a leftover .part's mode
        try:
            with open(fd, "wb") as fh:
                if isinstance(data, bytes | bytearray | memoryview):
                    fh.write(data)
                else:
                    shutil.copyfileobj(data, fh, CHUNK)
                fh.flush()
                if not public:  # a public copy can be made again from its upload
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path, *, public: bool = False) -> None:
        """Store the finished local file ``path`` as ``key`` by renaming it
        into place: a 1 GB video is not written a second time. Its mode is set
        (and its bytes synced) first, and the rename is atomic, so the final
        name never shows half a file. Across filesystems (EXDEV) it is copied
        through ``put`` instead. ``path`` is gone afterwards."""
        target = self.local_path(key)
        self._make_parents(target, public)
        mode = PUBLIC_FILE if public else PRIVATE_FILE
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fchmod(fd, mode)
            if not public:
                os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.replace(path, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            log.info("%s is on another filesystem: copying it into %s", path, key)
            with open(path, "rb") as fh:
                self.put(key, fh, public=public)
            Path(path).unlink(missing_ok=True)

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self.local_path(key), "rb")  # noqa: SIM115
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    def read(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def size(self, key: str) -> int | None:
        try:
            return self.local_path(key).stat().st_size
        except FileNotFoundError:
            return None

    def copy(self, source: str, target: str, *, public: bool = False) -> None:
        with self.open(source) as fh:
            self.put(target, fh, public=public)

    def delete(self, *keys: str) -> None:
        for key in keys:
            self.local_path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        area, _, rest = check_key(prefix.rstrip("/")).partition("/")
        if not rest:
            raise ValueError("refusing to delete a whole storage area")
        shutil.rmtree(self.roots[area] / rest, ignore_errors=True)

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        area, _, rest = check_key(prefix.rstrip("/")).partition("/")
        root = self.roots[area]
        start = root / rest if rest else root
        if not start.is_dir():
            return
        for folder, _dirs, files in os.walk(start):
            for name in files:
                path = Path(folder, name)
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue  # removed meanwhile
                key = f"{area}/{path.relative_to(root).as_posix()}"
                when = datetime.fromtimestamp(stat.st_mtime, UTC)
                yield BlobInfo(key, stat.st_size, when)

    def presigned_url(self, key: str, seconds: int) -> None:
        return None

    def _make_parents(self, path: Path, public: bool) -> None:
        if path.parent.is_dir():
            return
        if public:
            path.parent.mkdir(parents=True, exist_ok=True)
            # An existing folder keeps the mode its admin gave it (e.g. 0750
            # with nginx's group); a new one must be readable by nginx.
            path.parent.chmod(PUBLIC_DIR)
            return
        # Every private folder from the area's root down is 0700.
        root = next(r for r in self.roots.values() if r in path.parents)
        folder = root
        for part in path.parent.relative_to(root).parts:
            _private_dir(folder)
            folder = folder / part
        _private_dir(folder)


def _private_dir(path: Path) -> None:
    if not path.is_dir():
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        path.chmod(PRIVATE_DIR)
