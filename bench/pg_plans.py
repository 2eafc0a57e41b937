"""PostgreSQL's plans for the queries that run all the time: EXPLAIN ANALYZE on a
big database, with the app's own statements.

    .venv/bin/python bench/pg_plans.py [--accounts 1000] [--posts 100]
                                       [--database-url postgresql+psycopg://...]

A throwaway PostgreSQL server (or ``--database-url``: an empty database, whose
tables the bench drops afterwards) gets the app's schema (models, with their
indexes) and ``--accounts`` accounts with ``--posts`` posts each: 60% published
over the last 100 days, 2% drafts, a few due right now, the rest scheduled over
the next 50 days. After ANALYZE, it prints the plan, time and buffers of:

* the sweep (``ospost/scheduler.py`` ``_DUE``: due posts nobody holds, every
  30 s in every worker);
* start-up and the horizon step (``_WITHIN_HORIZON``, ``_ENTERING_HORIZON``);
* a claim (``ospost/engine/lease.py``, in a transaction rolled back);
* the home grid's version (``ospost/grid.py``, on every page view) and its
  upcoming posts;
* /healthz's overdue count.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event
from sqlalchemy import text

from benchlib import ROOT
from benchlib import Databases
from benchlib import report
from benchlib import seeding_app

SECRET = "pg-plans-bench-secret-key-0123456789abcdef"


class _Captured(Exception):
    """Stops a statement before it runs, once its SQL and parameters are known."""


def explain(conn, statement, params: dict) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of one of the app's statements, exactly as
    the app sends it (SQL and parameters caught on their way to the driver)."""
    sent = {}

    def catch(_conn, _cursor, sql, parameters, _context, _many):
        sent.update(sql=sql, parameters=parameters)
        raise _Captured

    event.listen(conn, "before_cursor_execute", catch)
    try:
        conn.execute(statement, params)
    except _Captured:
        pass
    finally:
        event.remove(conn, "before_cursor_execute", catch)
    sql = "EXPLAIN (ANALYZE, BUFFERS) " + sent["sql"]
    return [row[0] for row in conn.exec_driver_sql(sql, sent["parameters"])]


SEED = """
INSERT INTO users (ig_account_id, ig_username, profile_picture_url, page_name,
                   needs_reauth, timezone, created_at)
SELECT (17841400000000000 + a)::text, 'plans' || a, '', '', false, 'UTC', now()
FROM generate_series(1, :accounts) AS a;

INSERT INTO posts (user_id, status, scheduled_at, caption, created_at,
    updated_at, next_attempt_at, published_at,
    attempts, graph_calls, status_checks, containers_created, container_stale,
    container_ready, media_type, collaborators, first_comment, comment_attempts)
SELECT u.id, s.status, s.at, 'plans', s.at, s.at,
    CASE WHEN s.status = 'published' THEN NULL ELSE s.at END,
    CASE WHEN s.status = 'published' THEN s.at END,
    0, 0, 0, 0, false, false, 'IMAGE', '[]', '', 0
FROM users u
CROSS JOIN LATERAL (
    SELECT CASE WHEN n <= :posts * 0.6 THEN 'published'
                WHEN n <= :posts * 0.62 THEN 'draft'
                ELSE 'scheduled' END AS status,
           CASE WHEN n <= :posts * 0.6
                THEN now() - (n * 40 + u.id % 40) * interval '1 hour'
                ELSE now() + interval '1 second'
                             * ((n * 7919 + u.id * 104729) % (50 * 86400))
           END AS at
    FROM generate_series(1, :posts) AS n
) AS s;

-- A few posts due right now, as the sweep finds them between wake-ups.
UPDATE posts SET next_attempt_at = now() - interval '1 second'
WHERE id IN (SELECT id FROM posts WHERE status = 'scheduled' ORDER BY id LIMIT 20);
"""


def statements(now: datetime, user_id: int, post_id: int):
    """(label, statement, parameters) of each query the bench explains."""
    from sqlalchemy import func
    from sqlalchemy import select

    from models import Post
    from ospost import grid
    from ospost import scheduler
    from ospost.engine import lease

    hour = timedelta(hours=1)
    claim = {"post_id": post_id, "now": now, "new_lease_until": now + hour}
    claim["new_lease_owner"] = "plans"
    overdue = select(func.count(Post.id)).where(
        scheduler.due_filter(now - timedelta(minutes=5))
    )
    upcoming = select(Post).where(
        Post.user_id == user_id, Post.status.not_in(("published", "draft"))
    )
    return [
        ("sweep: due posts nobody holds", scheduler._DUE, {"now": now}),
        ("start-up: due within the horizon", scheduler._WITHIN_HORIZON,
         {"until": now + hour}),
        ("horizon step: entering the horizon", scheduler._ENTERING_HORIZON,
         {"since": now, "until": now + hour}),
        ("claim (rolled back)", lease._CLAIM_SKIP_LOCKED, claim),
        ("home grid: version", grid._VERSION_QUERY, {"user_id": user_id}),
        ("home grid: upcoming posts",
         upcoming.order_by(Post.scheduled_at.desc(), Post.id.desc()), {}),
        ("/healthz: overdue posts", overdue, {}),
    ]  # fmt: skip


def explain_all(app, accounts: int) -> None:
    from models import Post
    from models import PostStatus
    from models import db

    with app.app_context():
        with db.engine.connect() as conn:
            user_id = accounts // 2
            post_id = conn.scalar(
                db.select(Post.id)
                .where(Post.status == PostStatus.SCHEDULED)
                .order_by(Post.next_attempt_at)
                .limit(1)
            )
            for label, statement, params in statements(
                datetime.now(UTC), user_id, post_id
            ):
                rows = explain(conn, statement, params)
                conn.rollback()
                report(f"-- {label}")
                for line in rows:
                    report(f"   {line}")


def seed(app, accounts: int, posts: int) -> None:
    from models import db

    started = time.monotonic()
    with app.app_context():
        db.create_all()
        with db.engine.connect() as conn:
            for part in SEED.split(";\n"):
                if part.strip():
                    conn.execute(text(part), {"accounts": accounts, "posts": posts})
            conn.commit()
            conn.execute(text("ANALYZE"))
            conn.commit()
            count = conn.scalar(text("SELECT count(*) FROM posts"))
    report(
        f"seeded {accounts} accounts and {count} posts in "
        f"{time.monotonic() - started:.1f} s, then ANALYZE"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--posts", type=int, default=100, help="per account")
    parser.add_argument(
        "--database-url", help="an empty PostgreSQL database (default: throwaway)"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from models import db

    with tempfile.TemporaryDirectory() as tmp:
        with Databases(["postgresql"], args.database_url, Path(tmp)) as databases:
            app = seeding_app(
                "http://127.0.0.1:9/v21.0/", "http://127.0.0.1:9",
                databases.url_of("postgresql"), Path(tmp), SECRET,
            )  # fmt: skip
            try:
                seed(app, args.accounts, args.posts)
                explain_all(app, args.accounts)
            finally:
                with app.app_context():
                    if databases.given("postgresql"):
                        db.drop_all()
                    db.engine.dispose()


if __name__ == "__main__":
    main()
