""" "Add to queue" on the New post and Edit post forms: the post is saved and
takes the next free posting slot, or nothing is saved and the person is told
why."""

from __future__ import annotations

import io
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import select
from test_planning import JSON
from test_planning import add_slots
from test_planning import set_user

from models import Post
from models import PostStatus
from models import db
from ospost import queue_form
from support import create_post
from support import image_bytes
from support import post_row

NOW = datetime(2027, 1, 4, 12, tzinfo=UTC)  # a Monday, 13:00 in Paris


def queue(client, path="/post/queue", *, image=True, **fields):
    data = {"caption": "Queued", "alt_text": "", "date": "", **fields}
    if image:
        data["image"] = (io.BytesIO(image_bytes()), "photo.jpg")
    return client.post(
        path, data=data, content_type="multipart/form-data", headers=JSON
    )


def stored_files(app, user) -> list[str]:
    folder = app.extensions["media_store"].user_dir(user.ig_account_id)
    return sorted(p.name for p in folder.glob("*.jpg")) if folder.is_dir() else []


def post_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Post))


def test_add_to_queue_on_the_new_post_form_takes_the_next_slot(
    app, client, user, monkeypatch
):
    monkeypatch.setattr(queue_form, "now_utc", lambda: NOW)
    set_user(app, user.id, token_expires_at=None)
    add_slots(client, [0, 2], "09:00")  # Monday and Wednesday 09:00 Paris
    resp = queue(client)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["redirect"] == "/"
    with app.app_context():
        first = db.session.scalars(select(Post)).one()
        assert first.status == PostStatus.SCHEDULED
        # Monday 09:00 has passed: Wednesday 09:00 CET is 08:00 UTC.
        assert first.scheduled_at == datetime(2027, 1, 6, 8, tzinfo=UTC)
        assert first.next_attempt_at == first.scheduled_at
    # The next one takes the following slot: Monday the 11th.
    assert queue(client, caption="Second").status_code == 200
    with app.app_context():
        times = db.session.scalars(select(Post.scheduled_at).order_by(Post.id)).all()
    assert times[1] == datetime(2027, 1, 11, 8, tzinfo=UTC)
    home = client.get("/").get_data(as_text=True)
    assert "Added to the queue: Jan 06, 2027 09:00 CET" in home


def test_add_to_queue_without_slots_or_image_saves_nothing(app, client, user):
    resp = queue(client)
    assert resp.status_code == 400
    assert "You have no posting slots yet" in resp.get_json()["error"]
    assert post_count(app) == 0 and stored_files(app, user) == []
    add_slots(client, [0, 1, 2, 3, 4, 5, 6], "09:00")
    resp = queue(client, image=False)
    assert resp.status_code == 400
    assert resp.get_json()["fields"] == {"image": "Choose an image to post."}
    # Instagram's limits apply, as for Schedule post.
    resp = queue(client, caption="#a " * 31)
    assert resp.status_code == 400
    assert "hashtags" in resp.get_json()["error"]
    assert post_count(app) == 0 and stored_files(app, user) == []


def test_add_to_queue_on_the_edit_form_saves_the_changes(
    app, client, user, monkeypatch
):
    monkeypatch.setattr(queue_form, "now_utc", lambda: NOW)
    set_user(app, user.id, token_expires_at=None)
    add_slots(client, [2], "09:00")
    assert create_post(client).status_code == 200
    with app.app_context():
        post_id = db.session.scalar(select(Post.id))
    resp = queue(client, f"/post/{post_id}/queue", image=False, caption="Changed")
    assert resp.status_code == 200, resp.get_json()
    post = post_row(app, post_id)
    assert post.caption == "Changed" and post.status == PostStatus.SCHEDULED
    assert post.scheduled_at == datetime(2027, 1, 6, 8, tzinfo=UTC)
    assert post.filename  # the image it had is kept
    edit = client.get(f"/post/{post_id}/edit").get_data(as_text=True)
    assert f'formaction="/post/{post_id}/queue">Add to queue</button>' in edit
    add = client.get("/post/add").get_data(as_text=True)
    assert 'formaction="/post/queue">Add to queue</button>' in add
    assert NOW + timedelta(days=2) > post.scheduled_at
