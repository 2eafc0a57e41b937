"""The Drafts shelf on the home page: drafts with their thumbnails above the
grid; Schedule gives one the next free slot (or a chosen time), with Undo."""

from __future__ import annotations

import io
from datetime import UTC
from datetime import datetime

from sqlalchemy import select
from test_planning import JSON
from test_planning import add_slots
from test_planning import set_user

from models import Post
from models import PostStatus
from models import db
from ospost import shelf as shelf_module
from support import image_bytes
from support import post_row

NOW = datetime(2027, 1, 4, 12, tzinfo=UTC)  # a Monday


def draft(client, caption, image=True) -> int:
    data = {"caption": caption, "date": ""}
    if image:
        data["image"] = (io.BytesIO(image_bytes()), "photo.jpg")
    resp = client.post(
        "/drafts", data=data, content_type="multipart/form-data", headers=JSON
    )
    assert resp.status_code == 200, resp.get_json()
    return max(p for p in _ids(client.application))


def _ids(app):
    with app.app_context():
        return db.session.scalars(select(Post.id)).all()


def shelf_html(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return page.split('id="drafts-shelf"')[1].split("</section>")[0]


def test_the_shelf_lists_drafts_with_thumbnails_and_none_without(app, client, user):
    assert 'id="drafts-shelf"' not in client.get("/").get_data(as_text=True)
    with_image = draft(client, "Harbour at dawn\nsecond line")
    bare = draft(client, "Just an idea", image=False)
    html = shelf_html(client)
    assert "Harbour at dawn" in html and "second line" not in html
    thumb = post_row(app, with_image).thumbnail
    assert f'src="/uploads/{thumb}"' in html
    assert "Just an idea" in html and "No image" in html
    assert f'action="/drafts/{bare}/schedule"' in html
    assert "Set posting slots" in html  # none yet


def test_schedule_takes_the_next_slot_and_undo_makes_it_a_draft_again(
    app, client, user, monkeypatch
):
    monkeypatch.setattr(shelf_module, "now_utc", lambda: NOW)
    set_user(app, user.id, token_expires_at=None)
    post_id = draft(client, "Harbour")
    resp = client.post(f"/drafts/{post_id}/schedule", json={}, headers=JSON)
    assert resp.status_code == 400
    assert "You have no posting slots yet" in resp.get_json()["error"]
    add_slots(client, [2], "09:00")
    resp = client.post(f"/drafts/{post_id}/schedule", json={}, headers=JSON)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["message"] == "Scheduled for Jan 06, 2027 09:00 CET."
    post = post_row(app, post_id)
    assert post.status == PostStatus.SCHEDULED
    assert post.scheduled_at == datetime(2027, 1, 6, 8, tzinfo=UTC)
    assert 'id="drafts-shelf"' not in client.get("/").get_data(as_text=True)
    undo = client.post("/calendar/undo", json={"undo": body["undo"]}, headers=JSON)
    assert undo.status_code == 200
    assert post_row(app, post_id).status == PostStatus.DRAFT


def test_schedule_at_a_chosen_time_and_refusals(app, client, user, monkeypatch):
    monkeypatch.setattr(shelf_module, "now_utc", lambda: NOW)
    set_user(app, user.id, token_expires_at=None)
    bare = draft(client, "No image yet", image=False)
    resp = client.post(f"/drafts/{bare}/schedule", json={"local": "2027-01-10T10:00"})
    assert resp.status_code == 400
    assert "Add an image to this draft" in resp.get_json()["error"]
    post_id = draft(client, "Harbour")
    resp = client.post(
        f"/drafts/{post_id}/schedule", json={"local": "2026-12-01T10:00"}
    )
    assert resp.status_code == 400 and "future" in resp.get_json()["error"]
    # Without JavaScript: a plain form post comes back to the home page.
    resp = client.post(
        f"/drafts/{post_id}/schedule",
        data={"local": "2027-01-10T10:30"},
        follow_redirects=True,
    )
    assert "Scheduled for Jan 10, 2027 10:30 CET." in resp.get_data(as_text=True)
    assert post_row(app, post_id).scheduled_at == datetime(
        2027, 1, 10, 9, 30, tzinfo=UTC
    )
    again = client.post(f"/drafts/{post_id}/schedule", json={}, headers=JSON)
    assert again.status_code == 409
