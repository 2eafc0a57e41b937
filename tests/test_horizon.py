"""The scheduling horizon: wake-up jobs only for posts due soon, later posts
brought in as time passes, and every route still moving jobs as before."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from models import Post
from models import PostStatus
from models import User
from models import db
from ospost.scheduler import _ENTERING_HORIZON
from ospost.scheduler import _WITHIN_HORIZON
from ospost.scheduler import publisher
from support import AuthActions
from support import create_post
from support import local_input
from support import post_row
from support import serve_app
from support import soon
from support import wait_for

JSON = {"Accept": "application/json"}


def typed(seconds: float) -> str:
    """What a person in Paris types for ``seconds`` from now (with seconds)."""
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    return when.astimezone(ZoneInfo("Europe/Paris")).strftime("%Y-%m-%dT%H:%M:%S")


def job_time(post_id: int) -> datetime | None:
    job = publisher.scheduler.get_job(f"post-{post_id}")
    return job.next_run_time if job else None


def posts(app) -> list[Post]:
    with app.app_context():
        rows = db.session.scalars(select(Post).order_by(Post.id)).all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def logged_in(app, world):
    client = app.test_client()
    assert AuthActions(client, world).login().status_code == 200
    return client


def edit(client, post_id: int, when: datetime):
    date = local_input(when, "Europe/Paris")
    return client.post(
        f"/post/{post_id}/edit",
        data={"caption": "edited", "alt_text": "", "date": date},
        content_type="multipart/form-data",
        headers=JSON,
    )


def test_a_post_beyond_the_horizon_gets_its_job_as_it_comes_near(make_app, world):
    """Start-up leaves a later post without a job; the horizon step gives it one
    before it is due, and it publishes on time."""
    app = make_app(PUBLISH_HORIZON_SECONDS=2)
    client = logged_in(app, world)
    with serve_app(app):
        assert create_post(client, date=typed(1), caption="near").status_code == 200
        assert create_post(client, date=typed(6), caption="far").status_code == 200
        near, far = posts(app)
        publisher.start()
        assert job_time(near.id) is not None
        assert job_time(far.id) is None

        wait_for(lambda: job_time(far.id), timeout=5)
        assert job_time(far.id) == far.next_attempt_at

        def published():
            row = post_row(app, far.id)
            return row if row.status == PostStatus.PUBLISHED else None

        wait_for(published, timeout=15)
    creates = sorted(c["t"] for c in world.calls() if c["endpoint"] == "create")
    started = datetime.fromisoformat(creates[-1])  # the far post's, made last
    assert timedelta(0) <= started - far.scheduled_at < timedelta(seconds=2)
    assert sorted(p["caption"] for p in world.published()) == ["far", "near"]


def test_create_edit_reorder_and_post_now_move_jobs_across_the_horizon(make_app, world):
    app = make_app(start_scheduler=True)  # the default horizon: one hour
    client = logged_in(app, world)
    near, far = soon(30), soon(180)
    assert create_post(client, when=near, caption="a").status_code == 200
    assert create_post(client, when=far, caption="b").status_code == 200
    a, b = posts(app)
    assert job_time(a.id) == near and job_time(b.id) is None

    # Edited from later to soon: a job at once. Edited far away: its job goes.
    sooner = soon(20)
    assert edit(client, b.id, sooner).status_code == 200
    assert job_time(b.id) == sooner
    assert edit(client, b.id, far).status_code == 200
    assert job_time(b.id) is None

    # A reorder swaps the dates, and the jobs follow them over the horizon.
    assert client.post("/", json={"order": [a.id, b.id]}).status_code == 200
    assert job_time(a.id) is None and job_time(b.id) == near

    # Post now wakes a post whatever its date was (paused: a job that ran
    # would leave the store before we look).
    publisher.scheduler.pause()
    assert client.post(f"/post/{a.id}/publish", headers=JSON).status_code == 200
    assert job_time(a.id) <= datetime.now(UTC)


def test_the_horizon_step_books_only_posts_that_came_near(make_app, world):
    app = make_app(start_scheduler=True)
    client = logged_in(app, world)
    for minutes in (120, 180, 240):
        assert create_post(client, when=soon(minutes)).status_code == 200
    first, second, third = posts(app)
    assert [job_time(p.id) for p in (first, second, third)] == [None] * 3

    # Time passes: the first post is now 10 minutes away.
    closer = soon(10)
    with app.app_context():
        db.session.execute(
            update(Post).where(Post.id == first.id).values(next_attempt_at=closer)
        )
        db.session.commit()
    publisher.advance_horizon()
    assert job_time(first.id) == closer
    assert job_time(second.id) is None and job_time(third.id) is None


def test_start_up_books_only_the_posts_within_the_horizon(make_app, world):
    """10,000 pending posts, 20 minutes apart from 10 minutes from now: the 3
    due within the hour get a job. One missed by more than a day is failed by
    the same start."""
    app = make_app()
    logged_in(app, world)
    now = datetime.now(UTC)
    times = [now + timedelta(minutes=10 + 20 * i) for i in range(9_999)]
    times.append(now - timedelta(hours=30))
    with app.app_context():
        user_id = db.session.scalars(select(User.id)).one()
        rows = [
            {
                "user_id": user_id,
                "status": PostStatus.SCHEDULED,
                "scheduled_at": when,
                "next_attempt_at": when,
                "filename": "x.jpg",
            }
            for when in times
        ]
        db.session.execute(insert(Post), rows)
        db.session.commit()
    publisher.start()
    jobs = {job.id for job in publisher.scheduler.get_jobs()}
    assert {j for j in jobs if j.startswith("post-")} == {"post-1", "post-2", "post-3"}
    with app.app_context():
        failed = db.session.scalars(
            select(Post.id).where(Post.status == PostStatus.FAILED)
        ).all()
    assert failed == [10_000]


def test_no_horizon_books_every_pending_post(make_app, world):
    """PUBLISH_HORIZON_SECONDS=0: the behaviour before the horizon (one job per
    pending post, no horizon step), kept for comparison in bench/boot.py."""
    app = make_app(PUBLISH_HORIZON_SECONDS=0)
    client = logged_in(app, world)
    assert create_post(client, when=soon(60 * 24 * 20)).status_code == 200
    (post,) = posts(app)
    publisher.start()
    assert job_time(post.id) == post.next_attempt_at
    assert publisher.scheduler.get_job("horizon") is None


@pytest.mark.parametrize("value", [-5, "soon", float("nan")])
def test_a_bad_horizon_setting_refuses_to_start_with_a_reason(make_app, value):
    with pytest.raises(ValueError, match="PUBLISH_HORIZON_SECONDS"):
        make_app(PUBLISH_HORIZON_SECONDS=value)


@pytest.mark.parametrize("statement", [_WITHIN_HORIZON, _ENTERING_HORIZON])
def test_horizon_queries_read_only_the_range_through_the_index(app, statement):
    """On SQLite, without the (status, next_attempt_at) index, the planner used
    ix_posts_status and read every pending post."""
    now = datetime.now(UTC)
    with app.app_context():
        engine = db.engine
        if engine.dialect.name != "sqlite":
            pytest.skip("the PostgreSQL plan depends on table statistics")
        seen = []

        def capture(conn, cursor, sql, parameters, context, executemany):
            seen.append((sql, parameters))

        event.listen(engine, "before_cursor_execute", capture)
        try:
            with engine.connect() as conn:
                conn.execute(statement, {"since": now, "until": now})
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        ((sql, parameters),) = seen
        raw = engine.raw_connection()
        try:
            plan = raw.cursor().execute("EXPLAIN QUERY PLAN " + sql, parameters)
            details = " ".join(row[-1] for row in plan.fetchall())
        finally:
            raw.close()
    assert "ix_posts_status_next_attempt_at" in details
    assert "next_attempt_at<?" in details
