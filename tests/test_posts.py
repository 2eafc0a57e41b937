"""Scheduling posts through the HTTP routes: uploads, captions, time zones,
editing, removing, reordering, scheduler jobs and ownership."""

from __future__ import annotations

import io
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from models import Post
from models import PostStatus
from models import User
from models import db
from ospost import posts as posts_module
from ospost.scheduler import publisher
from support import AuthActions
from support import create_post
from support import image_bytes
from support import local_input
from support import soon
from support import stored_files


def all_posts(app) -> list[Post]:
    with app.app_context():
        rows = db.session.scalars(select(Post).order_by(Post.id)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def upload_files(app, user) -> list[str]:
    return stored_files(app, user.ig_account_id)


def stored_image_bytes(app, user, name) -> bytes:
    return app.extensions["media_store"].read(user.ig_account_id, name)


def stored_image(app, user, name) -> Image.Image:
    data = app.extensions["media_store"].read(user.ig_account_id, name)
    return Image.open(io.BytesIO(data))


# -- creating ------------------------------------------------------------------


@pytest.mark.storage
@pytest.mark.parametrize(
    ("fmt", "size"),
    [("JPEG", (3000, 2000)), ("PNG", (1200, 1500)), ("WEBP", (1000, 1000))],
)
def test_create_stores_a_compliant_jpeg(app, client, user, fmt, size):
    resp = create_post(client, image=image_bytes(*size, fmt=fmt))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"ok": True, "redirect": "/"}
    (post,) = all_posts(app)
    assert post.status == PostStatus.SCHEDULED
    with stored_image(app, user, post.filename) as im:
        assert im.format == "JPEG"
        assert im.mode == "RGB"
        assert im.width <= 1440
        assert 0.8 <= im.width / im.height <= 1.91
        assert not im.getexif()
        assert "progressive" not in im.info
    assert upload_files(app, user) == sorted([post.filename, post.thumbnail])
    home = client.get("/").get_data(as_text=True)
    assert "New post scheduled" in home


def test_exif_gps_is_stripped(app, client, user):
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}  # GPSInfo
    exif[0x010F] = "PhoneMaker"
    data = image_bytes(1200, 1200, exif=exif.tobytes())
    assert create_post(client, image=data).status_code == 200
    (post,) = all_posts(app)
    blob = app.extensions["media_store"].read(user.ig_account_id, post.filename)
    assert b"PhoneMaker" not in blob and b"Exif" not in blob


REJECTS = [
    ({"image": b"<?php system($_GET['c']); ?>"}, "not a supported image"),
    ({"image": b"<html><script>alert(1)</script></html>"}, "not a supported image"),
    ({"image": image_bytes(3000, 1000)}, "aspect ratio"),
    ({"image": image_bytes(200, 250)}, "320"),
    ({"image": image_bytes(1000, 1000)[:300]}, "damaged"),
    ({"caption": "x" * 2201}, "2201 characters"),
    ({"caption": " ".join(f"#tag{i}" for i in range(31))}, "31 hashtags"),
    ({"caption": " ".join(f"@user{i}" for i in range(21))}, "21 @mentions"),
    ({"alt_text": "a" * 1001}, "1001 characters"),
    ({"date": ""}, "Choose when"),
    ({"date": "tomorrow at noon"}, "Enter a date"),
]


@pytest.mark.parametrize(("fields", "message"), REJECTS)
def test_bad_input_is_refused_and_leaves_nothing(app, client, user, fields, message):
    resp = create_post(client, **fields)
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["ok"] is False
    assert message in body["error"]
    assert all_posts(app) == []
    assert upload_files(app, user) == []


def test_missing_image_is_refused(app, client, user):
    resp = client.post(
        "/post/add",
        data={"caption": "hi", "date": local_input(soon(), "Europe/Paris")},
        headers={"Accept": "application/json"},
    )
    assert resp.status_code == 400
    assert "Choose an image" in resp.get_json()["error"]


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (lambda now: now - timedelta(minutes=5), "in the future"),
        (lambda now: now + timedelta(days=51), "at most 50 days"),
    ],
)
def test_dates_outside_the_window_are_refused(app, client, user, when, message):
    target = when(datetime.now(UTC)).replace(second=0, microsecond=0)
    resp = create_post(client, when=target)
    assert resp.status_code == 400
    assert message in resp.get_json()["error"]
    assert all_posts(app) == []


def test_dates_after_the_login_expiry_are_refused(app, client, user):
    with app.app_context():
        db.session.get(User, user.id).token_expires_at = datetime.now(UTC) + timedelta(
            days=10
        )
        db.session.commit()
    resp = create_post(client, when=soon(60 * 24 * 9 + 60))
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert "login expires" in error and "scheduled until" in error


def test_oversized_upload_gets_a_clear_413(make_app, auth):
    # The post form may carry carousel videos: its body may reach
    # VIDEO_MAX_UPLOAD_MB (test_a_photo_over_the_request_limit_is_refused...).
    app = make_app(MAX_CONTENT_LENGTH=1024 * 1024, VIDEO_MAX_UPLOAD_MB=1)
    client = app.test_client()
    AuthActions(client, auth.world).login()
    # Encode in memory: the test client would spool a large body to a temp
    # file that stays open when the app (rightly) never reads it.
    boundary, body = encode_multipart(
        {
            "date": local_input(soon(), "Europe/Paris"),
            "image": FileStorage(
                io.BytesIO(b"\xff\xd8" + b"0" * (2 * 1024 * 1024)), "big.jpg"
            ),
        }
    )
    resp = client.post(
        "/post/add",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={"Accept": "application/json"},
    )
    assert resp.status_code == 413, resp.get_json()
    assert resp.get_json() == {
        "ok": False,
        "error": "File is too large: the limit is 1 MB.",
    }
    assert all_posts(app) == []


def test_a_photo_over_the_request_limit_is_refused_at_its_field(make_app, auth):
    """A video may make the post form's body large; a photo may still be at
    most MAX_CONTENT_LENGTH."""
    app = make_app(MAX_CONTENT_LENGTH=1024 * 1024, VIDEO_MAX_UPLOAD_MB=4)
    client = app.test_client()
    AuthActions(client, auth.world).login()
    big = image_bytes(1080, 1350) + b"\0" * (2 * 1024 * 1024)
    # Encoded in memory: the test client would spool it to a file left open.
    boundary, body = encode_multipart(
        {
            "date": local_input(soon(), "Europe/Paris"),
            "image": FileStorage(io.BytesIO(big), "big.jpg"),
        }
    )
    resp = client.post(
        "/post/add",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={"Accept": "application/json"},
    )
    assert resp.status_code == 400, resp.get_json()
    assert resp.get_json()["fields"]["image"] == (
        "This photo is 2 MB; a photo can be at most 1 MB."
    )
    assert all_posts(app) == []


CAPTIONS = [
    "Sunset 🌅 at the beach <3 #travel #sun & friends @ospost.demo",
    "line one\nline two\n\nline four",
    "100% real &amp; not encoded %23hash + spaces",
    "<script>alert('x')</script> \"quotes\" 'single'",
]


@pytest.mark.parametrize("caption", CAPTIONS)
def test_captions_round_trip_exactly(app, client, user, caption):
    assert create_post(client, caption=caption).status_code == 200
    (post,) = all_posts(app)
    assert post.caption == caption


def test_textarea_crlf_is_stored_as_typed_lines(app, client, user):
    assert create_post(client, caption="a\r\nb").status_code == 200
    assert all_posts(app)[0].caption == "a\nb"


def test_caption_is_escaped_when_rendered(app, client, user):
    caption = "<script>alert('x')</script>"
    assert create_post(client, caption=caption).status_code == 200
    (post,) = all_posts(app)
    for page in (client.get(f"/post/{post.id}/edit"), client.get("/")):
        html = page.get_data(as_text=True)
        assert "<script>alert(" not in html


# -- time zones --------------------------------------------------------------


@pytest.mark.parametrize("tz", ["America/Los_Angeles", "Asia/Kolkata", "UTC"])
def test_local_time_is_read_in_the_users_zone(make_app, auth, tz):
    app = make_app()
    client = app.test_client()
    AuthActions(client, auth.world).login(tz=tz)
    day = (datetime.now(UTC) + timedelta(days=10)).date()
    typed = f"{day.isoformat()}T09:30"
    expected = datetime.fromisoformat(typed).replace(tzinfo=ZoneInfo(tz))
    resp = create_post(client, date=typed)
    assert resp.status_code == 200, resp.get_json()
    (post,) = all_posts(app)
    assert post.scheduled_at == expected.astimezone(UTC)
    assert post.scheduled_at.tzinfo is not None
    abbrev = expected.strftime("%Z")
    assert f"09:30 {abbrev}" in client.get("/").get_data(as_text=True)


def test_nonexistent_local_time_is_refused(app, client, user, monkeypatch):
    with app.app_context():
        stored = db.session.get(User, user.id)
        stored.timezone = "America/Los_Angeles"
        stored.token_expires_at = datetime(2027, 6, 1, tzinfo=UTC)
        db.session.commit()
    monkeypatch.setattr(
        posts_module, "now_utc", lambda: datetime(2027, 3, 1, tzinfo=UTC)
    )
    resp = create_post(client, date="2027-03-14T02:30")
    assert resp.status_code == 400
    assert "does not exist in America/Los_Angeles" in resp.get_json()["error"]
    # An ambiguous time (clocks go back) means its first occurrence, in PDT.
    monkeypatch.setattr(
        posts_module, "now_utc", lambda: datetime(2027, 10, 20, tzinfo=UTC)
    )
    with app.app_context():
        db.session.get(User, user.id).token_expires_at = datetime(
            2028, 1, 1, tzinfo=UTC
        )
        db.session.commit()
    assert create_post(client, date="2027-11-07T01:30").status_code == 200
    (post,) = all_posts(app)
    assert post.scheduled_at == datetime(2027, 11, 7, 8, 30, tzinfo=UTC)


# -- editing and removing -------------------------------------------------------


def edit(client, post_id, **fields):
    data = {"caption": "", "alt_text": "", **fields}
    return client.post(
        f"/post/{post_id}/edit",
        data=data,
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )


@pytest.mark.storage
def test_edit_changes_caption_date_and_image(app, client, user):
    assert create_post(client, caption="old").status_code == 200
    (post,) = all_posts(app)
    new_when = soon(24 * 60)
    resp = edit(
        client,
        post.id,
        caption="new ✨",
        alt_text="A red square",
        date=local_input(new_when, "Europe/Paris"),
        image=(io.BytesIO(image_bytes(1000, 800, color=(0, 0, 255))), "b.jpg"),
    )
    assert resp.status_code == 200, resp.get_json()
    (after,) = all_posts(app)
    assert (after.caption, after.alt_text) == ("new ✨", "A red square")
    assert after.scheduled_at == new_when
    assert after.filename != post.filename
    # The old files are gone, the new ones are there.
    assert upload_files(app, user) == sorted([after.filename, after.thumbnail])


def test_edit_keeps_the_image_when_none_is_sent(app, client, user):
    assert create_post(client).status_code == 200
    (post,) = all_posts(app)
    resp = edit(
        client, post.id, caption="c", date=local_input(soon(200), "Europe/Paris")
    )
    assert resp.status_code == 200
    assert all_posts(app)[0].filename == post.filename


def test_edit_validates_like_create(app, client, user):
    assert create_post(client, caption="keep").status_code == 200
    (post,) = all_posts(app)
    resp = edit(client, post.id, caption="x" * 2300, date=local_input(soon(), "UTC"))
    assert resp.status_code == 400
    assert all_posts(app)[0].caption == "keep"


def test_published_posts_are_read_only(app, client, user):
    assert create_post(client).status_code == 200
    (post,) = all_posts(app)
    with app.app_context():
        db.session.get(Post, post.id).status = PostStatus.PUBLISHED
        db.session.commit()
    resp = edit(client, post.id, caption="late", date=local_input(soon(), "UTC"))
    assert resp.status_code == 409
    assert (
        client.post(
            f"/post/{post.id}/publish", headers={"Accept": "application/json"}
        ).status_code
        == 409
    )


@pytest.mark.storage
def test_remove_deletes_row_and_files(app, client, user):
    assert create_post(client).status_code == 200
    (post,) = all_posts(app)
    resp = client.post(
        f"/post/{post.id}/remove", headers={"Accept": "application/json"}
    )
    assert resp.status_code == 200
    assert all_posts(app) == []
    assert upload_files(app, user) == []


# -- scheduler jobs follow the database --------------------------------------


def job_time(post_id):
    job = publisher.scheduler.get_job(f"post-{post_id}")
    return job.next_run_time if job else None


def test_jobs_follow_create_edit_reorder_and_remove(make_app, auth):
    # A horizon long enough to hold every post here (tests/test_horizon.py
    # covers posts beyond it).
    app = make_app(start_scheduler=True, PUBLISH_HORIZON_SECONDS=24 * 3600)
    client = app.test_client()
    AuthActions(client, auth.world).login()
    first, second = soon(300), soon(600)
    assert create_post(client, when=first).status_code == 200
    assert create_post(client, when=second).status_code == 200
    a, b = all_posts(app)
    assert job_time(a.id) == first and job_time(b.id) == second

    later = soon(900)
    edit(client, a.id, caption="x", date=local_input(later, "Europe/Paris"))
    assert job_time(a.id) == later

    # Grid order is latest first: [a (later), b (second)] → swap to [b, a].
    resp = client.post("/", json={"order": [b.id, a.id]})
    assert resp.status_code == 200
    assert job_time(a.id) == second and job_time(b.id) == later

    client.post(f"/post/{a.id}/remove")
    assert job_time(a.id) is None
    assert job_time(b.id) == later


# -- reordering --------------------------------------------------------------


def make_posts(app, client, minutes):
    for m in minutes:
        assert create_post(client, when=soon(m), caption=f"p{m}").status_code == 200
    return all_posts(app)


def dates_by_caption(app):
    return {p.caption: p.scheduled_at for p in all_posts(app)}


def test_reorder_moves_backward_and_forward(app, client, user):
    p1, p2, p3, p4 = make_posts(app, client, [60, 120, 180, 240])
    d = {p.caption: p.scheduled_at for p in (p1, p2, p3, p4)}
    # Visual order is latest first: p4 p3 p2 p1. Drag p1 (last tile) to the front.
    assert (
        client.post("/", json={"order": [p1.id, p4.id, p3.id, p2.id]}).status_code
        == 200
    )
    got = dates_by_caption(app)
    assert got == {
        "p60": d["p240"],
        "p240": d["p180"],
        "p180": d["p120"],
        "p120": d["p60"],
    }
    # And drag it back to the end.
    assert (
        client.post("/", json={"order": [p4.id, p3.id, p2.id, p1.id]}).status_code
        == 200
    )
    assert dates_by_caption(app) == d


@pytest.mark.parametrize("mutate", ["missing", "extra", "duplicate", "foreign"])
def test_stale_or_wrong_orders_are_refused(app, client, user, auth, mutate):
    p1, p2 = make_posts(app, client, [60, 120])
    order = {
        "missing": [p2.id],
        "extra": [p2.id, p1.id, 999],
        "duplicate": [p2.id, p2.id],
        "foreign": [p2.id, p1.id + 1000],
    }[mutate]
    before = dates_by_caption(app)
    resp = client.post("/", json={"order": order})
    assert resp.status_code == 409
    assert "changed" in resp.get_json()["error"]
    assert dates_by_caption(app) == before


@pytest.mark.parametrize("body", [None, {"order": "1,2"}, {"order": [1, "2"]}, [1, 2]])
def test_malformed_reorder_is_a_400(client, user, body):
    resp = (
        client.post("/", json=body)
        if body is not None
        else client.post("/", data="x", headers={"Accept": "application/json"})
    )
    assert resp.status_code == 400
    assert "list of post ids" in resp.get_json()["error"]


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"order": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"order": [1], "x": ' + b"{" * 50_000 + b"}",
        b'{"order": [' + b"1," * 200_000 + b"1]}",
    ],
    ids=["deep-array", "deep-order", "deep-extra-field", "oversized"],
)
def test_deep_or_huge_reorder_json_is_a_400(client, user, raw):
    resp = client.post("/", data=raw, content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json()["ok"] is False


def test_keyboard_move_swaps_with_the_neighbour(app, client, user):
    p1, p2, p3 = make_posts(app, client, [60, 120, 180])
    d = {p.caption: p.scheduled_at for p in (p1, p2, p3)}
    resp = client.post(f"/post/{p3.id}/move", data={"direction": "earlier"})
    assert resp.status_code == 302
    got = dates_by_caption(app)
    assert got["p180"] == d["p120"] and got["p120"] == d["p180"]
    resp = client.post(
        f"/post/{p1.id}/move",
        data={"direction": "earlier"},
        headers={"Accept": "application/json"},
    )
    assert resp.status_code == 200  # already first: nothing moves
    assert dates_by_caption(app)["p60"] == d["p60"]


# -- ownership ---------------------------------------------------------------


@pytest.mark.storage
def test_other_users_get_404_everywhere(app, client, user, auth):
    assert create_post(client).status_code == 200
    (post,) = all_posts(app)
    intruder = app.test_client()
    AuthActions(intruder, auth.world).login("other")
    json = {"Accept": "application/json"}
    checks = [
        intruder.get(f"/post/{post.id}/edit"),
        intruder.post(f"/post/{post.id}/edit", data={"caption": "pwn"}, headers=json),
        intruder.post(f"/post/{post.id}/remove", headers=json),
        intruder.post(f"/post/{post.id}/publish", headers=json),
        intruder.post(
            f"/post/{post.id}/move", data={"direction": "later"}, headers=json
        ),
        intruder.get(f"/post/{post.id}/status"),
        intruder.get(f"/uploads/{post.filename}"),
        intruder.get(f"/uploads/{post.thumbnail}"),
    ]
    assert [r.status_code for r in checks] == [404] * len(checks)
    assert intruder.post("/", json={"order": [post.id]}).status_code == 404
    (after,) = all_posts(app)
    assert after.caption == post.caption and after.status == PostStatus.SCHEDULED
    # The owner can see their own image; traversal names find nothing.
    with client.get(f"/uploads/{post.filename}") as own:
        assert own.status_code == 200
        assert own.headers["Cache-Control"] == "private, no-store"
        assert own.data == stored_image_bytes(app, user, post.filename)
        assert own.data[:2] == b"\xff\xd8"
    for name in ("..%2F..%2Fapp.py", "../app.py", "%2e%2e/app.py"):
        assert client.get(f"/uploads/{name}").status_code == 404


def test_anonymous_fetches_get_401_json(client):
    resp = client.post("/", json={"order": []})
    assert resp.status_code == 401
    assert resp.get_json()["ok"] is False


def test_no_row_is_left_when_the_database_refuses(app, client, user, monkeypatch):
    def broken_commit():
        raise RuntimeError("database went away")

    with app.app_context():
        monkeypatch.setattr(db.session, "commit", broken_commit)
        resp = create_post(client)
    monkeypatch.undo()
    assert resp.status_code == 500
    assert resp.get_json()["ok"] is False
    assert all_posts(app) == []
    assert upload_files(app, user) == []


def test_posts_due_after_the_login_expires_are_flagged(app, client, user):
    assert create_post(client, when=soon(60 * 24 * 5)).status_code == 200
    (post,) = all_posts(app)
    assert "Login expires first" not in client.get("/").get_data(as_text=True)
    with app.app_context():
        # The login got shorter (Meta invalidated it early, say).
        stored = db.session.get(User, user.id)
        stored.token_expires_at = datetime.now(UTC) + timedelta(days=2)
        db.session.commit()
    assert "Login expires first" in client.get("/").get_data(as_text=True)
    page = client.get(f"/post/{post.id}/edit").get_data(as_text=True)
    assert "before this post is due" in page
