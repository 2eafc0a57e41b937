"""Carousels, people tags, collaborators and the first comment through the real
publishing engine: the in-process scheduler, a live HTTP server for Meta's
crawler, and the Graph API simulator as a real server."""

from __future__ import annotations

import concurrent.futures
import hashlib
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy import update

from models import CommentStatus
from models import Post
from models import PostEvent
from models import PostMedia
from models import PostStatus
from models import User
from models import db
from ospost.engine.comment import MAX_COMMENT_ATTEMPTS
from ospost.scheduler import publisher
from support import AuthActions
from support import seed_post
from support import soon
from support import staged_copies
from support import wait_for

IG = "17841400000000001"


@pytest.fixture
def env(scheduled_app, auth, live_server):
    """An app whose scheduler runs, served over HTTP, with a logged-in user."""
    client = scheduled_app.test_client()
    AuthActions(client, auth.world).login()
    with scheduled_app.app_context():
        user_id = db.session.scalars(select(User.id)).one()
    return scheduled_app, user_id


def post_now(app, post_id: int) -> None:
    """What "Post now" does: due at once, and woken."""
    with app.app_context():
        post = db.session.get(Post, post_id)
        post.retry(datetime.now(UTC))
        db.session.commit()
    publisher.wake(post_id)


def settled(app, post_id, timeout=20) -> Post:
    def check():
        with app.app_context():
            post = db.session.get(Post, post_id)
            if post.status not in (PostStatus.PUBLISHED, PostStatus.FAILED):
                return None
            if post.comment_status == CommentStatus.PENDING:
                return None
            post.media, post.events  # noqa: B018  (load before detaching)
            db.session.expunge_all()
            return post

    return wait_for(check, timeout=timeout)


def calls(world, endpoint) -> list[dict]:
    return [c for c in world.calls() if c["endpoint"] == endpoint]


def file_shas(app, post_id) -> list[str]:
    store = app.extensions["media_store"]
    with app.app_context():
        post = db.session.get(Post, post_id)
        return [
            hashlib.sha256(store.read(IG, m.filename)).hexdigest() for m in post.media
        ]


@pytest.mark.storage
def test_a_carousel_publishes_its_items_in_order_exactly_once(env, world):
    app, user_id = env
    tags = [[{"username": "jane.doe", "x": 0.3, "y": 0.6}], [], []]
    post_id = seed_post(
        app,
        user_id,
        images=3,
        caption="Three colours #rgb",
        tags=tags,
        collaborators=["chef.marco", "studio.lumen"],
    )
    shas = file_shas(app, post_id)
    post_now(app, post_id)
    done = settled(app, post_id)
    assert done.status == PostStatus.PUBLISHED, done.error_message

    (live,) = world.published()
    assert live["media_type"] == "CAROUSEL_ALBUM"
    assert live["caption"] == "Three colours #rgb"
    assert [c["image_sha256"] for c in live["children"]] == shas
    assert [c["alt_text"] for c in live["children"]] == [
        "Image 1",
        "Image 2",
        "Image 3",
    ]
    assert [c["user_tags"] for c in live["children"]] == tags
    # Collaborators go on the carousel only, never on its items.
    assert live["collaborators"] == ["chef.marco", "studio.lumen"]
    items = [c for c in world.containers() if c["is_carousel_item"]]
    assert all(c["collaborators"] == [] for c in items)
    # One container per item, one carousel, one publish; ids saved on the rows.
    assert len(calls(world, "create_item")) == 3
    assert len(calls(world, "create_carousel")) == 1
    assert len(calls(world, "publish")) == 1
    assert [m.container_id for m in done.media] == [c["id"] for c in items]
    assert all(m.containers_created == 1 for m in done.media)
    assert done.ig_media_id == live["media_id"] and done.permalink
    # Uploads and public copies are gone; thumbnails stay for the grid.
    store = app.extensions["media_store"]
    assert all(m.filename is None for m in done.media)
    assert all(store.exists(IG, m.thumbnail) for m in done.media)
    assert staged_copies(app) == []
    # One post against the quota.
    with app.app_context():
        assert db.session.get(User, user_id).quota_usage == 1


def test_a_single_image_gets_its_tags_and_collaborators(env, world):
    app, user_id = env
    tags = [[{"username": "nora.travels", "x": 0.5, "y": 0.5}]]
    post_id = seed_post(app, user_id, tags=tags, collaborators=["jane.doe"])
    post_now(app, post_id)
    assert settled(app, post_id).status == PostStatus.PUBLISHED
    (live,) = world.published()
    assert live["media_type"] == "IMAGE"
    assert (live["user_tags"], live["collaborators"]) == (tags[0], ["jane.doe"])
    assert calls(world, "create_item") == calls(world, "create_carousel") == []


def test_unready_items_are_waited_for_and_a_refusal_rechecks_them(env, world):
    app, user_id = env
    world.configure(container_ready_after=1.0)  # items finish between 0.5 and 1.5 s
    world.add_fault(
        {"endpoint": "create_carousel"}, {"http": 400, "code": 9007, "subcode": 2207027}
    )
    post_id = seed_post(app, user_id, images=4)
    post_now(app, post_id)
    done = settled(app, post_id)
    assert done.status == PostStatus.PUBLISHED, done.error_message
    assert len(calls(world, "create_item")) == 4
    assert len(calls(world, "create_carousel")) == 2
    # IN_PROGRESS answers back off and do not use up the call budget.
    assert done.attempts == 0


def test_an_expired_item_is_made_again_and_the_history_says_so(env, world):
    app, user_id = env
    world.add_fault({"endpoint": "create_item"}, {"container_status": "EXPIRED"})
    post_id = seed_post(app, user_id, images=2)
    post_now(app, post_id)
    done = settled(app, post_id)
    assert done.status == PostStatus.PUBLISHED, done.error_message
    assert len(calls(world, "create_item")) == 3
    assert [m.containers_created for m in done.media] == [2, 1]
    assert any("expired" in e.message for e in done.events)


def test_items_older_than_a_day_are_remade_only_then(env, world):
    """A retry reuses item containers Meta still has; expired ones are remade."""
    app, user_id = env
    world.add_fault({"endpoint": "create_carousel"}, {"code": 100, "subcode": 2207028})
    post_id = seed_post(app, user_id, images=3)
    post_now(app, post_id)
    failed = settled(app, post_id)
    assert failed.status == PostStatus.FAILED
    assert "2 to 10 images" in failed.error_message
    assert len(calls(world, "create_item")) == 3

    post_now(app, post_id)  # Retry: the items are still good
    assert settled(app, post_id).status == PostStatus.PUBLISHED
    assert len(calls(world, "create_item")) == 3
    assert len(calls(world, "create_carousel")) == 2

    # A day later, a new carousel of the same (still stored) items' rows: only
    # the item whose container is older than 24 h gets a new one.
    world.reset()
    world.configure(container_ready_after=0.2)
    AuthActions(app.test_client(), world).login()
    post_id = seed_post(app, user_id, images=2)
    post_now(app, post_id)
    assert settled(app, post_id).status == PostStatus.PUBLISHED
    world.add_fault({"endpoint": "create_carousel"}, {"code": 100, "subcode": 2207028})
    second = seed_post(app, user_id, images=2)
    post_now(app, second)
    assert settled(app, second).status == PostStatus.FAILED
    with app.app_context():
        first_item = db.session.scalars(
            select(PostMedia).where(PostMedia.post_id == second).order_by("position")
        ).first()
        db.session.execute(
            update(PostMedia)
            .where(PostMedia.id == first_item.id)
            .values(container_created_at=datetime.now(UTC) - timedelta(hours=25))
        )
        db.session.commit()
    before = len(calls(world, "create_item"))
    post_now(app, second)
    done = settled(app, second)
    assert done.status == PostStatus.PUBLISHED, done.error_message
    assert len(calls(world, "create_item")) == before + 1
    assert [m.containers_created for m in done.media] == [2, 1]
    assert any("image 1" in e.message and "24 hours" in e.message for e in done.events)


@pytest.mark.storage
def test_an_item_meta_cannot_process_gets_one_new_container_then_fails(env, world):
    app, user_id = env
    world.add_fault(
        {"endpoint": "create_item"},
        {"container_status": "ERROR", "status": "2207001"},
        times=None,
    )
    post_id = seed_post(app, user_id, images=2)
    post_now(app, post_id)
    failed = settled(app, post_id)
    assert failed.status == PostStatus.FAILED
    assert failed.error_message.startswith("Instagram could not process image 1")
    assert world.published() == []
    assert staged_copies(app) == []


def test_a_full_quota_waits_before_any_item_is_made(env, world):
    app, user_id = env
    with app.app_context():
        db.session.execute(
            update(User).values(
                quota_usage=100, quota_total=100, quota_checked_at=datetime.now(UTC)
            )
        )
        db.session.commit()
    post_id = seed_post(app, user_id, images=3)
    post_now(app, post_id)

    def waiting():
        with app.app_context():
            post = db.session.get(Post, post_id)
            return post.waiting_reason

    assert "publishing limit" in wait_for(waiting)
    assert calls(world, "create_item") == []


def test_an_unknown_collaborator_fails_the_post_with_advice(env, world):
    app, user_id = env
    post_id = seed_post(app, user_id, images=2, collaborators=["private.paula"])
    post_now(app, post_id)
    failed = settled(app, post_id)
    assert failed.status == PostStatus.FAILED
    assert "cannot be accessed: private.paula" in failed.error_message
    assert "public Instagram account" in failed.error_message
    assert (failed.error_code, failed.error_subcode) == (110, 2207018)


def test_several_workers_never_make_a_second_item_or_carousel(env, world):
    app, user_id = env
    world.configure(container_ready_after=0.3)
    post_id = seed_post(app, user_id, images=5, when=soon(600))
    publisher.cancel(post_id)

    def wake_all_at_once():
        with app.app_context():
            db.session.execute(
                update(Post)
                .where(Post.id == post_id)
                .values(next_attempt_at=datetime.now(UTC))
            )
            db.session.commit()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            return list(pool.map(publisher.engine.publish_post, [post_id] * 8))

    for _ in range(40):
        results = wake_all_at_once()
        assert sum(r is not None for r in results) <= 1
        if results and "published" in results:
            break
        time.sleep(0.1)
    assert settled(app, post_id).status == PostStatus.PUBLISHED
    assert len(calls(world, "create_item")) == 5
    assert len(calls(world, "create_carousel")) == 1
    assert len(world.published()) == 1


# -- the first comment -----------------------------------------------------------


def comments_on(world, media_id) -> list[str]:
    return [c["text"] for c in world.comments() if c["media_id"] == media_id]


def test_the_first_comment_is_posted_once_after_publishing(env, world):
    app, user_id = env
    text = "Shop link in bio 🌿 #new @jane.doe"
    post_id = seed_post(app, user_id, images=2, first_comment=text)
    post_now(app, post_id)
    done = settled(app, post_id)
    assert done.status == PostStatus.PUBLISHED
    assert done.comment_status == CommentStatus.POSTED
    (comment,) = world.comments()
    assert (comment["media_id"], comment["text"]) == (done.ig_media_id, text)
    assert done.comment_id == comment["id"]
    # Commented after the media went live.
    (publish,) = calls(world, "publish")
    (posted,) = calls(world, "comment")
    assert posted["t"] > publish["t"]


def test_a_lost_comment_answer_is_found_never_repeated(env, world):
    app, user_id = env
    world.add_fault({"endpoint": "comment"}, {"after": True, "http": 500})
    post_id = seed_post(app, user_id, first_comment="only once")
    post_now(app, post_id)
    done = settled(app, post_id)
    assert done.status == PostStatus.PUBLISHED
    assert done.comment_status == CommentStatus.POSTED
    assert comments_on(world, done.ig_media_id) == ["only once"]
    assert len(calls(world, "comment")) == 1
    assert len(calls(world, "comments")) == 1  # looked before trying again
    assert any("found" in e.message for e in done.events)


def test_a_refused_comment_leaves_the_post_published_and_can_be_retried(env, world):
    app, user_id = env
    world.add_fault({"endpoint": "comment"}, {"code": 10})
    post_id = seed_post(app, user_id, images=2, first_comment="Hello!")
    post_now(app, post_id)
    done = settled(app, post_id)
    assert done.status == PostStatus.PUBLISHED
    assert done.comment_status == CommentStatus.FAILED
    assert "manage comments" in done.comment_error
    assert world.comments() == []
    published_at = done.published_at

    with app.app_context():
        db.session.get(Post, post_id).retry_comment(datetime.now(UTC))
        db.session.commit()
    publisher.wake(post_id)
    again = settled(app, post_id)
    assert again.status == PostStatus.PUBLISHED
    assert again.comment_status == CommentStatus.POSTED
    assert again.published_at == published_at  # still the moment it went live
    assert comments_on(world, again.ig_media_id) == ["Hello!"]
    assert len(world.published()) == 1


def test_transient_comment_errors_are_retried_then_given_up(env, world):
    app, user_id = env
    world.add_fault({"endpoint": "comment"}, {"code": 2, "http": 500}, times=None)
    post_id = seed_post(app, user_id, first_comment="Hi")
    post_now(app, post_id)
    done = settled(app, post_id)
    assert done.status == PostStatus.PUBLISHED
    assert done.comment_status == CommentStatus.FAILED
    assert done.comment_attempts == MAX_COMMENT_ATTEMPTS
    assert len(calls(world, "comment")) == MAX_COMMENT_ATTEMPTS
    assert world.comments() == []


def test_a_comment_after_the_account_disconnected_never_fails_the_post(env, world):
    app, user_id = env
    world.add_fault({"endpoint": "comment"}, {"code": 190, "subcode": 460})
    post_id = seed_post(app, user_id, first_comment="Hi")
    post_now(app, post_id)
    done = settled(app, post_id)
    assert done.status == PostStatus.PUBLISHED
    assert done.comment_status == CommentStatus.FAILED
    assert "Retry comment" in done.comment_error
    with app.app_context():
        assert db.session.get(User, user_id).needs_reauth
        assert db.session.scalars(select(PostEvent.message)).all()


@pytest.mark.parametrize("comment", ["", "Hi"])
def test_a_live_post_is_never_failed_for_a_disconnected_account(env, world, comment):
    """The media id is saved, then the account is disconnected before the
    wake-up that finishes the post: it ends published, never failed."""
    app, user_id = env
    post_id = seed_post(app, user_id, first_comment=comment, when=soon(600))
    publisher.cancel(post_id)
    with app.app_context():
        post = db.session.get(Post, post_id)
        post.status = PostStatus.PUBLISHING
        post.ig_media_id = "17920000000000001"
        post.next_attempt_at = datetime.now(UTC)
        db.session.get(User, user_id).needs_reauth = True
        db.session.commit()
    assert publisher.engine.publish_post(post_id) == PostStatus.PUBLISHED
    done = settled(app, post_id)
    assert done.status == PostStatus.PUBLISHED and done.error_message is None
    assert done.comment_status == ("failed" if comment else None)
    assert calls(world, "media") == []  # no Graph call without a login
