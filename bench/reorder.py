"""Time a drag-reorder on a full grid: one post moved across 200 scheduled posts,
through the real POST / route, with the scheduler running (every affected job
is moved). Target: under 50 ms.

    .venv/bin/python bench/reorder.py [--posts 200] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from models import AccountAccess  # noqa: E402
from models import Person  # noqa: E402
from models import Post  # noqa: E402
from models import User  # noqa: E402
from models import db  # noqa: E402
from ospost.scheduler import publisher  # noqa: E402


def report(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def build(tmp: Path, posts: int):
    app = create_app(
        {
            "TESTING": True,
            "DEMO": False,
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.db'}",
            "FB_APP_ID": "1",
            "FB_APP_SECRET": "s",
            "FB_ENDPOINT": "http://127.0.0.1:9/v21.0/",
            "UPLOAD_FOLDER": str(tmp / "u"),
            "STAGING_FOLDER": str(tmp / "s"),
            "SCHEDULER_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,  # timing reorders, not their limit
            # Every post holds a job (no horizon): the worst case, each one moved.
            "PUBLISH_HORIZON_SECONDS": 0,
        }
    )
    with app.app_context():
        db.create_all()
        user = User(ig_account_id="17841400000000001", access_token="t")
        person = Person(fb_user_id="1", name="Bench")
        db.session.add_all([user, person])
        db.session.flush()
        db.session.add(AccountAccess(person_id=person.id, user_id=user.id))
        start = datetime.now(UTC) + timedelta(days=1)
        for i in range(posts):
            post = Post(user=user, caption=f"p{i}", filename="x.jpg")
            post.schedule(start + timedelta(hours=i))
            db.session.add(post)
        db.session.commit()
        user_id, person_id = user.id, person.id
    publisher.start()  # a real scheduler: every post has a job to move
    client = app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = user_id
        session["person_id"] = person_id
    return app, client


def visual_order(app) -> list[int]:
    with app.app_context():
        ids = db.session.scalars(
            db.select(Post.id).order_by(Post.scheduled_at.desc())
        ).all()
    return list(ids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app, client = build(Path(tmp), args.posts)
        try:
            timings, moved = [], []
            for run in range(args.runs):
                order = visual_order(app)
                # Drag the last tile to the front, or the first to the end.
                order = (
                    order[-1:] + order[:-1] if run % 2 == 0 else order[1:] + order[:1]
                )
                started = time.perf_counter()
                resp = client.post("/", json={"order": order})
                timings.append((time.perf_counter() - started) * 1000)
                assert resp.status_code == 200, resp.get_json()
                moved.append(len(resp.get_json()["moved"]))
            jobs = len(publisher.scheduler.get_jobs())
        finally:
            publisher.shutdown(wait=False)
    timings.sort()
    p95 = timings[int(0.95 * (len(timings) - 1))]
    report(f"reorder across {args.posts} scheduled posts ({jobs} scheduler jobs)")
    report(f"  runs: {args.runs}, posts whose date changed per run: {moved[0]}")
    report(f"  median {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms, "
           f"max {timings[-1]:.1f} ms (target < 50 ms)")  # fmt: skip
    report(
        json.dumps(
            {
                "posts": args.posts,
                "median_ms": round(statistics.median(timings), 2),
                "p95_ms": round(p95, 2),
                "max_ms": round(timings[-1], 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
