"""Carousels, people tags, collaborators and first comments through the HTTP
routes: what the add and edit forms accept, what they refuse (with a sentence
the person can act on, leaving neither rows nor files), and Retry comment."""

from __future__ import annotations

import io
import json
from datetime import UTC
from datetime import datetime

import pytest
from sqlalchemy import select

from models import CommentStatus
from models import Post
from models import PostStatus
from models import db
from support import image_bytes
from support import local_input
from support import soon

JSON = {"Accept": "application/json"}
RED, GREEN, BLUE = (200, 30, 30), (30, 160, 30), (30, 60, 200)


def carousel_form(n=3, size=(1080, 1080), **fields):
    """What the composer sends: n images, their order, alt texts and tags."""
    colours = [RED, GREEN, BLUE, (90, 90, 90)]
    data = {
        "caption": "Three colours #rgb",
        "date": local_input(soon(), "Europe/Paris"),
        "media": [
            (io.BytesIO(image_bytes(*size, color=colours[i % 4])), f"{i}.jpg")
            for i in range(n)
        ],
        "item": [f"new:{i}" for i in range(n)],
        "item_alt_text": [f"Photo {i + 1}" for i in range(n)],
        "item_user_tags": ["[]"] * n,
    }
    data.update(fields)
    return data


def send(client, url, data):
    return client.post(url, data=data, content_type="multipart/form-data", headers=JSON)


def posts(app) -> list[Post]:
    with app.app_context():
        rows = db.session.scalars(select(Post).order_by(Post.id)).all()
        for row in rows:
            row.media  # noqa: B018  (loaded before detaching)
        db.session.expunge_all()
        return list(rows)


def files(app, user) -> list[str]:
    folder = app.extensions["media_store"].user_dir(user.ig_account_id)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def colour_of(app, user, name) -> tuple[int, int, int]:
    from PIL import Image

    path = app.extensions["media_store"].path(user.ig_account_id, name)
    with Image.open(path) as image:
        return image.convert("RGB").resize((1, 1)).getpixel((0, 0))


def near(colour, expected) -> bool:
    return all(abs(a - b) < 20 for a, b in zip(colour, expected, strict=True))


# -- creating ------------------------------------------------------------------


def test_a_carousel_is_stored_in_the_order_chosen(app, client, user):
    tags = json.dumps([{"username": "@Jane.Doe", "x": 0.25, "y": 0.5}])
    data = carousel_form(
        item=["new:2", "new:0", "new:1"],  # reordered in the filmstrip
        item_alt_text=["Blue", "Red", "Green"],
        item_user_tags=["[]", tags, "[]"],
        collaborators="@chef.marco, studio.lumen",
        first_comment="  Link in bio #shop  ",
    )
    resp = send(client, "/post/add", data)
    assert resp.status_code == 200, resp.get_json()
    (post,) = posts(app)
    assert post.media_type == "CAROUSEL" and post.is_carousel
    assert [m.position for m in post.media] == [0, 1, 2]
    assert [m.alt_text for m in post.media] == ["Blue", "Red", "Green"]
    expected = [BLUE, RED, GREEN]
    for item, colour in zip(post.media, expected, strict=True):
        assert near(colour_of(app, user, item.filename), colour)
    assert post.media[1].user_tags == [{"username": "jane.doe", "x": 0.25, "y": 0.5}]
    assert post.collaborators == ["chef.marco", "studio.lumen"]
    assert post.first_comment == "Link in bio #shop"
    assert post.comment_status == CommentStatus.PENDING
    assert len(files(app, user)) == 6  # 3 images, 3 thumbnails


def test_without_javascript_the_files_make_the_carousel_in_order(app, client, user):
    data = carousel_form(n=2)
    for name in ("item", "item_alt_text", "item_user_tags"):
        del data[name]
    data["alt_text"] = "The red one"
    assert send(client, "/post/add", data).status_code == 200
    (post,) = posts(app)
    assert post.media_type == "CAROUSEL"
    assert [m.alt_text for m in post.media] == ["The red one", ""]
    assert near(colour_of(app, user, post.media[0].filename), RED)


def test_one_image_stays_a_single_image_post(app, client, user):
    assert send(client, "/post/add", carousel_form(n=1)).status_code == 200
    (post,) = posts(app)
    assert post.media_type == "IMAGE" and len(post.media) == 1
    assert post.comment_status is None


def test_caption_and_first_comment_limits_are_counted_separately(app, client, user):
    thirty = " ".join(f"#tag{i}" for i in range(30))
    data = carousel_form(caption=thirty, first_comment=thirty)
    assert send(client, "/post/add", data).status_code == 200


def tags_of(n: int, **tag) -> str:
    base = {"username": "jane.doe", "x": 0.5, "y": 0.5}
    return json.dumps([{**base, "username": f"p{i}", **tag} for i in range(n)])


REFUSED = [
    ({"n": 11}, "You chose 11 images; an Instagram carousel holds at most 10."),
    (
        {"item_alt_text": ["ok", "a" * 1001, "ok"]},
        "The alt text of image 2 has 1001 characters; Instagram allows 1000.",
    ),
    (
        {"item_user_tags": ["[]", tags_of(21), "[]"]},
        "Image 2 has 21 people tagged; Instagram allows 20 per image.",
    ),
    ({"item_user_tags": [tags_of(1, username="no way!"), "[]", "[]"]}, "“no way!”"),
    (
        {"item_user_tags": [tags_of(1, username="a" * 31), "[]", "[]"]},
        "at most 30 characters",
    ),
    (
        {"item_user_tags": [tags_of(1, x=1.2), "[]", "[]"]},
        "The tag of @p0 on image 1 is outside the image",
    ),
    ({"item_user_tags": [tags_of(1, y=-0.1), "[]", "[]"]}, "outside the image"),
    ({"item_user_tags": ["{oops", "[]", "[]"]}, "could not be read"),
    (
        {"item_user_tags": [json.dumps([{"username": "a", "x": 0, "y": 0}] * 2)] * 3},
        "@a is tagged twice on image 1.",
    ),
    (
        {"collaborators": "a.b, c_d, e.f, g.h"},
        "You invited 4 collaborators; Instagram allows 3 per post.",
    ),
    ({"collaborators": "jane.doe, no-dashes"}, "“no-dashes” (collaborator)"),
    ({"collaborators": "ospost.demo"}, "cannot be invited as a collaborator"),
    (
        {"first_comment": "x" * 2201},
        "The first comment has 2201 characters; Instagram allows 2200.",
    ),
    (
        {"first_comment": " ".join(f"#t{i}" for i in range(31))},
        "The first comment has 31 hashtags",
    ),
    (
        {"first_comment": " ".join(f"@u{i}" for i in range(21))},
        "The first comment has 21 @mentions",
    ),
    ({"item": ["new:0", "new:1", "new:7"]}, "Reload the page"),
    ({"item": ["new:0", "new:1", "keep:1"]}, "Reload the page"),
    ({"item": ["new:0", "new:0", "new:1"]}, "Reload the page"),
]


@pytest.mark.parametrize(("fields", "message"), REFUSED)
def test_bad_carousels_are_refused_and_leave_nothing(
    app, client, user, fields, message
):
    n = fields.pop("n", 3)
    resp = send(client, "/post/add", carousel_form(n=n, **fields))
    assert resp.status_code == 400, resp.get_json()
    assert message in resp.get_json()["error"]
    assert posts(app) == []
    assert files(app, user) == []


def test_every_image_must_have_the_first_ones_shape(app, client, user):
    data = carousel_form(n=2)
    data["media"].append(
        (io.BytesIO(image_bytes(1080, 1350, color=BLUE)), "portrait.jpg")
    )
    resp = send(client, "/post/add", data | {"item": ["new:0", "new:2", "new:1"]})
    assert resp.status_code == 400
    assert resp.get_json()["error"].startswith(
        "Image 2 is 4:5 (0.80) but the first image is 1:1 (1.00)."
    )
    assert files(app, user) == []


def test_a_bad_image_among_many_is_named(app, client, user):
    data = carousel_form(n=2)
    data["media"].append((io.BytesIO(b"not an image"), "x.jpg"))
    data["item"] = ["new:0", "new:1", "new:2"]
    resp = send(client, "/post/add", data)
    assert resp.status_code == 400
    assert resp.get_json()["error"].startswith("Image 3: This file is not")
    assert files(app, user) == []


def test_nothing_is_left_when_the_database_refuses_a_carousel(
    app, client, user, monkeypatch
):
    def broken_commit():
        raise RuntimeError("database went away")

    with app.app_context():
        monkeypatch.setattr(db.session, "commit", broken_commit)
        resp = send(client, "/post/add", carousel_form())
    monkeypatch.undo()
    assert resp.status_code == 500
    assert posts(app) == [] and files(app, user) == []


# -- editing ---------------------------------------------------------------------


def test_edit_reorders_replaces_and_removes_images(app, client, user):
    assert send(client, "/post/add", carousel_form()).status_code == 200
    (before,) = posts(app)
    red, green, blue = before.media
    data = {
        "caption": "Edited",
        "date": local_input(soon(120), "Europe/Paris"),
        # Blue first, then a new grey image, then red; green is removed.
        "media": [(io.BytesIO(image_bytes(1080, 1080, color=(90, 90, 90))), "g")],
        "item": [f"keep:{blue.id}", "new:0", f"keep:{red.id}"],
        "item_alt_text": ["Blue first", "Grey", "Red last"],
        "item_user_tags": ["[]", "[]", "[]"],
        "collaborators": "",
        "first_comment": "",
    }
    resp = send(client, f"/post/{before.id}/edit", data)
    assert resp.status_code == 200, resp.get_json()
    (after,) = posts(app)
    assert [m.alt_text for m in after.media] == ["Blue first", "Grey", "Red last"]
    assert [m.id for m in after.media][::2] == [blue.id, red.id]
    assert after.media[0].filename == blue.filename  # kept, not uploaded again
    assert after.comment_status is None and after.collaborators == []
    assert green.filename not in files(app, user)
    assert green.thumbnail not in files(app, user)
    assert len(files(app, user)) == 6


def test_edit_down_to_one_image_makes_a_single_image_post(app, client, user):
    assert send(client, "/post/add", carousel_form(n=2)).status_code == 200
    (before,) = posts(app)
    data = {
        "caption": "Just one",
        "date": local_input(soon(120), "Europe/Paris"),
        "item": [f"keep:{before.media[1].id}"],
        "item_alt_text": ["Green"],
        "item_user_tags": ["[]"],
    }
    assert send(client, f"/post/{before.id}/edit", data).status_code == 200
    (after,) = posts(app)
    assert after.media_type == "IMAGE" and [m.alt_text for m in after.media] == [
        "Green"
    ]


def test_a_refused_edit_changes_nothing(app, client, user):
    assert send(client, "/post/add", carousel_form()).status_code == 200
    (before,) = posts(app)
    stored = files(app, user)
    data = carousel_form(n=2, collaborators="a, b, c, d")
    resp = send(client, f"/post/{before.id}/edit", data)
    assert resp.status_code == 400
    (after,) = posts(app)
    assert [m.id for m in after.media] == [m.id for m in before.media]
    assert files(app, user) == stored


def test_another_posts_images_cannot_be_kept(app, client, user):
    assert send(client, "/post/add", carousel_form(n=2)).status_code == 200
    assert send(client, "/post/add", carousel_form(n=2)).status_code == 200
    first, second = posts(app)
    data = {
        "caption": "",
        "date": local_input(soon(120), "Europe/Paris"),
        "item": [f"keep:{first.media[0].id}", f"keep:{second.media[0].id}"],
    }
    resp = send(client, f"/post/{first.id}/edit", data)
    assert resp.status_code == 400
    assert "Reload the page" in resp.get_json()["error"]


def test_every_image_of_a_carousel_is_served_to_its_owner_and_removed_with_it(
    app, client, user
):
    assert send(client, "/post/add", carousel_form()).status_code == 200
    (post,) = posts(app)
    for item in post.media:
        with client.get(f"/uploads/{item.filename}") as resp:
            assert resp.status_code == 200
    resp = client.post(f"/post/{post.id}/remove", headers=JSON)
    assert resp.status_code == 200
    assert files(app, user) == []


# -- retry comment -----------------------------------------------------------------


def test_retry_comment_only_for_a_live_post_whose_comment_failed(app, client, user):
    assert send(client, "/post/add", carousel_form(first_comment="Hi")).status_code
    (post,) = posts(app)
    url = f"/post/{post.id}/comment/retry"
    assert client.post(url, headers=JSON).status_code == 409  # not live yet
    with app.app_context():
        row = db.session.get(Post, post.id)
        row.mark_published("17920000000000001", datetime.now(UTC))
        row.comment_status = CommentStatus.FAILED
        row.comment_error = "Instagram had a problem."
        row.comment_attempts = 4
        db.session.commit()
    resp = client.post(url, headers=JSON)
    assert resp.status_code == 200, resp.get_json()
    (after,) = posts(app)
    assert after.status == PostStatus.PUBLISHED
    assert after.comment_status == CommentStatus.PENDING
    assert after.comment_attempts == 0 and after.next_attempt_at is not None
    assert client.post(url, headers=JSON).status_code == 409  # already queued


# -- the grid and the post page ----------------------------------------------------


def test_a_carousel_tile_shows_its_first_image_and_how_many(app, client, user):
    assert send(client, "/post/add", carousel_form(n=3)).status_code == 200
    assert send(client, "/post/add", carousel_form(n=1)).status_code == 200
    carousel, single = posts(app)
    html = client.get("/").get_data(as_text=True)
    tiles = html.split('<li class="tile ')[1:]
    mine = next(t for t in tiles if f'id="post-{carousel.id}"' in t)
    assert f"/uploads/{carousel.media[0].thumbnail}" in mine
    assert 'aria-label="Carousel of 3 images"' in mine
    other = next(t for t in tiles if f'id="post-{single.id}"' in t)
    assert "tile-type-carousel" not in other


def live_carousel(app, client, **changes) -> Post:
    tags = json.dumps([{"username": "jane.doe", "x": 0.5, "y": 0.5}])
    data = carousel_form(
        item_user_tags=["[]", tags, "[]"],
        collaborators="chef.marco",
        first_comment="Shop link in bio",
    )
    assert send(client, "/post/add", data).status_code == 200
    (post,) = posts(app)
    with app.app_context():
        row = db.session.get(Post, post.id)
        row.mark_published("17920000000000001", datetime.now(UTC))
        for key, value in changes.items():
            setattr(row, key, value)
        db.session.commit()
    return post


def test_the_post_page_shows_every_image_its_people_and_first_comment(
    app, client, user
):
    post = live_carousel(app, client, comment_status=CommentStatus.POSTED)
    html = client.get(f"/post/{post.id}/edit").get_data(as_text=True)
    assert 'aria-label="Carousel of 3 images, in order"' in html
    for number, item in enumerate(post.media, 1):
        assert f"/uploads/{item.filename}" in html
        assert f'alt="Photo {number}"' in html
        assert f"Image {number} of 3" in html
    assert "@jane.doe" in html and "@chef.marco" in html
    assert '<dd class="comment-text">Shop link in bio</dd>' in html
    assert "Publishing steps" in html
    assert "Retry comment" not in html
    steps = client.get(f"/post/{post.id}/status").get_json()["steps"]
    assert [s["label"] for s in steps] == [
        "Image 1",
        "Image 2",
        "Image 3",
        "Carousel container",
        "Published on Instagram",
        "First comment",
    ]
    assert {s["state"] for s in steps} == {"done"}


def test_a_failed_first_comment_is_explained_with_retry_comment(app, client, user):
    post = live_carousel(
        app,
        client,
        comment_status=CommentStatus.FAILED,
        comment_error="Instagram did not let Ospost comment.",
    )
    html = client.get(f"/post/{post.id}/edit").get_data(as_text=True)
    assert "The post is live, but its first comment was not posted" in html
    assert "Instagram did not let Ospost comment." in html
    assert f'action="/post/{post.id}/comment/retry"' in html
    assert ">Retry comment</button>" in html
    status = client.get(f"/post/{post.id}/status").get_json()
    assert status["comment_status"] == "failed"
    assert status["steps"][-1] == {
        "label": "First comment",
        "state": "failed",
        "detail": "Instagram did not let Ospost comment.",
    }


def test_publishing_steps_show_where_a_carousel_stands(app, client, user):
    assert send(client, "/post/add", carousel_form(n=2)).status_code == 200
    (post,) = posts(app)
    with app.app_context():
        row = db.session.get(Post, post.id)
        row.status = PostStatus.PUBLISHING
        row.media[0].container_id = "c1"
        row.media[0].container_status = "FINISHED"
        row.media[1].container_id = "c2"
        db.session.commit()
    steps = client.get(f"/post/{post.id}/status").get_json()["steps"]
    assert [(s["label"], s["state"]) for s in steps] == [
        ("Image 1", "done"),
        ("Image 2", "active"),
        ("Carousel container", "waiting"),
        ("Published on Instagram", "waiting"),
    ]
    html = client.get(f"/post/{post.id}/edit").get_data(as_text=True)
    assert "Instagram is processing it" in html


# -- with main's planning: the image hash and drafts ----------------------------


def sha_of(app, user, name) -> str:
    import hashlib

    path = app.extensions["media_store"].path(user.ig_account_id, name)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_image_hash_is_the_first_images_and_follows_a_reorder(app, client, user):
    assert send(client, "/post/add", carousel_form()).status_code == 200
    (post,) = posts(app)
    red, _, blue = post.media
    assert post.image_sha256 == sha_of(app, user, red.filename)
    data = {
        "caption": "Blue first",
        "date": local_input(soon(120), "Europe/Paris"),
        "item": [f"keep:{blue.id}", f"keep:{red.id}"],
        "item_alt_text": ["Blue", "Red"],
        "item_user_tags": ["[]", "[]"],
    }
    assert send(client, f"/post/{post.id}/edit", data).status_code == 200
    (after,) = posts(app)
    # A kept image that moved first gets its hash when the warning needs it.
    assert after.image_sha256 is None
    with app.app_context():
        from ospost.planning import image_hash

        fresh = db.session.get(Post, post.id)
        assert image_hash(fresh.user, fresh) == sha_of(app, user, blue.filename)


def test_a_carousel_draft_keeps_everything_and_is_checked_when_scheduled(
    app, client, user
):
    data = carousel_form(
        n=2, collaborators="@friend.one", first_comment="More soon", date=""
    )
    data["item_alt_text"] = ["a" * 1001, "Second"]  # too long for Instagram
    resp = send(client, "/drafts", data)
    assert resp.status_code == 200, resp.get_json()
    (draft,) = posts(app)
    assert (draft.status, draft.scheduled_at, len(draft.media)) == ("draft", None, 2)
    assert (draft.collaborators, draft.first_comment) == (["friend.one"], "More soon")
    from ospost.drafts import check_ready
    from ospost.post_form import FormError

    with app.app_context():
        with pytest.raises(FormError, match="alt text of image 1 has 1001"):
            check_ready(db.session.get(Post, draft.id))
