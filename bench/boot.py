"""Boot time and memory per worker against the backlog: gunicorn -w 2 on an
SQLite database with 1,000 accounts and 10k, 100k and 1M pending posts spread
over the next 50 days. Target: under 2 s at 1M, RSS independent of the backlog.

The baseline is the behaviour before the horizon (PUBLISH_HORIZON_SECONDS=0:
one wake-up job per pending post in every worker), at 10k and 100k only.

    .venv/bin/python bench/boot.py [--sizes 10000,100000,1000000] [--runs 2]

"boot" is the time from starting gunicorn until both workers logged that their
publisher started (the last thing create_app() does, so they serve right after);
"recover" is that start-up step alone (the worker's own figure). An empty
database comes first: its boot is the fixed cost (imports, create_app) that
every size pays, so compare the other rows with it, not only with the target.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import APP_ID  # noqa: E402
from benchlib import APP_SECRET  # noqa: E402
from benchlib import PYTHON  # noqa: E402
from benchlib import TOKEN_KEY  # noqa: E402
from benchlib import GunicornProcess  # noqa: E402
from benchlib import free_port  # noqa: E402
from benchlib import report  # noqa: E402
from benchlib import seeding_app  # noqa: E402
from benchlib import wait_until  # noqa: E402

ACCOUNTS = 1_000
SPREAD = timedelta(days=50)  # MAX_SCHEDULE_DAYS: posts over the whole range
# The first post is due this long after seeding starts: no post becomes due
# (and is published) while the bench runs.
LEAD = timedelta(minutes=15)
BASELINE_UP_TO = 100_000
STARTED = re.compile(
    r"publisher \S+:(\d+):\S+ started in ([\d.]+) s with (\d+) wake-ups"
)
SECRET = "boot-bench-secret-key-0123456789abcdef"


def create_schema(tmp: Path, db_url: str) -> None:
    """The app's own schema (models, with their indexes), in an empty database."""
    from models import db

    app = seeding_app(
        "http://127.0.0.1:9/v21.0/", "http://127.0.0.1:9", db_url, tmp, SECRET
    )
    with app.app_context():
        db.create_all()
        db.engine.dispose()


def seed_accounts(conn: sqlite3.Connection, now: str) -> None:
    conn.executemany(
        "INSERT INTO users (ig_account_id, ig_username, profile_picture_url,"
        " page_name, needs_reauth, timezone, created_at) VALUES (?, ?, '', '', 0,"
        " 'UTC', ?)",
        [(str(17841400000000000 + i), f"bench{i}", now) for i in range(ACCOUNTS)],
    )
    conn.commit()


def seed_posts(conn: sqlite3.Connection, first: int, last: int, base: datetime):
    """Pending posts number ``first`` to ``last - 1``, in one INSERT ... SELECT.

    Post i is due at a pseudo-random second of the 50 days after ``base``, so
    every size fills the same range and the next hour holds a share of it.
    """
    spread = int(SPREAD.total_seconds())
    conn.execute(
        """
        WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        INSERT INTO posts (user_id, status, scheduled_at, caption, alt_text,
            filename, width, height, created_at, updated_at, next_attempt_at,
            attempts, graph_calls, status_checks, containers_created,
            container_stale, container_ready)
        SELECT i % ? + 1, 'scheduled', t, 'bench post', '', 'x.jpg', 1080, 1350,
            t, t, t, 0, 0, 0, 0, 0, 0
        FROM (SELECT i, strftime('%Y-%m-%d %H:%M:%S', ? + (i * 7919) % ?,
                                 'unixepoch') || '.000000' AS t FROM n)
        """,
        (first, last - 1, ACCOUNTS, int(base.timestamp()), spread),
    )
    conn.commit()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def boot_once(tmp: Path, db_url: str, horizon: int, name: str) -> dict:
    """Start gunicorn -w 2, wait until both workers' publishers started, measure."""
    port = free_port()
    log_path = tmp / f"gunicorn-{name}.log"  # a new file: only this boot's lines
    env = {
        **os.environ,
        "SECRET_KEY": SECRET,
        "FB_APP_ID": APP_ID,
        "FB_APP_SECRET": APP_SECRET,
        "FB_ENDPOINT": "http://127.0.0.1:9/v21.0/",  # nothing is due: never called
        "APP_URL": f"http://127.0.0.1:{port}",
        "DATABASE_URL": db_url,
        "TOKEN_ENCRYPTION_KEYS": TOKEN_KEY,
        "OSPOST_UPLOAD_FOLDER": str(tmp / "uploads"),
        "OSPOST_STAGING_FOLDER": str(tmp / "staging"),
        "OSPOST_PUBLISH_HORIZON_SECONDS": str(horizon),
        "OSPOST_APP_URL_CHECK": "false",  # its probe is not part of booting
    }
    server = GunicornProcess(env, port, 2, log_path)
    started_at = time.monotonic()
    server.launch()
    try:

        def both_started():
            if server.exited():
                raise RuntimeError(f"gunicorn exited; see {log_path}")
            found = STARTED.findall(log_path.read_text(errors="replace"))
            return found if len(found) >= 2 else None

        found = wait_until(both_started, 120, "both workers to start", interval=0.01)
        boot = time.monotonic() - started_at
        # Serving, and the schedulers settled, before memory is read.
        requests.get(f"{server.url}/healthz", timeout=10).raise_for_status()
        time.sleep(1.0)
        rss = [rss_mib(pid) for pid in server.worker_pids()]
    finally:
        server.stop()
    return {
        "boot": boot,
        "recover": max(float(seconds) for _, seconds, _ in found),
        "jobs": int(found[0][2]),
        "rss": rss,
    }


def measure(tmp: Path, db_url: str, size: int, horizon: int, runs: int) -> None:
    results = [
        boot_once(tmp, db_url, horizon, f"{size}-{horizon}-{run}")
        for run in range(runs)
    ]
    label = "horizon 1 h" if horizon else "baseline (no horizon)"
    boots = [r["boot"] for r in results]
    recovers = [r["recover"] for r in results]
    rss = [value for r in results for value in r["rss"]]
    report(
        f"{size:>9,} posts  {label:<22} boot {statistics.median(boots):5.2f} s"
        f" (runs {', '.join(f'{b:.2f}' for b in boots)})"
        f"  recover {statistics.median(recovers):6.3f} s"
        f"  jobs/worker {results[0]['jobs']:>7,}"
        f"  RSS/worker {min(rss):5.1f}-{max(rss):5.1f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    report(f"bench/boot.py: gunicorn -w 2, SQLite, {ACCOUNTS:,} accounts ({PYTHON})")
    with tempfile.TemporaryDirectory(prefix="ospost-boot-") as name:
        tmp = Path(name)
        db_path = tmp / "boot.db"
        db_url = f"sqlite:///{db_path}"
        create_schema(tmp, db_url)
        conn = sqlite3.connect(db_path)
        conn.execute("PRAGMA journal_mode=WAL")
        now = datetime.now(UTC)
        seed_accounts(conn, now.strftime("%Y-%m-%d %H:%M:%S.000000"))
        # An empty database first: the fixed cost (imports, create_app) that
        # every boot pays, whatever the backlog.
        measure(tmp, db_url, 0, 3600, args.runs)
        seeded = 0
        for size in sizes:
            began = time.monotonic()
            seed_posts(conn, seeded, size, now + LEAD)
            seeded = size
            report(f"seeded {size:,} pending posts in {time.monotonic() - began:.1f} s")
            measure(tmp, db_url, size, 3600, args.runs)
            if size <= BASELINE_UP_TO:
                measure(tmp, db_url, size, 0, args.runs)
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
