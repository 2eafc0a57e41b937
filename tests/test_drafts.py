"""Drafts: saved with whatever they have, never published, kept off the home
grid, shown on the calendar's shelf, and scheduled by the edit form, the queue
or the calendar (only once they have an image)."""

from __future__ import annotations

import io
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy import update
from test_planning import JSON
from test_planning import act
from test_planning import add_slots

from models import Post
from models import PostStatus
from models import db
from ospost.scheduler import publisher
from support import create_post
from support import image_bytes
from support import local_input
from support import post_row
from support import soon

PARIS = "Europe/Paris"


def save_draft(client, path="/drafts", *, image=None, **fields):
    data = {"caption": "", "alt_text": "", "date": "", **fields}
    if image is not None:
        data["image"] = (io.BytesIO(image), "photo.jpg")
    return client.post(
        path, data=data, content_type="multipart/form-data", headers=JSON
    )


def only_post(app) -> Post:
    with app.app_context():
        post = db.session.scalars(select(Post)).one()
        db.session.expunge(post)
        return post


def test_a_draft_keeps_a_caption_with_no_date_and_no_image(app, client, user):
    resp = save_draft(client, caption="Idea: the harbour at dawn")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"ok": True, "redirect": "/calendar#drafts"}
    post = only_post(app)
    assert (post.status, post.scheduled_at, post.filename) == (
        PostStatus.DRAFT,
        None,
        None,
    )
    assert post.next_attempt_at is None
    # Off the home grid (it previews Instagram): on the shelves above it and
    # on the calendar.
    home = client.get("/").get_data(as_text=True)
    assert "Idea: the harbour" not in home.split('id="grid-area"')[1]
    assert "Idea: the harbour" in home.split('id="drafts-shelf"')[1]
    page = client.get("/calendar").get_data(as_text=True)
    shelf = page.split('id="drafts"')[1].split("</section>")[0]
    assert "Idea: the harbour at dawn" in shelf and "No date" in shelf
    assert "No image" in shelf
    edit = client.get(f"/post/{post.id}/edit").get_data(as_text=True)
    assert "Not scheduled: drafts never publish" in edit
    assert ">Schedule post</button>" in edit and ">Save draft</button>" in edit


def test_a_draft_keeps_its_image_and_a_date_in_mind(app, client, user):
    when = soon(60 * 24 * 3)
    resp = save_draft(
        client, image=image_bytes(), caption="Dated", date=local_input(when, PARIS)
    )
    assert resp.status_code == 200, resp.get_json()
    post = only_post(app)
    assert post.status == PostStatus.DRAFT and post.scheduled_at == when
    assert post.filename and post.image_sha256
    assert f'data-status="draft" data-local="{local_input(when, PARIS)}"' in (
        client.get(f"/calendar?date={when.date().isoformat()}").get_data(as_text=True)
    )


def test_bad_draft_input_is_refused_and_nothing_is_kept(app, client, user):
    resp = save_draft(client, caption="x", date="tomorrow-ish")
    assert resp.status_code == 400
    assert "Or clear the date to save without one." in resp.get_json()["error"]
    resp = save_draft(client, caption="x" * 20_001)
    assert resp.status_code == 400
    assert resp.get_json()["error"] == (
        "The caption has 20,001 characters; a draft keeps up to 20,000."
    )
    resp = save_draft(client, image=b"not an image")
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.scalars(select(Post)).all() == []


def test_drafts_never_publish(scheduled_app, auth, world):
    app = scheduled_app
    client = auth.client = app.test_client()
    auth.login()
    assert save_draft(client, image=image_bytes(), caption="Never").status_code == 200
    post = only_post(app)
    assert not publisher.has_job(post.id)
    calls = len(world.calls())  # logging in asked Meta for the profile
    # Even a draft that looks due (a date long past, a wake-up time set) is not
    # taken by a wake-up, the sweep, or a restart's recovery.
    with app.app_context():
        past = datetime.now(UTC) - timedelta(minutes=5)
        db.session.execute(
            update(Post)
            .where(Post.id == post.id)
            .values(scheduled_at=past, next_attempt_at=past)
        )
        db.session.commit()
    assert publisher.publish_post(post.id) is None
    publisher.sweep()
    publisher.recover()
    time.sleep(1.5)  # more than one sweep interval
    assert not publisher.has_job(post.id)
    assert post_row(app, post.id).status == PostStatus.DRAFT
    assert world.calls()[calls:] == []
    assert world.published() == []


def test_scheduling_a_draft_needs_an_image(app, client, user):
    save_draft(client, caption="No picture yet")
    post = only_post(app)
    add_slots(client, [0, 3, 6], "10:00")
    resp = act(client, f"/calendar/post/{post.id}/queue")
    assert resp.status_code == 400
    assert resp.get_json()["error"] == (
        "Add an image to this draft before scheduling it."
    )
    edit = client.post(
        f"/post/{post.id}/edit",
        data={"caption": "x", "date": local_input(soon(600), PARIS)},
        headers=JSON,
    )
    assert edit.status_code == 400
    assert edit.get_json()["error"] == "Choose an image to post."
    assert act(client, f"/post/{post.id}/publish").status_code == 409
    assert only_post(app).status == PostStatus.DRAFT


def test_add_to_queue_schedules_a_draft_and_undo_makes_it_a_draft_again(
    app, client, user
):
    save_draft(client, image=image_bytes(), caption="Ready")
    post = only_post(app)
    add_slots(client, range(7), "10:00")
    resp = act(client, f"/calendar/post/{post.id}/queue")
    assert resp.status_code == 200, resp.get_json()
    scheduled = post_row(app, post.id)
    assert scheduled.status == PostStatus.SCHEDULED
    assert scheduled.next_attempt_at == scheduled.scheduled_at
    assert resp.get_json()["moves"][0]["before"] is None
    undo = act(client, "/calendar/undo", undo=resp.get_json()["undo"])
    assert undo.status_code == 200
    back = post_row(app, post.id)
    assert (back.status, back.scheduled_at, back.next_attempt_at) == (
        PostStatus.DRAFT,
        None,
        None,
    )


def test_a_draft_with_a_long_caption_cannot_be_scheduled(app, client, user):
    tags = " ".join(f"#t{i}" for i in range(31))
    save_draft(client, image=image_bytes(), caption=tags)
    post = only_post(app)
    local = local_input(soon(600), PARIS)
    resp = act(client, f"/calendar/post/{post.id}/move", local=local)
    assert resp.status_code == 400
    assert resp.get_json()["error"] == (
        "The caption has 31 hashtags; Instagram allows 30."
    )


def test_save_as_draft_takes_a_scheduled_post_off_the_schedule(all_jobs_app, auth):
    app = all_jobs_app
    client = auth.client = app.test_client()
    auth.login()
    when = soon(60 * 24)
    assert create_post(client, when=when).status_code == 200
    post = only_post(app)
    assert publisher.has_job(post.id)
    resp = save_draft(
        client,
        f"/post/{post.id}/draft",
        caption="Later, maybe",
        date=local_input(when, PARIS),
    )
    assert resp.status_code == 200, resp.get_json()
    draft = post_row(app, post.id)
    assert (draft.status, draft.scheduled_at, draft.caption) == (
        PostStatus.DRAFT,
        when,
        "Later, maybe",
    )
    assert draft.filename == post.filename  # the image stays
    assert not publisher.has_job(post.id)
    # The edit form's Schedule puts it back on the schedule.
    resp = client.post(
        f"/post/{post.id}/edit",
        data={"caption": "Now for real", "date": local_input(when, PARIS)},
        headers=JSON,
    )
    assert resp.status_code == 200, resp.get_json()
    assert post_row(app, post.id).status == PostStatus.SCHEDULED
    assert publisher.has_job(post.id)


def test_other_peoples_posts_cannot_become_drafts(app, client, user, auth):
    from support import AuthActions

    assert create_post(client).status_code == 200
    post = only_post(app)
    intruder = app.test_client()
    AuthActions(intruder, auth.world).login("other")
    resp = save_draft(intruder, f"/post/{post.id}/draft", caption="mine now")
    assert resp.status_code == 404
    assert only_post(app).status == PostStatus.SCHEDULED
