"""Staged videos as Meta's crawler fetches them: right type and length, byte
ranges (206, Content-Range, 416), HEAD, and nothing but the app's names.

Served by ``ospost.storage.StagedImages`` ahead of Flask; nginx's copy of the
rule is checked in tests/test_front.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ospost.storage import STAGED_NAME
from ospost.storage import staged_name

NAME = "Vid_-" + "v" * 27 + ".mp4"
BODY = bytes(range(256)) * 40  # 10,240 bytes, every offset recognisable


@pytest.fixture
def staged(app, tmp_path):
    folder = tmp_path / "staging"
    folder.mkdir(exist_ok=True)
    (folder / NAME).write_bytes(BODY)
    return app.test_client()


def get(client, range_header: str | None = None, method: str = "GET", name=NAME):
    """Fetch a staged file and close the response (it streams the open file)."""
    headers = {"Range": range_header} if range_header else {}
    with client.open(f"/static/tmp/{name}", method=method, headers=headers) as resp:
        resp.get_data()
        return resp


def test_whole_video_with_type_and_length(staged):
    resp = get(staged)
    assert resp.status_code == 200 and resp.data == BODY
    assert resp.headers["Content-Type"] == "video/mp4"
    assert resp.headers["Content-Length"] == str(len(BODY))
    assert resp.headers["Accept-Ranges"] == "bytes"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, len(BODY)),
        ("bytes=-256", len(BODY) - 256, len(BODY)),
        ("bytes=10000-20000", 10000, len(BODY)),  # clipped to the end
    ],
)
def test_one_range_gives_206_with_its_bytes(staged, header, start, stop):
    resp = get(staged, header)
    assert resp.status_code == 206
    assert resp.data == BODY[start:stop]
    assert resp.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{len(BODY)}"
    assert resp.headers["Content-Length"] == str(stop - start)
    assert resp.headers["Content-Type"] == "video/mp4"


def test_a_range_past_the_end_is_416(staged):
    resp = get(staged, "bytes=20000-30000")
    assert resp.status_code == 416
    assert resp.headers["Content-Range"] == f"bytes */{len(BODY)}"
    assert resp.data == b""


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-2", "junk"])
def test_other_range_headers_get_the_whole_file(staged, header):
    resp = get(staged, header)
    assert resp.status_code == 200 and resp.data == BODY


def test_head_with_a_range_sends_headers_only(staged):
    resp = get(staged, "bytes=0-9", method="HEAD")
    assert resp.status_code == 206 and resp.data == b""
    assert resp.headers["Content-Length"] == "10"


def test_only_the_apps_names_are_served(staged, tmp_path):
    (tmp_path / "staging" / "clip.mp4").write_bytes(BODY)
    (tmp_path / "staging" / (NAME[:-4] + ".mov")).write_bytes(BODY)
    for name in ("clip.mp4", NAME[:-4] + ".mov", "W" * 32 + ".mp4"):
        assert get(staged, name=name).status_code == 404, name
    assert STAGED_NAME.fullmatch(NAME) and STAGED_NAME.fullmatch(NAME[:-4] + ".jpg")


def test_staged_names_for_videos_end_in_mp4():
    post = SimpleNamespace(id=7, filename="abc.mp4", staged_name=None)
    name = staged_name(post, post.filename, "secret", ".mp4")
    assert STAGED_NAME.fullmatch(name) and name.endswith(".mp4")
    same_stem = staged_name(post, post.filename, "secret")[:-4]
    assert same_stem == name[:-4]  # same post and file, same stem
