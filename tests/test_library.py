"""The media library: an uploaded image can be reused in a new post (the same
file, not a copy), and a shared file stays exactly as long as some post uses
it: removing, editing or publishing one post never deletes a file another
post still needs, and the last one to let go removes it (no orphans)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select
from test_planning import JSON
from test_publisher import settled

from models import Post
from models import PostStatus
from models import db
from support import AuthActions
from support import create_post
from support import image_bytes
from support import post_row
from support import soon


def library(client) -> list[dict]:
    resp = client.get("/library", headers=JSON)
    assert resp.status_code == 200
    return resp.get_json()["items"]


def reuse(client, media_id: int, caption="Again", path="/post/add", **extra):
    data = {
        "caption": caption,
        "date": extra.pop("date", _date()),
        "item": f"lib:{media_id}",
        "item_alt_text": extra.pop("alt", "From the library"),
        "item_user_tags": "",
        **extra,
    }
    return client.post(
        path, data=data, content_type="multipart/form-data", headers=JSON
    )


def _date() -> str:
    from support import local_input

    return local_input(soon(120), "Europe/Paris")


def files_on_disk(app, user) -> set[str]:
    folder = app.extensions["media_store"].user_dir(user.ig_account_id)
    return {p.name for p in folder.glob("*.jpg")}


def posts(app) -> list[Post]:
    with app.app_context():
        rows = db.session.scalars(select(Post).order_by(Post.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def test_a_library_image_is_reused_without_a_copy(app, client, user):
    assert create_post(client, caption="First").status_code == 200
    (first,) = posts(app)
    (entry,) = library(client)
    assert entry["url"] == f"/uploads/{first.filename}"
    assert entry["thumb"] == f"/uploads/{first.thumbnail}"
    assert (entry["width"], entry["height"]) == (1080, 1350)
    before = files_on_disk(app, user)
    resp = reuse(client, entry["id"])
    assert resp.status_code == 200, resp.get_json()
    second = posts(app)[1]
    assert (second.filename, second.thumbnail) == (first.filename, first.thumbnail)
    assert (second.width, second.height) == (1080, 1350)
    assert second.alt_text == "From the library"
    assert files_on_disk(app, user) == before  # nothing new written
    # Listed once, however many posts use it.
    assert [e["url"] for e in library(client)] == [entry["url"]]
    # Both posts show the image.
    served = client.get(f"/uploads/{second.thumbnail}")
    assert served.status_code == 200
    served.close()
    add = client.get("/post/add").get_data(as_text=True)
    assert 'data-library-url="/library"' in add and "Choose from library" in add


def test_removing_posts_keeps_a_shared_file_until_the_last_one_goes(app, client, user):
    assert create_post(client, caption="First").status_code == 200
    (entry,) = library(client)
    assert reuse(client, entry["id"]).status_code == 200
    first, second = posts(app)
    shared = {first.filename, first.thumbnail}
    assert client.post(f"/post/{first.id}/remove", headers=JSON).status_code == 200
    assert shared <= files_on_disk(app, user)  # the second post still uses them
    assert [e["url"] for e in library(client)] == [f"/uploads/{first.filename}"]
    assert client.post(f"/post/{second.id}/remove", headers=JSON).status_code == 200
    assert files_on_disk(app, user) == set()  # no orphan left
    assert library(client) == []


def test_editing_away_a_shared_image_keeps_it_for_the_other_post(app, client, user):
    assert create_post(client, caption="First").status_code == 200
    (entry,) = library(client)
    assert reuse(client, entry["id"]).status_code == 200
    first, second = posts(app)
    # The first post gets a new image: the old one stays, the second uses it.
    resp = client.post(
        f"/post/{first.id}/edit",
        data={
            "caption": "First",
            "date": _date(),
            "image": (io.BytesIO(image_bytes(color=(10, 200, 10))), "new.jpg"),
        },
        content_type="multipart/form-data",
        headers=JSON,
    )
    assert resp.status_code == 200, resp.get_json()
    edited = post_row(app, first.id)
    assert edited.filename != second.filename
    on_disk = files_on_disk(app, user)
    assert {second.filename, second.thumbnail, edited.filename} <= on_disk
    # Now nobody else uses the new image: replacing it deletes it.
    (again,) = [e for e in library(client) if second.filename in e["url"]]
    resp = reuse(client, again["id"], path=f"/post/{first.id}/edit")
    assert resp.status_code == 200, resp.get_json()
    assert edited.filename not in files_on_disk(app, user)
    assert files_on_disk(app, user) == {second.filename, second.thumbnail}


def test_only_your_own_stored_images_can_be_taken(app, client, user, world):
    assert create_post(client).status_code == 200
    (entry,) = library(client)
    other = app.test_client()
    resp = AuthActions(other, world).login("multi", ig_id="17841400000000003")
    assert resp.status_code == 200, resp.get_json()
    resp = reuse(other, entry["id"])
    assert resp.status_code == 404  # another account's image: as if absent
    assert reuse(client, 2147483647).status_code == 400
    assert reuse(client, 10**30).status_code == 400  # past any row id: no 500
    assert library(other) == []
    assert len(posts(app)) == 1


@pytest.fixture
def env(scheduled_app, auth, live_server):
    client = scheduled_app.test_client()
    AuthActions(client, auth.world).login()
    return scheduled_app, client


def test_publishing_one_post_keeps_the_file_another_post_uses(env, world):
    app, client = env
    assert create_post(client, caption="First", when=soon(120)).status_code == 200
    (entry,) = library(client)
    assert reuse(client, entry["id"]).status_code == 200
    first, second = posts(app)
    store = app.extensions["media_store"]
    path = store.path("17841400000000001", first.filename)
    assert client.post(f"/post/{first.id}/publish", headers=JSON).status_code == 200
    done = settled(app, first.id)
    assert done.status == PostStatus.PUBLISHED, done.error_message
    assert path.exists()  # the second post is still to publish it
    assert client.post(f"/post/{second.id}/publish", headers=JSON).status_code == 200
    assert settled(app, second.id).status == PostStatus.PUBLISHED
    assert not path.exists()  # the last user published: gone
    assert len(world.published()) == 2
