"""Another person's ids get a 404, on every route.

The routes are read from ``app.url_map``: a new route taking an id must be
listed here (``ID_VALUES`` or ``PUBLIC``) or ``test_every_route_with_an_id_is_covered``
fails, so none can be forgotten. Ids sent in a JSON or form body are tried
on the routes that read them (``BODY_CASES``).

The victim ("demo", @ospost.demo) has a scheduled post, a draft, a posting
slot and a feed thumbnail; the intruder ("other", @other.brand) is a real
logged-in person with an account and posts of their own.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from models import FeedItem
from models import Post
from models import PostingSlot
from models import User
from models import db
from support import AuthActions
from support import create_post
from support import image_bytes
from support import soon

JSON = {"Accept": "application/json"}
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
# Routes whose URL argument is not an id of someone's data, and why.
PUBLIC = {
    "static": "the app's own files",
    "vendor": "front-end libraries, an allow-list of names",
    "staged": "the public copies Meta fetches: unguessable, signed names",
    "calendar.feed_ics": "the calendar-feed token is the credential",
    "notify.unsubscribe": "a signed one-click unsubscribe token",
    "auth.deletion_status": "Meta's data-deletion confirmation code",
    "reels.add": "the kind of post to compose (reel or story)",
    "reels.add_draft": "the kind of draft to save (reel or story)",
}


@dataclass
class Victim:
    account_id: int
    post_id: int
    draft_id: int
    slot_id: int
    upload: str
    thumbnail: str
    feed_thumbnail: str
    media_id: int


# URL argument (and, for a name, the endpoint) -> the victim's value.
ID_VALUES = {
    "post_id": lambda v, endpoint: v.post_id,
    "account_id": lambda v, endpoint: v.account_id,
    "slot_id": lambda v, endpoint: v.slot_id,
    "name": lambda v, endpoint: {
        "posts.upload": v.upload,
        "feed.thumbnail": v.feed_thumbnail,
    }[endpoint],
}


@pytest.fixture
def people(app, world):
    victim_client = app.test_client()
    assert AuthActions(victim_client, world).login("demo").status_code == 200
    assert create_post(victim_client, caption="victim's").status_code == 200
    resp = victim_client.post(
        "/drafts",
        data={"caption": "victim's draft"},
        headers=JSON,
    )
    assert resp.status_code in (200, 201), resp.get_json()
    victim_client.post("/account/slots", data={"weekday": ["0"], "time": "09:00"})
    assert victim_client.post("/feed/refresh", headers=JSON).status_code == 200
    intruder = app.test_client()
    assert AuthActions(intruder, world).login("other").status_code == 200
    assert create_post(intruder, caption="intruder's").status_code == 200
    with app.app_context():
        user = db.session.scalar(select(User).where(User.ig_username == "ospost.demo"))
        post, draft = sorted(
            db.session.scalars(select(Post).where(Post.user_id == user.id)),
            key=lambda p: p.status != "scheduled",
        )
        feed = db.session.scalars(
            select(FeedItem).where(
                FeedItem.user_id == user.id, FeedItem.thumbnail.is_not(None)
            )
        ).first()
        slot = db.session.scalar(
            select(PostingSlot).where(PostingSlot.user_id == user.id)
        )
        victim = Victim(
            account_id=user.id,
            post_id=post.id,
            draft_id=draft.id,
            slot_id=slot.id,
            upload=post.filename,
            thumbnail=post.thumbnail,
            feed_thumbnail=feed.thumbnail,
            media_id=post.media[0].id,
        )
    # The victim reaches each of these; the intruder must not.
    for url in (
        f"/uploads/{victim.upload}",
        f"/feed/thumbnails/{victim.feed_thumbnail}",
    ):
        with victim_client.get(url) as resp:
            assert resp.status_code == 200
    return victim, victim_client, intruder


def victim_state(app, victim: Victim) -> tuple:
    with app.app_context():
        posts = [
            (p.id, p.status, p.caption, p.scheduled_at, len(p.media))
            for p in db.session.scalars(
                select(Post).where(Post.user_id == victim.account_id).order_by(Post.id)
            )
        ]
        slots = db.session.scalars(
            select(PostingSlot.id).where(PostingSlot.user_id == victim.account_id)
        ).all()
        return db.session.get(User, victim.account_id) is not None, posts, slots


def routes_with_ids(app):
    for rule in app.url_map.iter_rules():
        if rule.arguments and rule.endpoint not in PUBLIC:
            yield rule


def test_every_route_with_an_id_is_covered(app):
    unknown = [
        f"{rule.rule} ({rule.endpoint}): {sorted(set(rule.arguments) - set(ID_VALUES))}"
        for rule in routes_with_ids(app)
        if set(rule.arguments) - set(ID_VALUES)
    ]
    assert unknown == [], "teach tests/test_idor.py these routes' ids"
    names = {r.endpoint for r in routes_with_ids(app) if "name" in r.arguments}
    assert names == {"posts.upload", "feed.thumbnail"}, names


def test_another_persons_ids_in_urls_are_404_on_every_route(app, people):
    victim, _, intruder = people
    before = victim_state(app, victim)
    tried = 0
    for rule in routes_with_ids(app):
        values = {arg: ID_VALUES[arg](victim, rule.endpoint) for arg in rule.arguments}
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **values)
        for method in sorted(rule.methods - SKIPPED_METHODS):
            for headers in (JSON, {}):
                resp = intruder.open(url, method=method, headers=headers, data={})
                assert resp.status_code == 404, (method, url, resp.status_code)
                tried += 1
        # The draft's id too, where a post id goes.
        if "post_id" in rule.arguments:
            with app.test_request_context():
                url = url_for(rule.endpoint, **{**values, "post_id": victim.draft_id})
            for method in sorted(rule.methods - SKIPPED_METHODS):
                resp = intruder.open(url, method=method, headers=JSON, data={})
                assert resp.status_code == 404, (method, url)
    assert tried >= 30
    assert victim_state(app, victim) == before


def test_another_persons_ids_in_bodies_are_404(app, people):
    victim, victim_client, intruder = people
    before = victim_state(app, victim)
    with app.app_context():
        mine = db.session.scalars(
            select(Post).where(Post.user_id != victim.account_id)
        ).one()
        my_id, my_media = mine.id, mine.media[0].id
    # The grid's reorder, with the victim's post among the intruder's.
    resp = intruder.post("/", json={"order": [victim.post_id, my_id]}, headers=JSON)
    assert resp.status_code == 404
    # Undo of a move, naming the victim's post.
    resp = intruder.post(
        "/schedule/restore",
        json={
            "posts": [
                {
                    "id": victim.post_id,
                    "scheduled_at": soon(300).isoformat(),
                    "updated_at": soon(0).isoformat(),
                }
            ]
        },
        headers=JSON,
    )
    assert resp.status_code == 404
    # Editing one's own post while claiming the victim's image.
    resp = intruder.post(
        f"/post/{my_id}/edit",
        data={
            "caption": "mine",
            "date": soon(120).strftime("%Y-%m-%dT%H:%M"),
            "item": [f"keep:{victim.media_id}", f"keep:{my_media}"],
            "item_alt_text": ["", ""],
        },
        headers=JSON,
    )
    assert resp.status_code == 404, resp.get_json()
    # Choosing the victim's image from the library, on a new post or an edit.
    for url in ("/post/add", f"/post/{my_id}/edit"):
        resp = intruder.post(
            url,
            data={
                "caption": "x",
                "date": soon(120).strftime("%Y-%m-%dT%H:%M"),
                "item": [f"lib:{victim.media_id}"],
                "item_alt_text": [""],
            },
            headers=JSON,
        )
        assert resp.status_code == 404, (url, resp.get_json())
    # Queueing the victim's draft with the intruder's drafts.
    resp = intruder.post("/bulk/queue", json={"ids": [victim.draft_id]}, headers=JSON)
    assert resp.status_code == 404
    # Adding a new post never takes a kept image: nothing to claim there.
    resp = intruder.post(
        "/post/add",
        data={
            "caption": "x",
            "date": soon(120).strftime("%Y-%m-%dT%H:%M"),
            "item": [f"keep:{victim.media_id}"],
            "image": (io.BytesIO(image_bytes()), "p.jpg"),
        },
        headers=JSON,
        content_type="multipart/form-data",
    )
    assert resp.status_code in (200, 400, 404)
    assert victim_state(app, victim) == before
    with victim_client.get(f"/uploads/{victim.upload}") as resp:
        assert resp.status_code == 200
