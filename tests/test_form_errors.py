"""The post forms report every problem at once, each at its field, and flatten
transparent images on the colour the person picked."""

from __future__ import annotations

import io
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select

from models import Post
from models import db
from support import create_post
from support import image_bytes
from support import local_input
from support import soon

JSON = {"Accept": "application/json"}


def stored_posts(app) -> list[Post]:
    with app.app_context():
        rows = db.session.scalars(select(Post)).all()
        db.session.expunge_all()
        return list(rows)


def test_every_problem_is_reported_at_its_field(app, client, user):
    past = datetime.now(UTC) - timedelta(hours=1)
    resp = create_post(
        client,
        caption=" ".join(f"#tag{i}" for i in range(31)),
        alt_text="a" * 1001,
        when=past,
        image=image_bytes(200, 250),
    )
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["ok"] is False
    fields = body["fields"]
    assert set(fields) == {"caption", "alt_text", "date", "image"}
    assert "31 hashtags" in fields["caption"]
    assert "1001 characters" in fields["alt_text"]
    assert "in the future" in fields["date"]
    assert "320" in fields["image"]
    # The summary names them all too, for anything that reads only "error".
    assert all(message in body["error"] for message in fields.values())
    assert stored_posts(app) == []


def test_a_missing_image_and_date_are_both_reported(app, client, user):
    resp = client.post("/post/add", data={"caption": "hi", "date": ""}, headers=JSON)
    assert resp.status_code == 400
    assert resp.get_json()["fields"] == {
        "date": "Choose when to publish the post.",
        "image": "Choose an image to post.",
    }


def test_edit_reports_fields_and_changes_nothing(app, client, user):
    assert create_post(client, caption="keep").status_code == 200
    (post,) = stored_posts(app)
    resp = client.post(
        f"/post/{post.id}/edit",
        data={"caption": "x" * 2300, "date": "tomorrow"},
        headers=JSON,
    )
    assert resp.status_code == 400
    assert set(resp.get_json()["fields"]) == {"caption", "date"}
    (after,) = stored_posts(app)
    assert (after.caption, after.scheduled_at) == ("keep", post.scheduled_at)


def test_without_javascript_the_form_marks_each_field(app, client, user):
    resp = client.post(
        "/post/add", data={"caption": "x" * 2300, "alt_text": "kept", "date": ""}
    )
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    for field in ("caption", "date", "image"):
        tag = re.search(rf'<(?:input|textarea)[^>]*\bid="{field}"[^>]*>', page)
        assert tag, field
        assert 'aria-invalid="true"' in tag.group(0), field
        assert f"{field}-error" in tag.group(0), field
        assert f'id="{field}-error"' in page
    # The composer's alt text field describes the first image without JavaScript.
    alt = re.search(r'<textarea[^>]*\bid="alt_text"[^>]*>([^<]*)<', page)
    assert "aria-invalid" not in alt.group(0) and alt.group(1) == "kept"


@pytest.mark.parametrize(
    ("background", "expected"),
    [("#ff0000", (255, 0, 0)), ("#1a2b3c", (26, 43, 60)), ("", (255, 255, 255))],
)
def test_transparent_png_is_flattened_on_the_chosen_colour(
    app, client, user, background, expected
):
    image = Image.new("RGBA", (1080, 1350), (0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    resp = create_post(client, image=buffer.getvalue(), background=background)
    assert resp.status_code == 200, resp.get_json()
    (post,) = stored_posts(app)
    path = app.extensions["media_store"].path(user.ig_account_id, post.filename)
    with Image.open(path) as stored:
        pixel = stored.convert("RGB").getpixel((540, 675))
    assert all(abs(a - b) <= 3 for a, b in zip(pixel, expected, strict=True)), pixel


def test_a_malformed_colour_is_reported_at_its_field(app, client, user):
    resp = create_post(client, background="red; drop table")
    assert resp.status_code == 400
    assert set(resp.get_json()["fields"]) == {"background"}
    assert stored_posts(app) == []


def test_valid_posts_still_go_through(app, client, user):
    resp = create_post(client, when=soon(90), background="#00ff00")
    assert resp.status_code == 200
    assert local_input(stored_posts(app)[0].scheduled_at, "Europe/Paris") == (
        local_input(soon(90), "Europe/Paris")
    )
