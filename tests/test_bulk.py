"""Bulk upload: each photo becomes a draft cut from its centre to the chosen
shape; a bad file is refused alone, by name and with the reason, and the rest
go on; "Add all to queue" gives every draft the next free slot."""

from __future__ import annotations

import io
from datetime import UTC
from datetime import datetime

from PIL import Image
from sqlalchemy import select
from test_planning import JSON
from test_planning import add_slots
from test_planning import set_user

from models import Post
from models import PostStatus
from models import db
from ospost import bulk as bulk_module
from support import image_bytes

NOW = datetime(2027, 1, 4, 12, tzinfo=UTC)  # a Monday, 13:00 in Paris


def send(client, data: bytes, name: str, ratio="4:5", headers=JSON):
    return client.post(
        "/bulk/upload",
        data={"ratio": ratio, "photo": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
        headers=headers,
    )


def drafts(app) -> list[Post]:
    with app.app_context():
        posts = db.session.scalars(select(Post).order_by(Post.id)).all()
        for post in posts:
            db.session.expunge(post)
        return posts


def files_on_disk(app, user) -> set[str]:
    folder = app.extensions["media_store"].user_dir(user.ig_account_id)
    return {p.name for p in folder.glob("*")} if folder.is_dir() else set()


def stored_image(app, user, name: str) -> Image.Image:
    path = app.extensions["media_store"].path(user.ig_account_id, name)
    return Image.open(path)


def striped(width: int, height: int) -> bytes:
    """Red outer thirds, a blue middle: a centred crop keeps only blue."""
    im = Image.new("RGB", (width, height), (220, 20, 20))
    im.paste((20, 20, 220), (width // 3, 0, 2 * width // 3, height))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def test_twenty_photos_with_one_corrupt_file(app, client, user):
    good = image_bytes(1600, 1200)
    corrupt = good[: len(good) // 3]  # cut off mid-scan: damaged
    answers = []
    for n in range(20):
        data, name = (corrupt, "IMG_0007.jpg") if n == 7 else (good, f"IMG_{n:04}.jpg")
        answers.append(send(client, data, name))
    bad = answers[7]
    assert bad.status_code == 400
    assert bad.get_json() == {
        "ok": False,
        "name": "IMG_0007.jpg",
        "error": "This image is damaged or incomplete and can't be read.",
    }
    oks = [a.get_json() for i, a in enumerate(answers) if i != 7]
    assert all(a["ok"] and a["thumb"].startswith("/uploads/") for a in oks)
    posts = drafts(app)
    assert len(posts) == 19
    assert {p.status for p in posts} == {PostStatus.DRAFT}
    assert {p.scheduled_at for p in posts} == {None}
    # Each is cut to 4:5 from its landscape photo; nothing was kept of the bad one.
    assert {(p.width, p.height) for p in posts} == {(960, 1200)}
    expected = {n for p in posts for n in (p.filename, p.thumbnail)}
    assert files_on_disk(app, user) == expected
    # On the home page's shelf, never on the grid.
    assert 'id="drafts-shelf"' in client.get("/").get_data(as_text=True)


def test_the_crop_is_cut_from_the_centre_at_each_shape(app, client, user):
    for ratio, size in (("1:1", (1000, 1000)), ("1.91:1", (1440, 754))):
        resp = send(client, striped(3000, 1000), "wide.jpg", ratio=ratio)
        assert resp.status_code == 200, resp.get_json()
        post = drafts(app)[-1]
        assert (post.width, post.height) == size
        im = stored_image(app, user, post.filename).convert("RGB")
        if ratio == "1:1":  # the middle third only: blue edge to edge
            for x in (2, im.width // 2, im.width - 3):
                r, g, b = im.getpixel((x, im.height // 2))
                assert b > 150 and r < 80, (ratio, x, (r, g, b))
    # As shot: kept when Instagram takes the shape, refused when not.
    assert (
        send(client, image_bytes(1200, 1200), "ok.jpg", "original").status_code == 200
    )
    resp = send(client, image_bytes(3000, 1000), "pano.jpg", "original")
    assert resp.status_code == 400
    assert resp.get_json()["error"].startswith("The image's aspect ratio is 3:1")


def test_bad_requests_are_refused_clearly(app, client, user):
    resp = send(client, image_bytes(), "a.jpg", ratio="2:1")
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "Choose the shape to crop the photos to."
    resp = client.post("/bulk/upload", data={"ratio": "1:1"}, headers=JSON)
    assert resp.get_json() == {"ok": False, "error": "Choose one or more photos."}
    resp = send(client, b"GIF89a not really", "anim.gif")
    assert resp.status_code == 400 and "anim.gif" == resp.get_json()["name"]
    assert drafts(app) == []
    for body in (b"{}", b'{"ids": []}', b'{"ids": ["x"]}', b"[1"):
        resp = client.post(
            "/bulk/queue", data=body, content_type="application/json", headers=JSON
        )
        assert resp.status_code == 400 and resp.get_json()["ok"] is False


def test_without_javascript_one_form_sends_several_files(app, client, user):
    resp = client.post(
        "/bulk/upload",
        data={
            "ratio": "1:1",
            "photo": [
                (io.BytesIO(image_bytes()), "one.jpg"),
                (io.BytesIO(b"nonsense"), "notes.txt"),
                (io.BytesIO(image_bytes()), "two.jpg"),
            ],
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    page = resp.get_data(as_text=True)
    assert "2 of 3 photos are now drafts." in page
    assert "notes.txt: " in page
    assert len(drafts(app)) == 2


def test_add_all_to_queue_gives_each_the_next_slot(app, client, user, monkeypatch):
    monkeypatch.setattr(bulk_module, "now_utc", lambda: NOW)
    set_user(app, user.id, token_expires_at=None)
    ids = [send(client, image_bytes(), f"{n}.jpg").get_json()["id"] for n in range(3)]
    resp = client.post("/bulk/queue", json={"ids": ids}, headers=JSON)
    assert resp.status_code == 400
    assert "You have no posting slots yet" in resp.get_json()["error"]
    add_slots(client, [2, 4], "09:00")  # Wednesday and Friday
    resp = client.post("/bulk/queue", json={"ids": ids}, headers=JSON)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    times = [p.scheduled_at for p in drafts(app)]
    assert times == [
        datetime(2027, 1, 6, 8, tzinfo=UTC),
        datetime(2027, 1, 8, 8, tzinfo=UTC),
        datetime(2027, 1, 13, 8, tzinfo=UTC),
    ]
    assert body["message"] == (
        "Added 3 posts to the queue, from Jan 06, 2027 09:00 CET to "
        "Jan 13, 2027 09:00 CET."
    )
    assert {p.status for p in drafts(app)} == {PostStatus.SCHEDULED}
    # Undo puts them all back on the shelf.
    undo = client.post("/calendar/undo", json={"undo": body["undo"]}, headers=JSON)
    assert undo.status_code == 200
    assert {p.status for p in drafts(app)} == {PostStatus.DRAFT}


def test_add_all_to_queue_stops_when_the_slots_run_out(app, client, user, monkeypatch):
    monkeypatch.setattr(bulk_module, "now_utc", lambda: NOW)
    # The login ends in 10 days: room for two Wednesday slots only.
    set_user(app, user.id, token_expires_at=datetime(2027, 1, 15, tzinfo=UTC))
    add_slots(client, [2], "09:00")
    ids = [send(client, image_bytes(), f"{n}.jpg").get_json()["id"] for n in range(4)]
    resp = client.post("/bulk/queue", json={"ids": ids}, headers=JSON)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert [m["id"] for m in body["moves"]] == ids[:2]
    assert body["left"] == 2
    assert (
        "2 stay drafts: Every posting slot is taken until your Instagram login"
        in (body["message"])
    )
    statuses = [p.status for p in drafts(app)]
    assert statuses == [PostStatus.SCHEDULED] * 2 + [PostStatus.DRAFT] * 2


def test_a_camera_photo_is_decoded_at_half_size_when_1080_px_is_kept():
    """Bulk photos may be narrower than 1440 px, never below 1080, when that
    lets libjpeg decode at a smaller scale (bench/bulk.py: the memory)."""
    from fractions import Fraction

    from ospost import images

    camera = image_bytes(4000, 3000)
    bulk = images.process_upload(
        io.BytesIO(camera), ratio=Fraction(4, 5), min_width=1080
    )
    assert (bulk.width, bulk.height) == (1200, 1500)
    full = images.process_upload(io.BytesIO(camera), ratio=Fraction(4, 5))
    assert (full.width, full.height) == (1440, 1800)
    # Never below 1080: a 2000 px crop is not halved to 1000.
    small = images.process_upload(
        io.BytesIO(image_bytes(2000, 2000)), ratio=Fraction(1), min_width=1080
    )
    assert (small.width, small.height) == (1440, 1440)
