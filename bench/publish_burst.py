"""Publish a burst of posts that are all due at the same instant, and measure it.

Run from the project root:  .venv/bin/python bench/publish_burst.py [options]

Two runs, each against its own Graph API simulator started as a separate process
(``python -m simulator --latency-ms 50 --ready-after 2``: every Graph call takes 50 ms,
a container is FINISHED 2 s after it was created):

* Ospost, once per database (SQLite in a temp dir, then PostgreSQL: a throwaway
  server like the test suite's, or ``--database-url``; ``--databases`` picks):
  N accounts x M posts are written to a fresh database with one compliant
  1080x1350 JPEG each, all due at T0; then ``gunicorn -w W 'app:create_app()'``
  starts, and every worker runs its own publishing engine (ospost/engine/) over
  the shared database.  The simulator's
  crawler fetches staged images from gunicorn.
* Seed design: a faithful copy of the original publish_post: BackgroundScheduler()
  with its defaults (ThreadPoolExecutor(10), misfire_grace_time=1), one date job
  per post at T0; the job copies the image to a static folder, POSTs
  /{ig-id}/media with image_url, caption and access_token in the URL query, polls
  GET /{container}?fields=status_code with sleep(4) between tries (10 tries at
  most), then POSTs media_publish.  Missed jobs are only counted through
  EVENT_JOB_MISSED; nothing retries them.  The static folder is served by a small
  threaded HTTP server so the crawler can fetch the images.

Every figure comes from the simulator's own records (GET /_sim/published,
/_sim/calls, /_sim/containers), matched to posts by their unique caption:

* all published within: last media_publish time minus T0, only when every post
  was published; "published by T0 + timeout" counts media published by the
  deadline, "in all" adds what gunicorn still finished while it was stopping;
* lag: for each post, the start time the simulator logged for the first
  POST /{ig-id}/media (create container) call whose container carries the post's
  caption, minus T0 (Ospost's content_publishing_limit checks, which are per
  account and made before some creates, are not counted here);
* lost: never published and not pending (failed, or dropped like the seed's
  missed jobs); pending: Ospost posts still scheduled/publishing in the database
  when the bench stopped waiting (the engine would carry on with them);
  duplicates: captions published more than once;
* Graph calls per post: mean = every non-login call / posts (includes the
  per-account quota checks and calls that could not be tied to a post), max = the
  calls tied to one post through its container or media id.

For Ospost it also prints engine overheads seen from the simulator's call log,
the CPU used by the gunicorn workers, the simulator and a throwaway PostgreSQL
server from T0 on (and how busy the whole machine was), and what the gunicorn
log said during the burst and while stopping.  Targets: everything published
within 15 s, and PostgreSQL within 1.2x SQLite's time.  The last line is every
raw figure as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import requests
from apscheduler.events import EVENT_JOB_ERROR
from apscheduler.events import EVENT_JOB_EXECUTED
from apscheduler.events import EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler

import mixed_burst
from benchlib import APP_ID
from benchlib import APP_SECRET
from benchlib import ROOT
from benchlib import TOKEN_KEY
from benchlib import Databases
from benchlib import GunicornProcess
from benchlib import SimulatorProcess
from benchlib import add_database_arguments
from benchlib import cpu_seconds
from benchlib import free_port
from benchlib import machine_cpu
from benchlib import pct
from benchlib import processed_upload
from benchlib import report
from benchlib import seeding_app
from benchlib import wait_until

SECRET_KEY = "publish-burst-bench-secret-0123456789"
LOGIN_ENDPOINTS = frozenset(
    {"exchange", "debug_token", "me", "accounts", "page", "ig_user"}
)
FIRST_CHECK_SECONDS = 2.0  # Ospost's default PUBLISH_FIRST_CHECK_SECONDS
TARGET_SECONDS = 15.0
TARGET_POSTGRES_RATIO = 1.2  # PostgreSQL's time over SQLite's (issue 17)
HTTP_TIMEOUT = 30.0
LOG_PATTERNS = {
    "lease lost": "lease lost",
    "unexpected error": "unexpected error",
    "database is locked": "database is locked",
    "graph error": "graph error",
    "tracebacks": "Traceback",
    "warnings": " WARNING ",
    "errors": " ERROR ",
}


# --------------------------------------------------------------------------- tools


def since(stamp: str, t0: datetime) -> float:
    """Seconds from T0 to an ISO timestamp written by the simulator."""
    return (datetime.fromisoformat(stamp) - t0).total_seconds()


# --------------------------------------------------------------------------- simulator


@dataclass
class Account:
    fb_user_id: str
    ig_user_id: str
    username: str
    page_name: str
    token: str


class Simulator(SimulatorProcess):
    """The Graph API simulator with the burst's latency and readiness delay."""

    def __init__(self, log_path: Path, latency_ms: float, ready_after: float):
        args = ("--latency-ms", str(latency_ms), "--ready-after", str(ready_after))
        super().__init__(log_path, *args, timeout=HTTP_TIMEOUT)

    def make_accounts(self, count: int) -> list[Account]:
        """Fake Facebook users with one Page linked to an IG account, logged in."""
        accounts = []
        for index in range(count):
            user = self.post(
                "/_sim/users",
                {
                    "name": f"Burst Owner {index}",
                    "pages": [
                        {"name": f"Burst Page {index}", "ig_username": f"burst.{index}"}
                    ],
                },
            )
            page = user["pages"][0]
            login = self.post("/_sim/token", {"fb_user_id": user["fb_user_id"]})
            accounts.append(
                Account(
                    user["fb_user_id"],
                    page["ig_user_id"],
                    page["ig_username"],
                    page["name"],
                    login["accessToken"],
                )
            )
        return accounts

    def records(self) -> dict:
        return {
            "published": self.get("/_sim/published"),
            "calls": self.get("/_sim/calls"),
            "containers": self.get("/_sim/containers"),
        }


def captions_for(accounts: int, per_account: int) -> list[list[str]]:
    return [[f"burst {a}-{n}" for n in range(per_account)] for a in range(accounts)]


# --------------------------------------------------------------------------- analysis


@dataclass
class PostCalls:
    """The Graph calls the simulator logged for one post (offsets from T0)."""

    calls: list[tuple[float, str]] = field(default_factory=list)

    def first(self, endpoint: str) -> float | None:
        return next((t for t, e in sorted(self.calls) if e == endpoint), None)

    def count(self, endpoint: str) -> int:
        return sum(1 for _, e in self.calls if e == endpoint)


def sort_calls(records: dict, t0: datetime) -> tuple[dict[str, PostCalls], Counter]:
    """Tie every logged Graph call to a post caption through container/media ids."""
    by_container = {c["id"]: c["caption"] for c in records["containers"]}
    by_media = {p["media_id"]: p["caption"] for p in records["published"]}
    posts: dict[str, PostCalls] = defaultdict(PostCalls)
    other: Counter = Counter()
    for call in records["calls"]:
        endpoint = call["endpoint"]
        if endpoint in LOGIN_ENDPOINTS:
            other["login"] += 1
            continue
        other["non_login"] += 1
        other["token_in_url"] += bool(call.get("token_in_url"))
        other["errors"] += call["status"] != 200
        caption = by_container.get(call["container_id"]) or by_media.get(
            call["media_id"]
        )
        if caption is not None:
            posts[caption].calls.append((since(call["t"], t0), endpoint))
        elif endpoint == "limit":
            other["account_level"] += 1
        else:
            other["unattributed"] += 1
    return posts, other


def publish_figures(
    records: dict, captions: list[str], t0: datetime, deadline: float, pending: set
) -> dict:
    """``pending``: captions the app still meant to publish when we stopped it."""
    wanted = set(captions)
    counts = Counter(p["caption"] for p in records["published"])
    times = [
        since(p["published_at"], t0)
        for p in records["published"]
        if p["caption"] in wanted
    ]
    unpublished = wanted - counts.keys()
    return {
        "posts": len(captions),
        "published": len(wanted & counts.keys()),
        "published_by_deadline": sum(1 for t in times if t <= deadline),
        "pending": len(unpublished & pending),
        "lost": len(unpublished - pending),
        "duplicates": sum(1 for c, k in counts.items() if k > 1 and c in wanted),
        "all_published_s": max(times) if times and not unpublished else None,
        "first_publish_s": min(times) if times else None,
        "publish_p50_s": pct(times, 50),
        "publish_p99_s": pct(times, 99),
        "last_publish_s": max(times) if times else None,
    }


def crawl_times(records: dict, latency: float) -> list[float]:
    """Per container: created_at - create call start - latency (crawl + inspect)."""
    created = {c["id"]: c["created_at"] for c in records["containers"]}
    out = []
    for call in records["calls"]:
        if call["endpoint"] == "create" and call["container_id"] in created:
            started = datetime.fromisoformat(call["t"])
            done = datetime.fromisoformat(created[call["container_id"]])
            out.append((done - started).total_seconds() - latency)
    return out


def gaps(posts: dict[str, PostCalls], created: dict[str, float], latency: float):
    """Engine overheads seen from the simulator, per post (seconds)."""
    overrun, check_to_publish, publish_to_media, create_to_publish = [], [], [], []
    for caption, post in posts.items():
        calls = sorted(post.calls)
        status, publish, create = (
            post.first("status"),
            post.first("publish"),
            post.first("create"),
        )
        if status is not None and caption in created:
            overrun.append(status - created[caption] - FIRST_CHECK_SECONDS)
        if publish is not None:
            before = [t for t, e in calls if e == "status" and t <= publish]
            if before:
                check_to_publish.append(publish - before[-1] - latency)
            after = [t for t, e in calls if e == "media" and t >= publish]
            if after:
                publish_to_media.append(after[0] - publish - latency)
            if create is not None:
                create_to_publish.append(publish - create)
    return overrun, check_to_publish, publish_to_media, create_to_publish


def call_figures(records: dict, captions: list[str], t0: datetime, latency: float):
    posts, other = sort_calls(records, t0)
    lags = [posts[c].first("create") for c in captions if c in posts]
    lags = [lag for lag in lags if lag is not None]
    per_post = [len(posts[c].calls) if c in posts else 0 for c in captions]
    checks = [posts[c].count("status") for c in captions if c in posts]
    created: dict[str, float] = {}
    for container in sorted(records["containers"], key=lambda c: c["created_at"]):
        created.setdefault(container["caption"], since(container["created_at"], t0))
    overrun, check_pub, pub_media, create_pub = gaps(posts, created, latency)
    crawl = crawl_times(records, latency)
    return {
        "lag_n": len(lags),
        "never_called": len(captions) - len(lags),
        "lag_p50_s": pct(lags, 50),
        "lag_p99_s": pct(lags, 99),
        "lag_max_s": max(lags) if lags else None,
        "calls_total": other["non_login"],
        "calls_mean": other["non_login"] / len(captions),
        "calls_max": max(per_post) if per_post else 0,
        "calls_account_level": other["account_level"],
        "calls_unattributed": other["unattributed"],
        "calls_failed": other["errors"],
        "calls_login": other["login"],
        "token_in_url": other["token_in_url"],
        "containers": len(records["containers"]),
        "status_checks_mean": sum(checks) / len(checks) if checks else None,
        "status_checks_max": max(checks) if checks else None,
        "crawl_p50_ms": _ms(pct(crawl, 50)),
        "crawl_p99_ms": _ms(pct(crawl, 99)),
        "crawl_max_ms": _ms(max(crawl) if crawl else None),
        "create_to_publish_p50_s": pct(create_pub, 50),
        "create_to_publish_p99_s": pct(create_pub, 99),
        "check_overrun_p50_ms": _ms(pct(overrun, 50)),
        "check_overrun_p99_ms": _ms(pct(overrun, 99)),
        "check_to_publish_p50_ms": _ms(pct(check_pub, 50)),
        "check_to_publish_p99_ms": _ms(pct(check_pub, 99)),
        "publish_to_media_p50_ms": _ms(pct(pub_media, 50)),
        "publish_to_media_p99_ms": _ms(pct(pub_media, 99)),
        "timeline": timeline(records, t0),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def timeline(records: dict, t0: datetime) -> dict:
    """Create calls started and posts published per second after T0."""
    creates = Counter(
        math.floor(since(c["t"], t0))
        for c in records["calls"]
        if c["endpoint"] == "create"
    )
    published = Counter(
        math.floor(since(p["published_at"], t0)) for p in records["published"]
    )
    last = max([*creates, *published, 0])
    return {
        "creates_per_s": [creates.get(s, 0) for s in range(last + 1)],
        "published_per_s": [published.get(s, 0) for s in range(last + 1)],
    }


def analyse(records, captions, t0: datetime, args, pending=()) -> dict:
    latency = args.latency_ms / 1000
    return {
        **publish_figures(records, captions, t0, args.timeout, set(pending)),
        **call_figures(records, captions, t0, latency),
    }


# --------------------------------------------------------------------------- Ospost


class CpuWatch:
    """CPU used by some processes, and by the machine, between start() and stop()."""

    def __init__(self, pids: dict[str, list[int]], db_cpu=lambda: None):
        self.pids = pids
        self.db_cpu = db_cpu  # the database server's CPU seconds, when known

    def start(self) -> CpuWatch:
        self.wall = time.monotonic()
        self.machine = machine_cpu()
        self.used = {n: sum(map(cpu_seconds, p)) for n, p in self.pids.items()}
        self.db = self.db_cpu()
        return self

    def stop(self) -> dict:
        wall = time.monotonic() - self.wall
        busy, total = machine_cpu()
        out = {"wall_s": round(wall, 1)}
        for name, pids in self.pids.items():
            used = sum(map(cpu_seconds, pids)) - self.used[name]
            out[f"{name}_cpu_s"] = round(used, 1)
        if self.db is not None:
            out["database_cpu_s"] = round(self.db_cpu() - self.db, 1)
        share = (busy - self.machine[0]) / max(total - self.machine[1], 1e-9)
        out["machine_busy_pct"] = round(100 * share, 1)
        out["machine_cpus"] = os.cpu_count()
        return out


class Gunicorn(GunicornProcess):
    """The server under test, with production settings; workers run the engine."""

    def start(self) -> Gunicorn:
        self.launch()
        return self

    def engines_started(self) -> int:
        """How many workers logged that their publisher started (and recovered)."""
        if self.exited():
            raise RuntimeError(f"gunicorn exited; see {self.log_path}")
        text = self.log_path.read_text(errors="replace")
        return len(
            re.findall(r"publisher \S+ started in \S+ s with \d+ wake-ups", text)
        )

    def log_summary(self, start: int = 0) -> dict:
        """Counts of notable lines, and the commonest error messages, from
        byte ``start`` of the log on."""
        with open(self.log_path, "rb") as log:
            log.seek(start)
            text = log.read().decode(errors="replace")
        counts = {name: text.count(needle) for name, needle in LOG_PATTERNS.items()}
        errors = Counter(
            re.sub(r"\d+", "N", match)
            for match in re.findall(r"^\w*(?:Error|Exception)\b.*$", text, re.M)
        )
        counts["exceptions"] = dict(errors.most_common(3))
        return counts

    def log_size(self) -> int:
        return self.log_path.stat().st_size


def server_env(args, sim: Simulator, app_url: str, db_url: str, tmp: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OSPOST_") and k not in ("DATABASE_URL", "PORT")
    }
    env.update(
        SECRET_KEY=SECRET_KEY,
        FB_APP_ID=APP_ID,
        FB_APP_SECRET=APP_SECRET,
        FB_ENDPOINT=sim.graph_url,
        APP_URL=app_url,
        TOKEN_ENCRYPTION_KEYS=TOKEN_KEY,
        DATABASE_URL=db_url,
        OSPOST_UPLOAD_FOLDER=str(tmp / "uploads"),
        OSPOST_STAGING_FOLDER=str(tmp / "staging"),
        OSPOST_PUBLISH_THREADS=str(args.threads),
    )
    for item in args.set:
        name, _, value = item.partition("=")
        env[f"OSPOST_{name}"] = value
    return env


def seed_ospost(app, accounts: list[Account], captions, media) -> None:
    """Users, posts (scheduled an hour ahead for now) and their image files."""
    from sqlalchemy import func
    from sqlalchemy import select

    from models import Post
    from models import User
    from models import db

    store = app.extensions["media_store"]
    jpeg, thumb = media
    with app.app_context():
        db.create_all()
        if db.session.scalar(select(func.count()).select_from(User)):
            raise RuntimeError("the database already has users; give an empty one")
        files = [[store.save(a.ig_user_id, jpeg, thumb) for _ in c] for a, c in
                 zip(accounts, captions, strict=True)]  # fmt: skip
        later = datetime.now(UTC) + timedelta(hours=1)
        expires = datetime.now(UTC) + timedelta(hours=2)
        for account, texts, names in zip(accounts, captions, files, strict=True):
            user = User(
                ig_account_id=account.ig_user_id,
                fb_user_id=account.fb_user_id,
                ig_username=account.username,
                page_name=account.page_name,
                access_token=account.token,
                token_expires_at=expires,
            )
            db.session.add(user)
            for caption, (name, thumb_name) in zip(texts, names, strict=True):
                post = Post(user=user, caption=caption, filename=name)
                post.thumbnail, post.width, post.height = thumb_name, 1080, 1350
                post.schedule(later)
                db.session.add(post)
        db.session.commit()


def make_due(app, lead: float) -> datetime:
    """Move every post to T0 = now + ``lead`` (just before the workers start)."""
    from sqlalchemy import update

    from models import Post
    from models import db

    with app.app_context():
        t0 = datetime.now(UTC) + timedelta(seconds=lead)
        db.session.execute(update(Post).values(scheduled_at=t0, next_attempt_at=t0))
        db.session.commit()
    return t0


def ospost_status(app) -> Counter:
    from sqlalchemy import func
    from sqlalchemy import select

    from models import Post
    from models import db

    with app.app_context():
        rows = db.session.execute(
            select(Post.status, func.count()).group_by(Post.status)
        ).all()
        db.session.rollback()  # never keep a read snapshot open
    return Counter({status: count for status, count in rows})


def wait_ospost(app, t0: datetime, timeout: float) -> float | None:
    """Poll the database until no post is scheduled or publishing (bounded)."""
    deadline = t0 + timedelta(seconds=timeout)
    next_note = t0
    while True:
        counts = ospost_status(app)
        now = datetime.now(UTC)
        active = counts["scheduled"] + counts["publishing"]
        if now >= t0 and active == 0:
            return (now - t0).total_seconds()
        if now >= deadline:
            return None
        if now >= next_note:
            report(f"  Ospost +{(now - t0).total_seconds():4.0f} s: {dict(counts)}")
            next_note += timedelta(seconds=5)
        time.sleep(0.25)


def ospost_pending(app) -> set[str]:
    """Captions of posts still scheduled or publishing (the engine would go on)."""
    from sqlalchemy import select

    from models import Post
    from models import db

    with app.app_context():
        captions = db.session.scalars(
            select(Post.caption).where(Post.status.in_(("scheduled", "publishing")))
        ).all()
        db.session.rollback()
    return set(captions)


def ospost_db_figures(app) -> dict:
    from sqlalchemy import select

    from models import Post
    from models import db

    with app.app_context():
        rows = db.session.execute(
            select(Post.status, Post.graph_calls, Post.attempts, Post.error_message)
        ).all()
        db.session.rollback()
    calls = [r.graph_calls for r in rows]
    errors = Counter(r.error_message for r in rows if r.error_message)
    return {
        "db_status": dict(Counter(r.status for r in rows)),
        "db_graph_calls_mean": sum(calls) / len(calls) if calls else None,
        "db_graph_calls_max": max(calls) if calls else None,
        "db_posts_retried": sum(1 for r in rows if r.attempts),
        "db_errors": dict(errors.most_common(3)),
    }


def close_database(app, seeded: list[Account]) -> None:
    """Remove what the bench wrote into a --database-url database; disconnect."""
    from sqlalchemy import delete
    from sqlalchemy import select

    from models import Post
    from models import User
    from models import db

    with app.app_context():
        if seeded:
            ids = [a.ig_user_id for a in seeded]
            users = select(User.id).where(User.ig_account_id.in_(ids))
            db.session.execute(delete(Post).where(Post.user_id.in_(users)))
            db.session.execute(delete(User).where(User.ig_account_id.in_(ids)))
            db.session.commit()
        db.session.remove()
        db.engine.dispose()


def run_ospost(
    args,
    tmp: Path,
    media: tuple[bytes, bytes],
    seed=None,
    extra=None,
    *,
    databases: Databases,
    database: str,
) -> dict:
    """One Ospost burst on ``database``. ``seed(app, accounts)`` writes the
    posts and returns their captions (default: ``args.per_account`` single
    images per account); ``extra(sim, app)`` adds figures read before the
    simulator stops."""
    report(f"Ospost on {database}: starting the simulator and seeding the database")
    tmp.mkdir(parents=True, exist_ok=True)
    sim = Simulator(tmp / "sim-ospost.log", args.latency_ms, args.ready_after)
    server, app, seeded = None, None, []
    try:
        sim.start()
        accounts = sim.make_accounts(args.accounts)
        port = free_port()
        app_url = f"http://127.0.0.1:{port}"
        db_url = databases.url_of(database)
        app = seeding_app(sim.graph_url, app_url, db_url, tmp, SECRET_KEY)
        started = time.monotonic()
        if seed is None:
            captions = captions_for(args.accounts, args.per_account)
            seed_ospost(app, accounts, captions, media)
            flat = [c for texts in captions for c in texts]
        else:
            flat = seed(app, accounts)
        seeded = accounts
        env = server_env(args, sim, app_url, db_url, tmp)
        t0 = make_due(app, args.lead)
        report(f"  seeded in {time.monotonic() - started:.1f} s; T0 = {t0:%H:%M:%S.%f}")
        server = Gunicorn(env, port, args.workers, tmp / "gunicorn.log").start()
        wait_until(lambda: server.engines_started() >= args.workers, 60, "workers")
        ahead = (t0 - datetime.now(UTC)).total_seconds()
        report(f"  {args.workers} workers up, {ahead:.1f} s before T0")
        if ahead < 0.5:
            raise RuntimeError("workers came up too close to T0; raise --lead")
        log_start = server.log_size()
        pids = {"gunicorn": server.worker_pids(), "simulator": [sim.proc.pid]}
        time.sleep(max(0.0, (t0 - datetime.now(UTC)).total_seconds()))
        databases.reset_statements(database)
        cpu = CpuWatch(pids, lambda: databases.cpu(database)).start()
        done = wait_ospost(app, t0, args.timeout)
        figures = {"cpu": cpu.stop(), "server_log": server.log_summary(log_start)}
        figures["statements"] = databases.statement_counts(database)
        log_end = server.log_size()
        server.stop()
        figures["shutdown_log"] = server.log_summary(log_end)
        pending = ospost_pending(app)
        figures.update(analyse(sim.records(), flat, t0, args, pending))
        figures.update(ospost_db_figures(app))
        figures["db_settled_s"] = done
        if extra is not None:
            figures.update(extra(sim, app))
        return figures
    finally:
        if server is not None:
            server.stop()
        sim.stop()
        if app is not None:
            close_database(app, seeded if database != "sqlite" else [])


# --------------------------------------------------------------------------- the seed


@dataclass
class SeedContext:
    db_path: Path
    root: Path  # the seed's working directory (uploads/, static/tmp/)
    app_url: str  # ends with "/" as the seed's APP_URL did
    fb_endpoint: str
    stop: threading.Event  # set when the bench stops waiting (cuts sleep(4) short)


def http_request(url: str, method: str):
    """The seed's helper: the JSON answer, or None on any HTTP problem."""
    try:
        response = requests.request(method, url, timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return response.json()
    except requests.RequestException:
        return None


def seed_publish_post(ctx: SeedContext, post_id: int):
    """The seed's publish_post, step for step (paths made absolute)."""
    conn = sqlite3.connect(ctx.db_path, timeout=5)
    try:
        post = conn.execute(
            "SELECT id, user_id, caption, filename FROM posts WHERE id = ?", (post_id,)
        ).fetchone()
        if not post:
            return None
        user = conn.execute(
            "SELECT id, ig_account_id, access_token FROM users WHERE id = ?",
            (post[1],),
        ).fetchone()
        if not user:
            return None
        _, ig_account_id, access_token = user
        caption, filename = post[2], post[3]
        src = ctx.root / "uploads" / ig_account_id / filename
        dst = "static/tmp/"
        os.makedirs(ctx.root / dst, exist_ok=True)
        try:
            shutil.copy2(src, ctx.root / dst)
        except Exception:
            return None
        image_url = ctx.app_url + os.path.join(dst, filename)
        fb_endpoint = ctx.fb_endpoint
        url = (
            f"{fb_endpoint}{ig_account_id}/media?image_url={image_url}"
            f"&caption={caption}&access_token={access_token}"
        )
        response = http_request(url, "POST")
        if response is None:
            return None
        container_id = response["id"]
        url = (
            f"{fb_endpoint}{container_id}?fields=status_code"
            f"&access_token={access_token}"
        )
        status = "IN_PROGRESS"
        try_index = 1
        try_times = 10
        wait_time = 4
        while status != "FINISHED":
            if try_index == try_times:
                return None
            response = http_request(url, "get")
            if response is None:
                return None
            status = response["status_code"]
            try_index += 1
            if ctx.stop.wait(wait_time):  # sleep(wait_time); ends with the bench
                return None
        url = (
            f"{fb_endpoint}{ig_account_id}/media_publish?creation_id={container_id}"
            f"&access_token={access_token}"
        )
        response = http_request(url, "POST")
        if response is None:
            return None
        if response["id"]:
            try:
                os.unlink(ctx.root / dst / filename)
                os.unlink(src)
            except OSError:
                return None
            conn.execute("DELETE FROM posts WHERE id = ?", (post_id,))
            conn.commit()
            return True
        return False
    finally:
        conn.close()


def seed_database(ctx: SeedContext, accounts, captions, jpeg: bytes) -> list[int]:
    """The seed's tables and files: caption stored URL-quoted, image in uploads/."""
    conn = sqlite3.connect(ctx.db_path)
    try:
        conn.execute(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, ig_account_id TEXT, "
            "access_token TEXT)"
        )
        conn.execute(
            "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER, date TEXT, "
            "caption TEXT, filename TEXT)"
        )
        ids = []
        for account, texts in zip(accounts, captions, strict=True):
            folder = ctx.root / "uploads" / account.ig_user_id
            folder.mkdir(parents=True, exist_ok=True)
            user_id = conn.execute(
                "INSERT INTO users (ig_account_id, access_token) VALUES (?, ?)",
                (account.ig_user_id, account.token),
            ).lastrowid
            for caption in texts:
                filename = f"{uuid.uuid4()}.jpg"
                (folder / filename).write_bytes(jpeg)
                ids.append(
                    conn.execute(
                        "INSERT INTO posts (user_id, date, caption, filename) "
                        "VALUES (?, '', ?, ?)",
                        (user_id, urllib.parse.quote(caption, safe=""), filename),
                    ).lastrowid
                )
        conn.commit()
        return ids
    finally:
        conn.close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:
        pass


class _FileServer(ThreadingHTTPServer):
    # socketserver's default listen backlog of 5 drops the crawler's SYNs in a
    # burst (1 s retransmits); a real web server accepts far more.
    request_queue_size = 128


class StaticServer:
    """The seed's public static folder, served by a small threaded HTTP server."""

    def __init__(self, root: Path):
        handler = partial(_QuietFiles, directory=str(root))
        self.server = _FileServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> StaticServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class SeedEvents:
    """APScheduler listener: the seed only learned about misses through events."""

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.lock = threading.Lock()

    def __call__(self, event) -> None:
        with self.lock:
            if event.code == EVENT_JOB_MISSED:
                self.counts["missed"] += 1
            elif event.code == EVENT_JOB_ERROR:
                self.counts["error"] += 1
            else:
                self.counts["executed"] += 1
                self.counts[f"returned {event.retval}"] += 1

    def finished(self) -> int:
        with self.lock:
            done = ("missed", "error", "executed")
            return sum(self.counts[name] for name in done)


def run_seed_jobs(ctx: SeedContext, ids: list[int], timeout: float):
    """Schedule one date job per post at T0 and wait (bounded) for them all."""
    # One WARNING per missed job otherwise (create_app() set the level back).
    logging.getLogger("apscheduler").setLevel(logging.CRITICAL)
    events = SeedEvents()
    scheduler = BackgroundScheduler()  # defaults: ThreadPoolExecutor(10), grace 1 s
    scheduler.add_listener(
        events, EVENT_JOB_MISSED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
    )
    scheduler.start()
    try:
        t0 = datetime.now(UTC) + timedelta(seconds=3)
        for post_id in ids:
            scheduler.add_job(
                seed_publish_post,
                args=[ctx, post_id],
                trigger="date",
                run_date=t0,
                id=str(post_id),
            )
        deadline = time.monotonic() + (t0 - datetime.now(UTC)).total_seconds()
        deadline += timeout
        while events.finished() < len(ids) and time.monotonic() < deadline:
            time.sleep(0.25)
        settled = (datetime.now(UTC) - t0).total_seconds()
    finally:
        ctx.stop.set()
        scheduler.shutdown(wait=False)
    # Jobs still queued only report "missed" now; give them a moment (bounded).
    end = time.monotonic() + 5
    while events.finished() < len(ids) and time.monotonic() < end:
        time.sleep(0.1)
    return t0, events, settled


def run_seed(args, tmp: Path, media: tuple[bytes, bytes]) -> dict:
    report("Seed design: starting a fresh simulator and the static file server")
    sim = Simulator(tmp / "sim-seed.log", args.latency_ms, args.ready_after)
    static = None
    try:
        sim.start()
        accounts = sim.make_accounts(args.accounts)
        root = tmp / "seed"
        (root / "static" / "tmp").mkdir(parents=True)
        static = StaticServer(root).start()
        ctx = SeedContext(
            root / "ospost.db", root, static.url, sim.graph_url, threading.Event()
        )
        captions = captions_for(args.accounts, args.per_account)
        ids = seed_database(ctx, accounts, captions, media[0])
        t0, events, settled = run_seed_jobs(ctx, ids, args.timeout)
        records = sim.records()
        flat = [c for texts in captions for c in texts]
        figures = analyse(records, flat, t0, args)
        figures["jobs"] = dict(events.counts)
        figures["missed_jobs"] = events.counts["missed"]
        figures["seed_settled_s"] = settled
        return figures
    finally:
        if static is not None:
            static.stop()
        sim.stop()


# --------------------------------------------------------------------------- output


def _fmt(value, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def _pair(fig: dict, a: str, b: str, unit: str = "", digits: int = 2) -> str:
    if not fig:
        return "skipped"
    return f"{_fmt(fig.get(a), '', digits)} / {_fmt(fig.get(b), '', digits)}{unit}"


def _all_published(fig: dict) -> str:
    if not fig:
        return "skipped"
    if fig["all_published_s"] is not None:
        return f"{fig['all_published_s']:.2f} s"
    return f"no: {fig['published']}/{fig['posts']} in the end"


def _calls(fig: dict) -> str:
    if not fig:
        return "skipped"
    return f"{fig['calls_mean']:.2f} / {fig['calls_max']}"


ROWS = (
    ("posts due at T0", lambda f: _fmt(f.get("posts"))),
    ("published by T0 + timeout", lambda f: _fmt(f.get("published_by_deadline"))),
    ("published in all (incl. shutdown)", lambda f: _fmt(f.get("published"))),
    ("still pending when stopped", lambda f: _fmt(f.get("pending"))),
    ("all published within", _all_published),
    ("published at p50/p99 s after T0", lambda f: _pair(f, "publish_p50_s",
                                                        "publish_p99_s")),
    ("first / last publish s after T0", lambda f: _pair(f, "first_publish_s",
                                                        "last_publish_s")),
    ("lost (never published, dropped)", lambda f: _fmt(f.get("lost"))),
    ("duplicates (caption > once)", lambda f: _fmt(f.get("duplicates"))),
    ("lag T0 -> create call p50/p99 s", lambda f: _pair(f, "lag_p50_s", "lag_p99_s")),
    ("lag max s / posts with a create", lambda f: _pair(f, "lag_max_s", "lag_n")),
    ("posts never sent to Graph", lambda f: _fmt(f.get("never_called"))),
    ("Graph calls/post mean / max", _calls),
    ("  graph_calls column max (DB)", lambda f: _fmt(f.get("db_graph_calls_max",
                                                          "n/a"))),
    ("  quota checks (per account)", lambda f: _fmt(f.get("calls_account_level"))),
    ("  failed Graph calls", lambda f: _fmt(f.get("calls_failed"))),
    ("status checks/post mean/max", lambda f: _pair(f, "status_checks_mean",
                                                     "status_checks_max")),
    ("crawler fetch p50/p99 ms", lambda f: _pair(f, "crawl_p50_ms", "crawl_p99_ms",
                                                 digits=0)),
    ("create -> publish p50/p99 s", lambda f: _pair(f, "create_to_publish_p50_s",
                                                    "create_to_publish_p99_s")),
    ("calls with token in URL", lambda f: _fmt(f.get("token_in_url"))),
    ("missed jobs (EVENT_JOB_MISSED)", lambda f: _fmt(f.get("missed_jobs", "n/a"))),
)  # fmt: skip


def print_table(args, ospost: dict[str, dict], seed: dict) -> None:
    report()
    report(
        f"Publish burst: {args.accounts} accounts x {args.per_account} posts due at "
        f"T0; simulator latency {args.latency_ms:g} ms/call, containers ready after "
        f"{args.ready_after:g} s; Ospost: gunicorn -w {args.workers}, "
        f"{args.threads} publish threads/worker; load avg "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    width = 34
    head = "".join(f" {'Ospost ' + name:>22}" for name in ospost)
    report(f"{'':<{width}}{head} {'seed design':>22}")
    for label, cell in ROWS:
        cells = "".join(f" {cell(fig):>22}" for fig in ospost.values())
        report(f"{label:<{width}}{cells} {cell(seed):>22}")
    for name, fig in ospost.items():
        ok = (
            fig.get("all_published_s") is not None
            and fig["all_published_s"] <= TARGET_SECONDS
            and fig["lost"] == 0
            and fig["duplicates"] == 0
        )
        report(
            f"{name}: target (all within {TARGET_SECONDS:g} s, 0 lost, 0 duplicates): "
            + ("MET" if ok else "NOT MET")
        )
    print_ratio(ospost)


def print_ratio(ospost: dict[str, dict]) -> None:
    """PostgreSQL's burst time against SQLite's (both must have finished)."""
    times = {n: f.get("all_published_s") for n, f in ospost.items()}
    if times.get("sqlite") is None or times.get("postgresql") is None:
        return
    ratio = times["postgresql"] / times["sqlite"]
    state = "MET" if ratio <= TARGET_POSTGRES_RATIO else "NOT MET"
    report(
        f"PostgreSQL / SQLite: {times['postgresql']:.2f} s / {times['sqlite']:.2f} s "
        f"= {ratio:.2f}x (target <= {TARGET_POSTGRES_RATIO:g}x): {state}"
    )


def print_engine_notes(name: str, ospost: dict) -> None:
    if not ospost:
        return
    report()
    report(f"Ospost engine on {name}, seen from the simulator (p50 / p99, ms):")
    report(
        "  first status check later than due (created + 2 s): "
        + _pair(ospost, "check_overrun_p50_ms", "check_overrun_p99_ms", digits=0)
    )
    report(
        "  status FINISHED -> publish call, minus latency (1 DB write): "
        + _pair(ospost, "check_to_publish_p50_ms", "check_to_publish_p99_ms", digits=0)
    )
    report(
        "  publish -> permalink call, minus latency (2 DB writes): "
        + _pair(ospost, "publish_to_media_p50_ms", "publish_to_media_p99_ms", digits=0)
    )
    report(f"  crawler fetch+inspect max: {_fmt(ospost['crawl_max_ms'], ' ms', 0)}")
    report(f"  create calls started per second: {ospost['timeline']['creates_per_s']}")
    report(f"  posts published per second:     {ospost['timeline']['published_per_s']}")
    report(
        f"  database: {ospost['db_status']}, graph_calls column mean/max "
        f"{_fmt(ospost['db_graph_calls_mean'])}/{ospost['db_graph_calls_max']}, "
        f"retried {ospost['db_posts_retried']}, errors {ospost['db_errors']}"
    )
    counts = ospost.get("statements")
    if counts:
        per_post = counts["total"] / max(ospost["published"], 1)
        report(
            f"  database statements from T0 (pg_stat_statements): {counts['total']}"
            f" = {per_post:.1f} per published post, "
            f"{counts['begin_commit_rollback']} of them BEGIN/COMMIT/ROLLBACK"
        )
        for calls, query in counts["top"]:
            report(f"    {calls:6d}  {query}")
    report(f"  gunicorn log during the burst: {ospost['server_log']}")
    report(f"  gunicorn log while stopping:   {ospost['shutdown_log']}")
    cpu = ospost["cpu"]
    db = cpu.get("database_cpu_s")
    report(
        f"  CPU from T0 to the end ({cpu['wall_s']} s wall): gunicorn workers "
        f"{cpu['gunicorn_cpu_s']} s, simulator {cpu['simulator_cpu_s']} s"
        + ("" if db is None else f", database server {db} s")
        + f"; whole machine {cpu['machine_busy_pct']}% busy of "
        f"{cpu['machine_cpus']} CPUs"
    )


def show_logs(tmp: Path, lines: int = 15) -> None:
    """On failure: the end of every process log, before the temp dir goes."""
    for path in sorted(tmp.rglob("*.log")):
        report(f"--- last {lines} lines of {path.name}")
        for line in path.read_text(errors="replace").splitlines()[-lines:]:
            report(line)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--per-account", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--ready-after", type=float, default=2)
    parser.add_argument("--threads", type=int, default=16, help="per worker")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-seed", action="store_true")
    add_database_arguments(parser)
    parser.add_argument(
        "--statements",
        action="store_true",
        help="count PostgreSQL's statements with pg_stat_statements (throwaway "
        "server only) and print the most frequent",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="extra server setting as OSPOST_NAME (repeatable), to compare "
        "configurations, e.g. SQLALCHEMY_ENGINE_OPTIONS='{\"pool_size\": 5}'",
    )
    parser.add_argument(
        "--timeout", type=float, default=60, help="seconds to wait after T0 per run"
    )
    parser.add_argument(
        "--lead",
        type=float,
        default=12,
        help="seconds from starting gunicorn to T0 (workers must be up by then)",
    )
    parser.add_argument(
        "--keep-temp", action="store_true", help="keep the temp dir (logs, databases)"
    )
    mixed_burst.add_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sys.path.insert(0, str(ROOT))
    media = processed_upload()
    tmp = Path(tempfile.mkdtemp(prefix="publish-burst-"))
    try:
        dbs = Databases(args.databases, args.database_url, tmp, args.statements)
        with dbs as databases:
            if args.mixed:  # on the first database given
                runner = partial(
                    run_ospost, databases=databases, database=args.databases[0]
                )
                mixed_burst.main(args, tmp, media, runner)
                return
            ospost = {
                name: run_ospost(
                    args, tmp / name, media, databases=databases, database=name
                )
                for name in args.databases
            }
        seed = {} if args.skip_seed else run_seed(args, tmp, media)
    except BaseException:
        show_logs(tmp)
        raise
    finally:
        if args.keep_temp:
            report(f"temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_table(args, ospost, seed)
    for name, figures in ospost.items():
        print_engine_notes(name, figures)
    raw = {"config": vars(args), "ospost": ospost, "seed": seed}
    report(json.dumps(raw, default=str, separators=(",", ":")))


if __name__ == "__main__":
    main()
