"""Uploads and the database pool: no request holds a pooled connection while it
reads or decodes an image, a full decoding budget answers 503 with Retry-After
and saves nothing, and a saved post is never reported as an error."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from models import Post
from models import PostStatus
from models import db
from ospost import auth as auth_module
from ospost import decode_budget
from ospost import images
from ospost import sessions
from ospost.posts import BUSY_MESSAGE
from support import create_post
from support import local_input
from support import soon

TZ = "Europe/Paris"


def posts_and_files(app, user) -> tuple[list[Post], list[str]]:
    with app.app_context():
        rows = db.session.scalars(select(Post).order_by(Post.id)).all()
        for row in rows:
            db.session.expunge(row)
    folder = app.extensions["media_store"].user_dir(user.ig_account_id)
    files = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    return list(rows), files


def edit_post(client, post_id: int, *, image: bytes | None = None, **headers):
    data = {"caption": "edited", "alt_text": "", "date": local_input(soon(90), TZ)}
    if image is not None:
        data["image"] = (io.BytesIO(image), "photo.jpg")
    return client.post(
        f"/post/{post_id}/edit",
        data=data,
        content_type="multipart/form-data",
        headers={"Accept": "application/json", **headers},
    )


def jpeg(size=(1600, 2000)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (40, 90, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def connections_during_decoding(app, monkeypatch) -> list[int]:
    """Pooled connections checked out at the moment each image is decoded."""
    seen: list[int] = []
    original = images.process_upload

    def watched(stream, budget=None, **options):
        seen.append(db.engine.pool.checkedout())
        return original(stream, budget, **options)

    monkeypatch.setattr(images, "process_upload", watched)
    return seen


def test_no_connection_is_held_while_a_new_post_is_processed(
    app, client, user, connections_during_decoding
):
    assert create_post(client, image=jpeg()).status_code == 200
    assert connections_during_decoding == [0]


def test_no_connection_is_held_while_an_edited_image_is_processed(
    app, client, user, connections_during_decoding
):
    assert create_post(client, image=jpeg()).status_code == 200
    (post,), _ = posts_and_files(app, user)
    assert edit_post(client, post.id, image=jpeg((1080, 1080))).status_code == 200
    assert connections_during_decoding == [0, 0]


def test_an_anonymous_login_holds_no_connection_while_it_asks_meta(
    app, client, auth, monkeypatch
):
    # A visitor with a stored session (a flash message), but nobody logged in.
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "hello")]
    seen: list[int] = []
    original = auth_module.login_with_token

    def watched(*args, **kwargs):
        seen.append(db.engine.pool.checkedout())
        return original(*args, **kwargs)

    monkeypatch.setattr(auth_module, "login_with_token", watched)
    assert auth.login().status_code == 200
    assert seen == [0]


@pytest.fixture
def full_budget(app):
    """Every decoding slot taken, and no waiting: the next upload is turned away."""
    budget = decode_budget.DecodeBudget(workers=1, memory=1 << 30, wait=0)
    app.extensions["decode_budget"] = budget
    held, release = threading.Event(), threading.Event()

    def occupy():
        with budget.reserve(1):
            held.set()
            release.wait(10)

    threading.Thread(target=occupy, daemon=True).start()
    assert held.wait(5)
    yield
    release.set()


def test_a_full_budget_answers_503_with_retry_after_and_saves_nothing(
    app, client, user, full_budget
):
    resp = create_post(client, image=jpeg())
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "1"
    assert resp.get_json() == {"ok": False, "error": BUSY_MESSAGE}
    assert posts_and_files(app, user) == ([], [])


def test_a_full_budget_shows_the_form_again_to_a_browser_without_script(
    app, client, user, full_budget
):
    resp = client.post(
        "/post/add",
        data={
            "caption": "kept",
            "date": local_input(soon(), TZ),
            "image": (io.BytesIO(jpeg()), "photo.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "1"
    page = resp.get_data(as_text=True)
    assert "busy processing other photos" in page
    assert "kept" in page  # what the person typed is still there
    assert posts_and_files(app, user) == ([], [])


def test_a_full_budget_leaves_an_edited_post_as_it_was(app, client, user):
    assert create_post(client, image=jpeg()).status_code == 200
    (before,), files = posts_and_files(app, user)
    app.extensions["decode_budget"] = decode_budget.DecodeBudget(1, 1 << 30, wait=0)
    with app.extensions["decode_budget"].reserve(1):
        resp = edit_post(client, before.id, image=jpeg((1080, 1080)))
    assert resp.status_code == 503
    (after,), files_after = posts_and_files(app, user)
    assert (after.caption, after.filename) == (before.caption, before.filename)
    assert files_after == files


def test_a_post_claimed_for_publishing_during_processing_is_not_overwritten(
    app, client, user, monkeypatch
):
    assert create_post(client, image=jpeg()).status_code == 200
    (before,), files = posts_and_files(app, user)
    original = images.process_upload

    def publisher_claims_meanwhile(stream, budget=None, **options):
        with db.engine.begin() as conn:
            conn.execute(
                update(Post)
                .where(Post.id == before.id)
                .values(status=PostStatus.PUBLISHING)
            )
        return original(stream, budget, **options)

    monkeypatch.setattr(images, "process_upload", publisher_claims_meanwhile)
    resp = edit_post(client, before.id, image=jpeg((1080, 1080)))
    assert resp.status_code == 409
    assert resp.get_json()["error"] == (
        "This post is being published or is already live."
    )
    (after,), files_after = posts_and_files(app, user)
    assert (after.caption, after.filename) == (before.caption, before.filename)
    assert files_after == files  # the new image's files were removed again


def test_a_saved_post_is_reported_saved_even_if_the_session_cannot_be_written(
    app, client, user, monkeypatch
):
    def locked(*args, **kwargs):
        raise OperationalError("UPDATE web_sessions", {}, Exception("locked"))

    # Saving the post's flash message fails; the post itself is committed.
    monkeypatch.setattr(sessions, "update", locked)
    resp = create_post(client, image=jpeg())
    assert resp.status_code == 200
    assert resp.get_json() == {"ok": True, "redirect": "/"}
    (post,), files = posts_and_files(app, user)
    assert files == sorted([post.filename, post.thumbnail])


def test_the_palette_png_bomb_is_refused_with_a_clear_message(app, client, user):
    buffer = io.BytesIO()
    Image.new("P", (7000, 7000), 3).save(buffer, "PNG")
    resp = create_post(client, image=buffer.getvalue())
    assert resp.status_code == 400
    assert "too many pixels (7000×7000)" in resp.get_json()["error"]
    assert "25 megapixels" in resp.get_json()["error"]
    assert posts_and_files(app, user) == ([], [])
