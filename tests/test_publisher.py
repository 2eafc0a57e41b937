"""The publishing engine, through the real scheduler, a live HTTP server for
Meta's crawler, and the Graph API simulator as a real server."""

from __future__ import annotations

import concurrent.futures
import hashlib
import threading
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from werkzeug.serving import make_server

from models import Post
from models import PostStatus
from models import User
from models import db
from ospost.engine import LostLease
from ospost.engine import Step
from ospost.engine.folded import fold
from ospost.engine.lease import _SAVE
from ospost.engine.lease import Leases
from ospost.engine.quota import BUMP_QUOTA
from ospost.notify import events as notify
from ospost.notify.events import EVENTS
from ospost.scheduler import publisher
from support import AuthActions
from support import create_post
from support import post_row
from support import serve_app
from support import soon
from support import staged_copies
from support import wait_for

JSON = {"Accept": "application/json"}


@pytest.fixture
def env(scheduled_app, auth, live_server):
    """A logged-in browser on an app whose scheduler runs, served over HTTP."""
    client = scheduled_app.test_client()
    AuthActions(client, auth.world).login()
    return scheduled_app, client


def only_post(app) -> Post:
    with app.app_context():
        post = db.session.scalars(select(Post)).one()
        db.session.expunge(post)
        return post


def settled(app, post_id, statuses=(PostStatus.PUBLISHED, PostStatus.FAILED)):
    def check():
        post = post_row(app, post_id)
        return post if post.status in statuses else None

    return wait_for(check, timeout=15)


def upload_sha(app, post) -> str:
    data = app.extensions["media_store"].read("17841400000000001", post.filename)
    return hashlib.sha256(data).hexdigest()


def typed(seconds: float) -> str:
    """What a person in Paris types for ``seconds`` from now (with seconds)."""
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    return when.astimezone(ZoneInfo("Europe/Paris")).strftime("%Y-%m-%dT%H:%M:%S")


def calls_for(world, endpoint):
    return [c for c in world.calls() if c["endpoint"] == endpoint]


@pytest.mark.storage
def test_post_now_publishes_exactly_once_and_cleans_up(env, world, media_backend):
    app, client = env
    caption = "Now! 🌊 #sea & <friends> 100%"
    assert create_post(client, caption=caption, alt_text="Waves").status_code == 200
    post = only_post(app)
    sha = upload_sha(app, post)
    resp = client.post(f"/post/{post.id}/publish", headers=JSON)
    assert resp.status_code == 200
    assert resp.get_json()["status"] in ("scheduled", "publishing", "published")

    done = settled(app, post.id)
    assert done.status == PostStatus.PUBLISHED, done.error_message
    (live,) = world.published()
    assert live["caption"] == caption
    assert live["alt_text"] == "Waves"
    assert live["image_sha256"] == sha
    assert live["format"] == "JPEG"
    assert done.ig_media_id == live["media_id"]
    assert done.permalink.startswith("https://www.instagram.com/p/")
    assert done.published_at is not None
    # Image and public copy are gone; the thumbnail stays for the grid.
    store = app.extensions["media_store"]
    assert not store.exists("17841400000000001", post.filename)
    assert store.exists("17841400000000001", post.thumbnail)
    assert staged_copies(app) == []
    (container,) = world.containers()
    if media_backend == "s3":  # Meta fetched a presigned URL, not APP_URL
        assert container["image_url"].startswith(app.config["S3_ENDPOINT_URL"])
        assert "X-Amz-Expires=3600&" in container["image_url"]
        assert "X-Amz-Signature=" in container["image_url"]
    else:
        assert "/static/tmp/" in container["image_url"]
    assert done.graph_calls == 5  # limit, create, status, publish, permalink
    publishing = [c for c in world.calls() if c["endpoint"] != "debug_token"]
    assert not any(c["token_in_url"] for c in publishing)
    status = client.get(f"/post/{post.id}/status").get_json()
    assert status["status"] == "published" and status["permalink"] == done.permalink


def test_scheduled_post_publishes_on_time_without_user_action(env, world):
    app, client = env
    assert create_post(client, date=typed(2), caption="on time").status_code == 200
    post = only_post(app)
    done = settled(app, post.id)
    assert done.status == PostStatus.PUBLISHED
    (create,) = calls_for(world, "create")
    started = datetime.fromisoformat(create["t"])
    assert timedelta(0) <= started - post.scheduled_at < timedelta(seconds=2)


def test_transient_errors_are_retried(env, world):
    app, client = env
    world.add_fault({"endpoint": "create"}, {"http": 500}, times=2)
    world.add_fault({"endpoint": "publish"}, {"http": 400, "code": 2}, times=1)
    assert create_post(client).status_code == 200
    post = only_post(app)
    client.post(f"/post/{post.id}/publish", headers=JSON)
    done = settled(app, post.id)
    assert done.status == PostStatus.PUBLISHED
    assert done.attempts == 3
    assert len(world.published()) == 1


def test_media_not_ready_is_polled_again(env, world):
    app, client = env
    world.add_fault(
        {"endpoint": "publish"}, {"http": 400, "code": 9007, "subcode": 2207027}
    )
    assert create_post(client).status_code == 200
    post = only_post(app)
    client.post(f"/post/{post.id}/publish", headers=JSON)
    assert settled(app, post.id).status == PostStatus.PUBLISHED
    assert len(world.published()) == 1


def test_token_errors_fail_and_ask_to_reconnect_then_retry_works(env, world, auth):
    app, client = env
    world.add_fault({"endpoint": "create"}, {"http": 400, "code": 190, "subcode": 463})
    assert create_post(client).status_code == 200
    post = only_post(app)
    client.post(f"/post/{post.id}/publish", headers=JSON)
    failed = settled(app, post.id)
    assert failed.status == PostStatus.FAILED
    assert "Log in again" in failed.error_message
    assert (failed.error_code, failed.error_subcode) == (190, 463)
    with app.app_context():
        assert db.session.scalars(select(User)).one().needs_reauth
    resp = client.post(f"/post/{post.id}/publish", headers=JSON)
    assert resp.status_code == 409  # no retries until the user logs in again
    AuthActions(client, world).login()
    resp = client.post(f"/post/{post.id}/publish", headers=JSON)
    assert resp.status_code == 200
    assert settled(app, post.id).status == PostStatus.PUBLISHED
    assert len(world.published()) == 1


def test_quota_reached_waits_for_the_window(env, world):
    app, client = env
    world.add_fault(
        {"endpoint": "publish"},
        {"http": 400, "code": 9, "subcode": 2207042},
        times=None,
    )
    assert create_post(client).status_code == 200
    post = only_post(app)
    client.post(f"/post/{post.id}/publish", headers=JSON)

    def waiting():
        row = post_row(app, post.id)
        return row if row.waiting_reason else None

    row = wait_for(waiting)
    assert row.status == PostStatus.PUBLISHING
    assert "publishing limit" in row.waiting_reason
    assert row.next_attempt_at - datetime.now(UTC) > timedelta(seconds=50)
    assert world.published() == []


def test_permanent_errors_fail_with_metas_message_and_keep_the_upload(env, world):
    app, client = env
    world.add_fault(
        {"endpoint": "create"},
        {
            "http": 400,
            "code": 100,
            "subcode": 2207040,
            "message": "Too many tags",
            "user_msg": "You can't tag more than 20 accounts.",
        },
    )
    assert create_post(client).status_code == 200
    post = only_post(app)
    client.post(f"/post/{post.id}/publish", headers=JSON)
    failed = settled(app, post.id)
    assert failed.status == PostStatus.FAILED
    assert failed.error_message == "You can't tag more than 20 accounts."
    store = app.extensions["media_store"]
    assert store.path("17841400000000001", post.filename).exists()
    assert list(store.staging_root.iterdir()) == []
    assert world.published() == []


def test_error_container_is_recreated_once(env, world):
    app, client = env
    world.add_fault(
        {"endpoint": "status"}, {"container_status": "ERROR", "status": "2207001"}
    )
    assert create_post(client).status_code == 200
    post = only_post(app)
    client.post(f"/post/{post.id}/publish", headers=JSON)
    assert settled(app, post.id).status == PostStatus.PUBLISHED
    assert len(calls_for(world, "create")) == 2
    assert len(world.published()) == 1


def test_container_failing_twice_fails_the_post(env, world):
    app, client = env
    world.add_fault(
        {"endpoint": "status"},
        {"container_status": "ERROR", "status": "2207001"},
        times=2,
    )
    assert create_post(client).status_code == 200
    post = only_post(app)
    client.post(f"/post/{post.id}/publish", headers=JSON)
    failed = settled(app, post.id)
    assert failed.status == PostStatus.FAILED
    assert "could not process" in failed.error_message
    assert world.published() == []


def test_lost_publish_response_is_never_published_twice(env, world):
    app, client = env
    world.add_fault({"endpoint": "publish"}, {"after": True, "http": 500})
    assert create_post(client, caption="only once").status_code == 200
    post = only_post(app)
    client.post(f"/post/{post.id}/publish", headers=JSON)
    done = settled(app, post.id)
    assert done.status == PostStatus.PUBLISHED
    (live,) = world.published()
    assert done.ig_media_id == live["media_id"]
    assert len(calls_for(world, "publish")) == 1


@pytest.fixture
def quick_checks(make_app, world):
    """Like ``env``, with container checks 50 ms apart so backoff stays short."""
    app = make_app(start_scheduler=True, PUBLISH_CHECK_INTERVAL_SECONDS=0.05)
    client = app.test_client()
    AuthActions(client, world).login()
    with serve_app(app):
        yield app, client


def test_malformed_answers_never_decide_a_possibly_published_post(quick_checks, world):
    """A lost media_publish answer, then container checks answered with 400s
    whose bodies are not Meta's: the post stays "checking with Instagram"
    until Meta answers clearly, and ends published, once."""
    app, client = quick_checks
    # Meta publishes, then the answer is lost after a second; meanwhile the
    # status checks start answering with bare 400s.
    world.add_fault({"endpoint": "publish"}, {"after": True, "delay": 1, "http": 500})
    assert create_post(client, caption="live or not?").status_code == 200
    post = only_post(app)
    client.post(f"/post/{post.id}/publish", headers=JSON)
    wait_for(lambda: post_row(app, post.id).publish_requested_at, timeout=15)
    world.add_fault({"endpoint": "status"}, {"http": 400}, times=6)

    def checking():
        row = post_row(app, post.id)
        if row.status == PostStatus.FAILED:
            raise AssertionError(f"failed while uncertain: {row.error_message}")
        return row if row.publish_requested_at and row.waiting_reason else None

    waiting = wait_for(checking, timeout=15)
    assert waiting.status == PostStatus.PUBLISHING
    assert "checking with instagram" in waiting.waiting_reason.lower()
    done = wait_for(
        lambda: (row := post_row(app, post.id)).status != PostStatus.PUBLISHING and row,
        timeout=60,
    )
    assert done.status == PostStatus.PUBLISHED, done.error_message
    (live,) = world.published()
    assert done.ig_media_id == live["media_id"]
    assert len(calls_for(world, "publish")) == 1


def test_removed_and_edited_posts_never_publish_at_their_old_time(env, world):
    app, client = env
    assert create_post(client, date=typed(2), caption="to remove").status_code == 200
    assert create_post(client, date=typed(2), caption="to edit").status_code == 200
    with app.app_context():
        removed, edited = db.session.scalars(select(Post).order_by(Post.id)).all()
        removed_id, edited_id = removed.id, edited.id
    client.post(f"/post/{removed_id}/remove")
    client.post(
        f"/post/{edited_id}/edit",
        data={"caption": "to edit", "date": typed(3600)},
        content_type="multipart/form-data",
    )
    time.sleep(3.5)
    assert world.published() == []
    assert calls_for(world, "create") == []
    assert post_row(app, edited_id).status == PostStatus.SCHEDULED


def test_restart_recovers_pending_and_overdue_posts(make_app, auth, world):
    app = make_app()
    client = app.test_client()
    AuthActions(client, world).login()
    for caption in ("late 1h", "late 25h", "future"):
        assert create_post(client, caption=caption).status_code == 200
    now = datetime.now(UTC)
    with app.app_context():
        shifts = {
            "late 1h": now - timedelta(hours=1),
            "late 25h": now - timedelta(hours=25),
            "future": now + timedelta(seconds=2),
        }
        for caption, when in shifts.items():
            db.session.execute(
                update(Post)
                .where(Post.caption == caption)
                .values(scheduled_at=when, next_attempt_at=when)
            )
        db.session.commit()
    # The server comes back: a new scheduler with nothing in memory.
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app.config["APP_URL"] = f"http://127.0.0.1:{server.server_port}"
    try:
        publisher.start()

        def by_caption():
            with app.app_context():
                rows = db.session.scalars(select(Post)).all()
                states = {p.caption: (p.status, p.error_message) for p in rows}
            done = all(s in ("published", "failed") for s, _ in states.values())
            return states if done else None

        states = wait_for(by_caption, timeout=15)
    finally:
        server.shutdown()
    assert states["late 1h"][0] == "published"
    assert states["future"][0] == "published"
    assert states["late 25h"] == (
        "failed",
        "Missed while the server was down. Reschedule it.",
    )
    assert sorted(p["caption"] for p in world.published()) == ["future", "late 1h"]


def due_now(app, post_id: int) -> None:
    with app.app_context():
        db.session.execute(
            update(Post)
            .where(Post.id == post_id)
            .values(next_attempt_at=datetime.now(UTC))
        )
        db.session.commit()


def test_sweep_picks_up_posts_without_a_job(env, world):
    app, client = env
    assert create_post(client).status_code == 200
    post = only_post(app)
    due_now(app, post.id)
    publisher.cancel(post.id)  # as if the job was lost
    assert settled(app, post.id).status == PostStatus.PUBLISHED


def test_claim_lets_only_one_caller_work_on_a_post(env, world):
    app, client = env
    assert create_post(client, when=soon(600)).status_code == 200
    post = only_post(app)
    publisher.cancel(post.id)
    due_now(app, post.id)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(publisher.publish_post, [post.id] * 8))
    assert sum(r is not None for r in results) == 1
    assert settled(app, post.id).status == PostStatus.PUBLISHED
    assert len(world.published()) == 1
    assert len(calls_for(world, "create")) == 1


def test_slow_processing_is_waited_for_not_failed(env, world):
    app, client = env
    world.configure(container_ready_after=2.5)
    assert create_post(client).status_code == 200
    post = only_post(app)
    client.post(f"/post/{post.id}/publish", headers=JSON)
    done = settled(app, post.id)
    assert done.status == PostStatus.PUBLISHED, done.error_message
    # Checks back off (0.3 s, 0.6 s, 1.2 s...) and do not eat the call budget.
    assert 1 <= done.status_checks <= 4
    assert done.graph_calls <= 5


def test_a_worker_that_lost_its_lease_changes_nothing(app, client, user):
    """A worker whose lease ran out while Meta answered must not record the
    media id, nor count the post against the account's publishing quota."""
    assert create_post(client, when=soon(600)).status_code == 200
    post = only_post(app)
    due_now(app, post.id)
    with app.app_context():
        db.session.execute(update(User).values(quota_usage=5, quota_total=100))
        db.session.commit()
        claimed = publisher.engine.leases.claim(post.id, datetime.now(UTC))
        assert claimed is not None
        snapshot, account, items = claimed
        # Another worker took the post over in the meantime.
        db.session.execute(
            update(Post).where(Post.id == post.id).values(lease_owner="other:1:x")
        )
        db.session.commit()
        step = Step(
            post=snapshot, user=account, token="t", now=datetime.now(UTC), items=items
        )
        # The writes a final save carries (on PostgreSQL folded into the save's
        # one statement): none of them may happen without the lease.
        step.pending.append((BUMP_QUOTA, {"user_id": account.id}))
        Leases.forget_files(step)
        when = datetime.now(UTC)
        step.pending.append(
            notify.pending(notify.post_published(snapshot, permalink=None, when=when))
        )
        with pytest.raises(LostLease):
            publisher.engine.leases.save(step, ig_media_id="17900000000000001")
        db.session.expire_all()
        assert db.session.get(User, account.id).quota_usage == 5
        after = db.session.get(Post, post.id)
        assert after.ig_media_id is None and after.lease_owner == "other:1:x"
        assert after.media[0].filename
        assert db.session.scalar(select(func.count()).select_from(EVENTS)) == 0


def test_a_save_commits_its_pending_writes_with_it(app, client, user):
    """The final save's writes (quota count, forgotten files, the outbox event)
    commit with it: on PostgreSQL as one folded statement; two writes to one
    table keep the transaction (one statement must not update a row twice)."""
    assert create_post(client, when=soon(600)).status_code == 200
    post = only_post(app)
    due_now(app, post.id)
    with app.app_context():
        db.session.execute(update(User).values(quota_usage=5, quota_total=100))
        db.session.commit()
        snapshot, account, items = publisher.engine.leases.claim(
            post.id, datetime.now(UTC)
        )
        step = Step(
            post=snapshot, user=account, token="t", now=datetime.now(UTC), items=items
        )
        step.pending.append((BUMP_QUOTA, {"user_id": account.id}))
        Leases.forget_files(step)
        when = datetime.now(UTC)
        step.pending.append(
            notify.pending(notify.post_published(snapshot, permalink=None, when=when))
        )
        folded = fold(_SAVE, {"ig_media_id": "1"}, {}, step.pending)
        assert folded is not None
        assert fold(_SAVE, {}, {}, step.pending + step.pending[:1]) is None
        publisher.engine.leases.save(step, ig_media_id="17900000000000001")
        assert step.pending == [] and snapshot.ig_media_id == "17900000000000001"
        db.session.expire_all()
        assert db.session.get(User, account.id).quota_usage == 6
        after = db.session.get(Post, post.id)
        assert after.ig_media_id == "17900000000000001"
        assert after.lease_owner == publisher.engine.leases.owner
        assert after.media[0].filename is None
        events = db.session.execute(select(EVENTS.c.kind, EVENTS.c.user_id)).all()
        assert [tuple(e) for e in events] == [("post.published", account.id)]
