"""PostgreSQL specifics (run with --postgres): the server restarting under a
running app, after which the very next request and the very next publishing
claim work; a busy pool that asks the server nothing extra to know its
connections are alive (``ospost/database.py``); and a claim that skips a post
another claim has locked instead of waiting for it (``ospost/engine/lease.py``)."""

from __future__ import annotations

import time
from datetime import UTC
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy import update

from models import Post
from models import PostStatus
from models import db
from models import now_utc
from ospost import database
from ospost.scheduler import publisher
from support import AuthActions
from support import create_post
from support import post_row
from support import serve_app
from support import soon


@pytest.fixture
def server(postgres):
    if postgres is None:
        pytest.skip("needs a database server to restart: runs with --postgres")
    return postgres


def stale_pool(app, size: int = 3) -> None:
    """Leave ``size`` idle connections in the pool, as a busy worker does."""
    with app.app_context():
        connections = [db.engine.connect() for _ in range(size)]
        for connection in connections:
            connection.close()


def pings(app, monkeypatch) -> list:
    """Record every liveness ping the pool sends from now on."""
    with app.app_context():
        dialect = db.engine.dialect
    sent = []
    real = dialect.do_ping

    def counting(dbapi_conn):
        sent.append(dbapi_conn)
        return real(dbapi_conn)

    monkeypatch.setattr(dialect, "do_ping", counting)
    return sent


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_the_next_request_and_claim_after_a_restart_work(make_app, world, server, mode):
    app = make_app()
    client = app.test_client()
    AuthActions(client, world).login()
    assert (
        create_post(client, caption="after the restart", when=soon(60)).status_code
        == 200
    )
    with app.app_context():
        post_id = db.session.scalar(db.select(Post.id))
    stale_pool(app)
    assert client.get("/").status_code == 200

    server.stop(mode)  # every pooled connection is now dead
    server.restart()

    page = client.get("/")
    assert page.status_code == 200
    assert "after the restart" in page.get_data(as_text=True)
    with app.app_context():
        now = datetime.now(UTC)
        db.session.execute(update(Post).values(next_attempt_at=now, scheduled_at=now))
        db.session.commit()
    # One publishing step: claim, stage, create the container, save under the lease.
    with serve_app(app):  # Meta's crawler fetches the staged copy
        assert publisher.engine.publish_post(post_id) == PostStatus.PUBLISHING
    row = post_row(app, post_id)
    assert row.container_id and row.lease_owner is None
    assert [c["caption"] for c in world.containers()] == ["after the restart"]


def test_a_busy_pool_sends_no_ping_and_an_idle_one_does(make_app, world, server,
                                                         monkeypatch):  # fmt: skip
    app = make_app()
    client = app.test_client()
    AuthActions(client, world).login()
    assert client.get("/").status_code == 200
    sent = pings(app, monkeypatch)
    for _ in range(5):
        assert client.get("/").status_code == 200
    assert sent == []  # pool_pre_ping would have sent five

    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert client.get("/").status_code == 200
    assert len(sent) == 1  # idle "too long": asked once, and it answered


def test_a_claim_skips_a_post_another_claim_holds_instead_of_waiting(
    make_app, world, server
):
    app = make_app()
    client = app.test_client()
    AuthActions(client, world).login()
    assert create_post(client, when=soon(60)).status_code == 200
    with app.app_context():
        post_id = db.session.scalar(db.select(Post.id))
        db.session.execute(update(Post).values(next_attempt_at=now_utc()))
        db.session.commit()
        leases = publisher.engine.leases
        with db.engine.connect() as other:  # another worker, mid-claim
            lock = select(Post.id).where(Post.id == post_id).with_for_update()
            other.execute(lock)
            started = time.monotonic()
            assert leases.claim(post_id, now_utc()) is None
            assert time.monotonic() - started < 1  # did not wait for the lock
            other.rollback()  # that claim went nowhere: the post is free again
        claimed = leases.claim(post_id, now_utc())
    assert claimed is not None and claimed[0].id == post_id
    assert post_row(app, post_id).lease_owner == leases.owner


def test_the_pool_keeps_a_connection_for_every_publishing_thread(make_app, server):
    app = make_app(PUBLISH_THREADS=4)  # 4 new-post + 4 follow-up threads, and more

    def backends_at_once(count: int) -> set[int]:
        """Server sessions that ``count`` threads using the database at once get."""
        with app.app_context():
            connections = [db.engine.connect() for _ in range(count)]
            pids = {
                c.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                for c in connections
            }
            for connection in connections:
                connection.close()
        return pids

    first = backends_at_once(12)
    assert len(first) == 12
    # A second burst finds them all still open: no session is started again.
    assert backends_at_once(12) == first
