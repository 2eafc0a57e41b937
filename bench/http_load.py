"""HTTP load on the two busiest pages: the home grid and the add-post page.

Run from the project root:  .venv/bin/python bench/http_load.py [options]

What it does, all on loopback:

* Everything below runs once per database, SQLite and PostgreSQL, and the
  figures are printed side by side: SQLite in a temp dir, PostgreSQL on a
  throwaway server started like the test suite's (``tests/pgserver.py``) or on
  ``--database-url`` (it must have no users yet, and the bench deletes its rows
  afterwards). ``--databases sqlite`` runs one. A temp dir also holds the
  upload/staging folders.
* The Graph API simulator runs as a subprocess (``python -m simulator --port P``), so
  the login below is the real one: debug_token, token exchange, /me/accounts.
* ``python -m gunicorn -w 2 -b 127.0.0.1:P 'app:create_app()'`` runs with
  production settings (SECRET_KEY, FB_*, APP_URL, TOKEN_ENCRYPTION_KEYS,
  DATABASE_URL).  ``OSPOST_SCHEDULER_ENABLED=false``: the publishing engine is
  off during the load test, so its sweeps do not compete for the CPU (every post
  is in the future anyway).
* We log in once through the running server, like the browser does: GET /login
  for the CSRF token (``<meta name="csrf-token">``), then POST /login with JSON
  ``{"accessToken": <simulator token>, "timezone": "Europe/Paris"}`` and header
  X-CSRFToken, keeping the cookie jar.  The ``ospost_session`` cookie is the
  only credential the load generator gets.
* The grid is seeded directly in the database for that user: ``--posts`` posts
  (200), of which ``--published`` are published and ``--failed`` failed, the
  rest scheduled in the future; every post has its own image and thumbnail
  written through storage.MediaStore, so every tile has an <img>.  Below them,
  the account's Instagram feed: ``--feed`` posts (200) in feed_items with a
  profile row (ig_profiles), each with its own feed thumbnail
  (MediaStore.save_feed_thumbnail), as a refresh from Meta would leave them.
* Load: ``wrk -t2 -c16 -d10s --latency`` with the session cookie, against /
  and /post/add (after a short warm-up of each page).  wrk runs a small Lua
  script that counts non-200 answers and body sizes: a redirect to /login means
  the cookie was not accepted, and the bench fails loudly.  Without
  /usr/bin/wrk (``apt-get install -y wrk``) a Python generator runs instead:
  threads with a requests.Session each for the same duration.  It shares the
  2 cores with the server and Python is a slow client, so its figures are
  pessimistic.
* Besides req/s and p50/p99, the bench reports the server's CPU per request
  (gunicorn workers' utime+stime during the run / requests), which tells how
  far 2 cores can go whatever the client does, and the SQL statements one
  request runs (counted in-process through the same app and database).  It
  also measures the CPU everything else on the machine used during each run
  (/proc/stat minus server, client and database) and warns when that exceeds
  0.2 cores: the figures are then understated. A throwaway PostgreSQL server's
  CPU is counted on its own, as database CPU per request.
* ``--server-threads N`` runs gthread workers with N threads (keep-alive)
  instead of sync workers, to compare (on 2 cores they were slower: the GIL).
* ``--set NAME=JSON`` passes extra settings to the server as OSPOST_NAME, to
  compare configurations.

Prints a table (database, page, req/s, p50/p90/p99/max ms, non-200 count,
size, server and database CPU ms per request), details, and one ``JSON {...}``
line with the raw figures.
Exit status 1 when any answer was not a 200 or the setup failed.

Target (the issues): home grid (200 scheduled posts plus 200 feed posts)
>= 300 req/s with p99 < 100 ms, on each database.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import requests

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

WRK = "/usr/bin/wrk"
SECRET_KEY = "http-load-bench-secret-key-0123456789"
DEMO_FB_USER = "10000000000001"  # simulator.DEMO_USERS["demo"]
COOKIE = "ospost_session"
PAGES = {"home": "/", "add": "/post/add"}
TARGET_RPS = 300.0
TARGET_P99_MS = 100.0
HTTP_TIMEOUT = 10.0

# Counts statuses and body sizes per wrk thread; done() sums them up.
WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  non200 = 0; statuses = ""; body_min = -1; body_max = 0; body_sum = 0; n = 0
end
function response(status, headers, body)
  n = n + 1
  local size = #body
  body_sum = body_sum + size
  if size > body_max then body_max = size end
  if body_min < 0 or size < body_min then body_min = size end
  if status ~= 200 then
    non200 = non200 + 1
    if #statuses < 200 then statuses = statuses .. status .. " " end
  end
end
function done(summary, latency, requests)
  local bad, seen, lo, hi, sum, count = 0, "", -1, 0, 0, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("non200")
    seen = seen .. t:get("statuses")
    local tlo = t:get("body_min")
    if tlo >= 0 and (lo < 0 or tlo < lo) then lo = tlo end
    if t:get("body_max") > hi then hi = t:get("body_max") end
    sum = sum + t:get("body_sum")
    count = count + t:get("n")
  end
  local e = summary.errors
  io.write(string.format(
    "OSPOST {\\"requests\\": %d, \\"duration_us\\": %d, \\"bytes\\": %d, " ..
    "\\"p50_us\\": %d, \\"p90_us\\": %d, \\"p99_us\\": %d, \\"max_us\\": %d, " ..
    "\\"mean_us\\": %.1f, \\"non200\\": %d, \\"non200_sample\\": \\"%s\\", " ..
    "\\"responses_seen\\": %d, \\"body_min\\": %d, \\"body_max\\": %d, " ..
    "\\"body_sum\\": %d, \\"err_connect\\": %d, \\"err_read\\": %d, " ..
    "\\"err_write\\": %d, \\"err_status\\": %d, \\"err_timeout\\": %d}\\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, bad, seen, count, lo, hi, sum,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""

CAPTIONS = [
    "Fresh croissants out of the oven this morning. Come early! #bakery #paris",
    "New seasonal menu: pumpkin soup, roasted chestnuts and a spiced latte.\n\n"
    "Which one are you trying first? #autumn #cafe #menu #foodie",
    "Behind the scenes with our pastry chef 👩‍🍳 #behindthescenes",
    "Sunday brunch is back! Eggs benedict, pancakes, fresh orange juice. "
    "Book a table through the link in our bio. @ospost.demo #brunch #weekend",
    "",
    "Rainy day = hot chocolate day ☔️☕️ #cozy",
]
ALT_TEXTS = ["", "", "A golden croissant on a white plate next to a coffee cup."]


# --------------------------------------------------------------------------- tools


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CpuWindow:
    """CPU used by the server, the client and everything else during a run."""

    def __init__(self, server: Gunicorn, client_cpu) -> None:
        self.server, self.client_cpu = server, client_cpu

    def _now(self) -> tuple[float, float, float, float]:
        db = self.server.db_cpu() or 0.0
        return self.server.cpu(), self.client_cpu(), db, machine_cpu()[0]

    def __enter__(self) -> CpuWindow:
        self.start = self._now()
        return self

    def __exit__(self, *exc) -> None:
        used = [end - start for end, start in zip(self._now(), self.start, strict=True)]
        self.server_s, self.client_s, self.db_s, busy = used
        # Other sessions on a shared machine skew every figure: say how much.
        self.other_s = max(busy - self.server_s - self.client_s - self.db_s, 0.0)


# --------------------------------------------------------------------------- processes


class Simulator(SimulatorProcess):
    """The Graph API simulator, which also hands out the login token."""

    def token(self, fb_user_id: str) -> str:
        return self.post("/_sim/token", {"fb_user_id": fb_user_id})["accessToken"]


class Gunicorn(GunicornProcess):
    """The server under load; ``threads`` > 0 runs gthread workers (keep-alive)."""

    def __init__(
        self,
        env: dict,
        port: int,
        workers: int,
        log_path: Path,
        threads: int = 0,
        db_cpu=lambda: None,
    ):
        options = ("--threads", str(threads)) if threads else ()
        super().__init__(env, port, workers, log_path, *options, graceful_timeout=5)
        self.db_cpu = db_cpu  # CPU seconds of its database server, when known

    def start(self) -> Gunicorn:
        self.launch()
        wait_until(self._ready, 60, "gunicorn to answer")
        return self

    def _ready(self) -> bool:
        if self.exited():
            raise RuntimeError(f"gunicorn exited; see {self.log_path}")
        try:
            # A static file: answering it creates no session row (GET /login would).
            requests.get(f"{self.url}/static/css/styles.css", timeout=1)
        except requests.RequestException:
            return False
        return len(self.worker_pids()) >= self.workers

    def cpu(self) -> float:
        return sum(map(cpu_seconds, self.worker_pids()))

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def server_env(
    sim: Simulator, port: int, db_url: str, tmp: Path, extra: list[str]
) -> dict:
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
        APP_URL=f"http://127.0.0.1:{port}",
        TOKEN_ENCRYPTION_KEYS=TOKEN_KEY,
        DATABASE_URL=db_url,
        OSPOST_UPLOAD_FOLDER=str(tmp / "uploads"),
        OSPOST_STAGING_FOLDER=str(tmp / "staging"),
        OSPOST_SCHEDULER_ENABLED="false",
    )
    for item in extra:
        name, _, value = item.partition("=")
        env[f"OSPOST_{name}"] = value
    return env


# --------------------------------------------------------------------------- app side


def create_schema(app) -> None:
    from sqlalchemy import func
    from sqlalchemy import select

    from models import User
    from models import db

    with app.app_context():
        db.create_all()
        if db.session.scalar(select(func.count()).select_from(User)):
            raise RuntimeError("the database already has users; give an empty one")


def seed_grid(app, user_id: int, posts: int, published: int, failed: int) -> dict:
    """Posts for the logged-in user, each with its own files; returns counts."""
    from models import Post
    from models import PostStatus
    from models import User
    from models import db

    store = app.extensions["media_store"]
    jpeg, thumb = processed_upload()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with app.app_context():
        user = db.session.get(User, user_id)
        # Keep every date inside the login's lifetime (and MAX_SCHEDULE_DAYS).
        horizon = user.schedule_limit(now, app.config["MAX_SCHEDULE_DAYS"]) - now
        scheduled = max(posts - published - failed, 0)
        step = min(horizon / max(scheduled + failed + 1, 1), timedelta(hours=6))
        for i in range(posts):
            name, thumb_name = store.save(user.ig_account_id, jpeg, thumb)
            post = Post(
                user=user,
                caption=CAPTIONS[i % len(CAPTIONS)] + f" ({i + 1})",
                alt_text=ALT_TEXTS[i % len(ALT_TEXTS)],
                filename=name,
            )
            post.thumbnail, post.width, post.height = thumb_name, 1080, 1350
            if i < published:
                when = now - timedelta(days=published - i)
                post.schedule(when)
                post.mark_published(f"1790{i:011d}", when + timedelta(seconds=40))
                post.permalink = f"https://www.instagram.com/p/bench{i}/"
            else:
                post.schedule(now + step * (i - published + 1))
                if i < published + failed:
                    post.fail(
                        "The image could not be fetched by Instagram.",
                        code=9004,
                        subcode=2207052,
                        fbtrace_id=f"Bench{i}",
                    )
            db.session.add(post)
        db.session.commit()
        counts = Counter(
            db.session.scalars(
                db.select(Post.status).where(Post.user_id == user_id)
            ).all()
        )
    return {str(PostStatus(k)): v for k, v in counts.items()}


def seed_feed(app, user_id: int, count: int) -> int:
    """The account's Instagram feed as a refresh leaves it; returns its size."""
    from models import FeedItem
    from models import InstagramProfile
    from models import User
    from models import db

    store = app.extensions["media_store"]
    _, thumb = processed_upload()
    now = datetime.now(UTC).replace(microsecond=0)
    kinds = [("IMAGE", "FEED")] * 7 + [("CAROUSEL_ALBUM", "FEED"), ("VIDEO", "REELS")]
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.add(
            InstagramProfile(
                user_id=user_id,
                username=user.ig_username,
                name="Ospost Demo Café",
                followers_count=12_345,
                follows_count=321,
                media_count=count,
                version=1,
                refreshed_at=now,
                attempted_at=now,
            )
        )
        for i in range(count):
            media_id = f"1780{i:013d}"
            media_type, product = kinds[i % len(kinds)]
            db.session.add(
                FeedItem(
                    user_id=user_id,
                    ig_media_id=media_id,
                    media_type=media_type,
                    product_type=product,
                    permalink=f"https://www.instagram.com/p/feed{i}/",
                    caption=CAPTIONS[i % len(CAPTIONS)],
                    posted_at=now - timedelta(days=30 + i),
                    thumbnail=store.save_feed_thumbnail(
                        user.ig_account_id, media_id, thumb
                    ),
                )
            )
        db.session.commit()
        return db.session.scalar(
            db.select(db.func.count(FeedItem.id)).where(FeedItem.user_id == user_id)
        )


def drop_bench_rows(app) -> None:
    """On a database given with --database-url: remove what the bench wrote.

    The database had no users when we started, so every row of the simulator's
    demo user is ours.
    """
    from sqlalchemy import delete
    from sqlalchemy import select

    from models import FeedItem
    from models import InstagramProfile
    from models import Post
    from models import User
    from models import WebSession
    from models import db

    with app.app_context():
        ours = select(User.id).where(User.fb_user_id == DEMO_FB_USER)
        db.session.execute(delete(FeedItem).where(FeedItem.user_id.in_(ours)))
        db.session.execute(
            delete(InstagramProfile).where(InstagramProfile.user_id.in_(ours))
        )
        db.session.execute(delete(Post).where(Post.user_id.in_(ours)))
        db.session.execute(delete(WebSession).where(WebSession.user_id.in_(ours)))
        db.session.execute(delete(User).where(User.fb_user_id == DEMO_FB_USER))
        db.session.commit()


def login(base: str, token: str) -> tuple[str, requests.Session]:
    """Log in through the running server, as the login page's script does."""
    http = requests.Session()
    page = http.get(f"{base}/login", timeout=HTTP_TIMEOUT)
    page.raise_for_status()
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    if not match:
        raise RuntimeError("GET /login has no csrf-token meta tag")
    resp = http.post(
        f"{base}/login",
        json={"accessToken": token, "timezone": "Europe/Paris"},
        headers={"X-CSRFToken": html.unescape(match.group(1))},
        timeout=HTTP_TIMEOUT,
    )
    body = resp.json() if resp.headers.get("content-type", "").startswith(
        "application/json"
    ) else {}  # fmt: skip
    if resp.status_code != 200 or not body.get("ok"):
        raise RuntimeError(f"login failed: HTTP {resp.status_code} {body}")
    sid = http.cookies.get(COOKIE)
    if not sid:
        raise RuntimeError(f"login answered 200 but set no {COOKIE} cookie")
    return sid, http


def session_user(app, sid: str) -> int:
    """The user id stored in the server-side session ``sid``."""
    from sqlalchemy import select

    from models import WebSession
    from models import db

    with app.app_context():
        row = db.session.scalar(
            select(WebSession).where(WebSession.session_id == f"session:{sid}")
        )
        if row is None or row.user_id is None:
            raise RuntimeError("the login session is not in web_sessions")
        return row.user_id


def check_page(base: str, path: str, sid: str) -> dict:
    """One request as the load generator makes it: must be 200, not a redirect."""
    resp = requests.get(
        base + path,
        headers={"Cookie": f"{COOKIE}={sid}"},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    if resp.status_code != 200:
        where = resp.headers.get("Location", "")
        raise RuntimeError(
            f"GET {path} answered {resp.status_code} {where}: the session cookie "
            "was not accepted"
        )
    return {
        "bytes": len(resp.content),
        "tiles": resp.text.count('<li class="tile '),
        "imgs": resp.text.count('class="tile-img" src="/uploads/'),
        "feed_tiles": resp.text.count('<li class="feed-tile">'),
        "feed_imgs": resp.text.count('class="feed-img" src="/feed/thumbnails/'),
        "set_cookie": COOKIE in resp.headers.get("Set-Cookie", ""),
    }


def sql_per_request(app, sid: str, path: str, runs: int) -> dict:
    """SQL statements one GET runs, by kind (through the app in this process)."""
    from sqlalchemy import event

    from models import db

    kinds: Counter = Counter()

    def on_execute(conn, cursor, statement, params, context, executemany):
        words = statement.lstrip().split(None, 3)
        verb = words[0].upper() if words else "?"
        table = ""
        if verb == "UPDATE" and len(words) > 1:
            table = " " + words[1]
        kinds[verb + table] += 1

    def on_commit(conn):
        kinds["COMMIT"] += 1

    client = app.test_client()
    client.set_cookie(COOKIE, sid, domain="localhost")
    with app.app_context():
        engine = db.engine
    client.get(path)  # warm-up: compiled templates and statements
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        for _ in range(runs):
            resp = client.get(path)
            if resp.status_code != 200:
                raise RuntimeError(f"in-process GET {path}: {resp.status_code}")
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)
    return {k: round(v / runs, 2) for k, v in sorted(kinds.items())}


# --------------------------------------------------------------------------- load


@dataclass
class Result:
    page: str
    generator: str
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    non200: int = 0
    non200_sample: list = field(default_factory=list)
    socket_errors: dict = field(default_factory=dict)
    body_min: int | None = None
    body_max: int | None = None
    server_cpu_s: float = 0.0
    db_cpu_s: float = 0.0
    other_cpu_s: float = 0.0
    server_cpu_ms_per_req: float | None = None
    db_cpu_ms_per_req: float | None = None
    client_cpu_s: float = 0.0
    raw: dict = field(default_factory=dict)


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(text: str) -> dict:
    """req/s, p50/p90/p99 (ms) from wrk's text, plus the Lua script's line."""
    out: dict = {}
    match = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if match:
        out["rps"] = float(match.group(1))
    for p in ("50", "90", "99"):
        match = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        if match:
            out[f"p{p}_ms"] = float(match.group(1)) * UNITS_MS[match.group(2)]
    match = re.search(r"^OSPOST (\{.*\})\s*$", text, re.M)
    if match:
        out["lua"] = json.loads(match.group(1))
    return out


def run_wrk(url: str, sid: str, args, script: Path, seconds: float) -> dict:
    cmd = [WRK, f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s"]
    cmd += ["--latency", "--timeout", "10s", "-s", str(script)]
    cmd += ["-H", f"Cookie: {COOKIE}={sid}", url]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()}")
    parsed = parse_wrk(proc.stdout)
    if "rps" not in parsed or "p99_ms" not in parsed or "lua" not in parsed:
        raise RuntimeError(f"could not parse wrk's output:\n{proc.stdout}")
    parsed["text"] = proc.stdout
    return parsed


def load_wrk(page: str, url: str, sid: str, args, server: Gunicorn, script: Path):
    run_wrk(url, sid, args, script, args.warmup)
    with CpuWindow(server, children_cpu) as cpu:
        parsed = run_wrk(url, sid, args, script, args.duration)
    lua = parsed["lua"]
    result = Result(page, "wrk")
    result.requests = lua["requests"]
    result.seconds = lua["duration_us"] / 1e6
    result.rps = parsed["rps"]
    result.p50_ms, result.p90_ms = parsed.get("p50_ms"), parsed.get("p90_ms")
    result.p99_ms, result.max_ms = parsed["p99_ms"], lua["max_us"] / 1000
    result.non200 = lua["non200"]
    result.non200_sample = lua["non200_sample"].split()[:10]
    result.socket_errors = {
        k[4:]: v for k, v in lua.items() if k.startswith("err_") and v
    }
    result.body_min, result.body_max = lua["body_min"], lua["body_max"]
    result.server_cpu_s, result.client_cpu_s = cpu.server_s, cpu.client_s
    result.db_cpu_s, result.other_cpu_s = cpu.db_s, cpu.other_s
    result.raw = {k: v for k, v in lua.items() if k != "non200_sample"}
    return result


def python_worker(url, sid, deadline, out: list, lock: threading.Lock):
    """One client connection: requests until ``deadline`` (bounded in time)."""
    import http.cookiejar

    http_ = requests.Session()
    # Send exactly the login cookie, like wrk; ignore the Set-Cookie refreshes.
    http_.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    headers = {"Cookie": f"{COOKIE}={sid}"}
    mine = []
    try:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                resp = http_.get(
                    url, headers=headers, allow_redirects=False, timeout=HTTP_TIMEOUT
                )
                mine.append((time.perf_counter() - start, resp.status_code,
                             len(resp.content), time.monotonic()))  # fmt: skip
            except requests.RequestException as exc:
                mine.append((time.perf_counter() - start, type(exc).__name__, 0,
                             time.monotonic()))  # fmt: skip
    finally:
        http_.close()
        with lock:
            out.extend(mine)


def run_python(url: str, sid: str, connections: int, seconds: float) -> dict:
    samples: list = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=python_worker, args=(url, sid, deadline, samples, lock), daemon=True
        )
        for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + HTTP_TIMEOUT + 5)
    with lock:
        done = list(samples)
    # Like wrk: throughput counts what finished within the run; latencies also
    # include the requests that were in flight at the deadline.
    finished = sum(1 for s in done if s[3] <= deadline)
    return {"samples": done, "finished": finished, "seconds": seconds}


def load_python(page: str, url: str, sid: str, args, server: Gunicorn) -> Result:
    run_python(url, sid, args.connections, args.warmup)
    with CpuWindow(server, self_cpu) as cpu:
        run = run_python(url, sid, args.connections, args.duration)
    samples = run["samples"]
    latencies = [s[0] * 1000 for s in samples]
    bad = [s[1] for s in samples if s[1] != 200]
    sizes = [s[2] for s in samples if s[1] == 200]
    result = Result(page, "python")
    result.requests, result.seconds = len(samples), run["seconds"]
    result.rps = run["finished"] / run["seconds"]
    result.p50_ms, result.p90_ms = pct(latencies, 50), pct(latencies, 90)
    result.p99_ms, result.max_ms = pct(latencies, 99), max(latencies, default=None)
    result.non200 = len(bad)
    result.non200_sample = [str(b) for b in bad[:10]]
    result.body_min, result.body_max = (
        min(sizes, default=None),
        max(sizes, default=None),
    )
    result.server_cpu_s, result.client_cpu_s = cpu.server_s, cpu.client_s
    result.db_cpu_s, result.other_cpu_s = cpu.db_s, cpu.other_s
    return result


# --------------------------------------------------------------------------- output


def fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(runs: dict[str, dict]) -> None:
    head = (
        f"{'database':<11} {'page':<10} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'non-200':>7} {'KiB':>6} "
        f"{'CPU ms/req: server':>18} {'database':>8}"
    )
    report(head)
    report("-" * len(head))
    for page in PAGES:
        for name, run in runs.items():
            r = next(r for r in run["results"] if r.page == page)
            size = run["sizes"][page]["bytes"] / 1024
            report(
                f"{name:<11} {PAGES[page]:<10} {r.rps:>8.1f} {fmt(r.p50_ms):>7} "
                f"{fmt(r.p90_ms):>7} {fmt(r.p99_ms):>7} {fmt(r.max_ms):>7} "
                f"{r.non200:>7} {size:>6.1f} {fmt(r.server_cpu_ms_per_req, 2):>18} "
                f"{fmt(r.db_cpu_ms_per_req, 2):>8}"
            )


def verdict(name: str, home: Result) -> str:
    rps_ok = home.rps >= TARGET_RPS
    p99_ok = home.p99_ms is not None and home.p99_ms < TARGET_P99_MS
    parts = [
        f"{home.rps:.0f} req/s {'>=' if rps_ok else '<'} {TARGET_RPS:.0f}",
        f"p99 {fmt(home.p99_ms)} ms {'<' if p99_ok else '>='} {TARGET_P99_MS:.0f}",
    ]
    state = "MET" if rps_ok and p99_ok else "MISSED"
    return f"{name}: home grid target {state}: " + ", ".join(parts)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=200, help="posts on the grid")
    parser.add_argument("--published", type=int, default=10, help="of which live")
    parser.add_argument("--failed", type=int, default=5, help="of which failed")
    parser.add_argument(
        "--feed", type=int, default=200, help="posts of the Instagram feed below"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--server-threads",
        type=int,
        default=0,
        help="gunicorn --threads (gthread workers with keep-alive); 0: sync workers",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds/page")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds/page")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c")
    parser.add_argument(
        "--generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="wrk when /usr/bin/wrk exists (auto), else the Python generator",
    )
    add_database_arguments(parser)
    parser.add_argument(
        "--sql-runs", type=int, default=20, help="requests to count SQL over"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="extra server setting as OSPOST_NAME (repeatable), e.g. "
        "SESSION_REFRESH_EACH_REQUEST=false",
    )
    args = parser.parse_args(argv)
    for item in args.set:
        name, sep, _ = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            parser.error(f"--set wants NAME=JSON, got {item!r}")
    if args.published + args.failed > args.posts:
        parser.error("--published + --failed must not exceed --posts")
    if not 0 < args.duration <= 600 or not 0 < args.warmup <= 60:
        parser.error("--duration must be in (0, 600] and --warmup in (0, 60]")
    return args


def choose_generator(wanted: str) -> str:
    has_wrk = os.access(WRK, os.X_OK)
    if wanted == "wrk" and not has_wrk:
        raise SystemExit(f"{WRK} is missing: apt-get install -y wrk")
    if wanted == "auto" and not has_wrk:
        report(
            f"NOTE: {WRK} is missing (apt-get install -y wrk); using the Python "
            "generator, which shares the CPU with the server: pessimistic figures."
        )
        return "python"
    return "wrk" if wanted == "auto" else wanted


def page_figures(r: Result, sizes: dict, sql: dict) -> dict:
    return {
        "path": PAGES[r.page],
        "requests": r.requests,
        "seconds": round(r.seconds, 3),
        "rps": round(r.rps, 1),
        "p50_ms": r.p50_ms and round(r.p50_ms, 2),
        "p90_ms": r.p90_ms and round(r.p90_ms, 2),
        "p99_ms": r.p99_ms and round(r.p99_ms, 2),
        "max_ms": r.max_ms and round(r.max_ms, 2),
        "non200": r.non200,
        "socket_errors": r.socket_errors,
        "response_bytes": sizes[r.page]["bytes"],
        "body_min": r.body_min,
        "body_max": r.body_max,
        "server_cpu_s": round(r.server_cpu_s, 2),
        "server_cpu_ms_per_req": r.server_cpu_ms_per_req
        and round(r.server_cpu_ms_per_req, 2),
        "database_cpu_ms_per_req": r.db_cpu_ms_per_req
        and round(r.db_cpu_ms_per_req, 2),
        "client_cpu_s": round(r.client_cpu_s, 2),
        "other_processes_cpu_s": round(r.other_cpu_s, 2),
        "sql_per_request": sql[r.page],
        "session_cookie_reissued": sizes[r.page]["set_cookie"],
        "wrk": r.raw,
    }


def print_details(name: str, run: dict) -> None:
    for page, kinds in run["sql"].items():
        report(f"{name}: SQL per GET {PAGES[page]}: {kinds}")
    for r in run["results"]:
        cores = r.server_cpu_s / max(r.seconds, 1e-9)
        other = r.other_cpu_s / max(r.seconds, 1e-9)
        db = f", database {r.db_cpu_s:.1f} s" if r.db_cpu_ms_per_req else ""
        report(
            f"{name}: {PAGES[r.page]}: {r.requests} requests in {r.seconds:.1f} s, "
            f"server CPU {r.server_cpu_s:.1f} s ({cores:.2f} cores){db}, client CPU "
            f"{r.client_cpu_s:.1f} s, other processes {r.other_cpu_s:.1f} s "
            f"({other:.2f} cores); bodies {r.body_min}-{r.body_max} bytes"
        )
        if other > 0.2:
            report(
                f"WARNING: other processes used {other:.2f} cores during the "
                f"{PAGES[r.page]} run; req/s and latencies are understated."
            )
        if r.socket_errors:
            report(
                f"WARNING: {PAGES[r.page]} socket errors {r.socket_errors}: requests "
                "that timed out are missing from the latency percentiles."
            )


def print_report(setup: dict, runs: dict[str, dict]) -> int:
    """The side-by-side table, the details, one JSON line; returns the exit
    status."""
    report()
    print_table(runs)
    report()
    for name, run in runs.items():
        print_details(name, run)
    for name, run in runs.items():
        report(verdict(name, run["results"][0]))
    figures = {
        **setup,
        "databases": {
            name: {
                "posts": run["counts"],
                "pages": {
                    r.page: page_figures(r, run["sizes"], run["sql"])
                    for r in run["results"]
                },
            }
            for name, run in runs.items()
        },
    }
    report("JSON " + json.dumps(figures, sort_keys=True))
    failed = [(n, r) for n, run in runs.items() for r in run["results"] if r.non200]
    for name, r in failed:
        report(
            f"FAIL: {name}: GET {PAGES[r.page]} had {r.non200} non-200 answers, e.g. "
            f"{r.non200_sample} (302 = the session cookie was not accepted)"
        )
    return 1 if failed else 0


def prepare(args, sim: Simulator, server: Gunicorn, app) -> tuple[str, dict]:
    """Log in, seed the grid, check both pages; returns the cookie and counts."""
    sid, _ = login(server.url, sim.token(DEMO_FB_USER))
    user_id = session_user(app, sid)
    started = time.monotonic()
    counts = seed_grid(app, user_id, args.posts, args.published, args.failed)
    counts["feed"] = seed_feed(app, user_id, args.feed)
    report(
        f"logged in through POST /login; seeded {args.posts} posts and "
        f"{counts['feed']} feed posts {counts} with thumbnails in "
        f"{time.monotonic() - started:.1f} s"
    )
    return sid, counts


def check_pages(args, server: Gunicorn, sid: str) -> dict:
    sizes = {page: check_page(server.url, path, sid) for page, path in PAGES.items()}
    home = sizes["home"]
    if home["tiles"] != args.posts or home["imgs"] != args.posts:
        raise RuntimeError(
            f"the home grid shows {home['tiles']} tiles and {home['imgs']} "
            f"thumbnails; expected {args.posts}"
        )
    if home["feed_tiles"] != args.feed or home["feed_imgs"] != args.feed:
        raise RuntimeError(
            f"the home grid shows {home['feed_tiles']} feed tiles and "
            f"{home['feed_imgs']} feed thumbnails; expected {args.feed}"
        )
    return sizes


def load_all(args, generator: str, server: Gunicorn, sid: str, tmp: Path):
    client = (
        f"wrk -t{args.threads} -c{args.connections}"
        if generator == "wrk"
        else f"Python generator: {args.connections} threads/connections"
    )
    kind = (
        f"gthread workers, {args.server_threads} threads"
        if args.server_threads
        else "sync workers"
    )
    report(
        f"gunicorn -w {args.workers} ({kind}, scheduler off), {client}, "
        f"{args.duration:g} s per page after {args.warmup:g} s warm-up; "
        f"{os.cpu_count()} CPUs shared by server and client"
    )
    script = tmp / "count.lua"
    script.write_text(WRK_SCRIPT)
    results = []
    for page, path in PAGES.items():
        url = server.url + path
        if generator == "wrk":
            result = load_wrk(page, url, sid, args, server, script)
        else:
            result = load_python(page, url, sid, args, server)
        if result.requests:
            result.server_cpu_ms_per_req = 1000 * result.server_cpu_s / result.requests
            if server.db_cpu() is not None:
                result.db_cpu_ms_per_req = 1000 * result.db_cpu_s / result.requests
        results.append(result)
    return results


def run(args, tmp: Path, databases: Databases, database: str) -> dict:
    """Set up, log in, seed and load both pages on one database."""
    from models import db

    tmp = tmp / database
    tmp.mkdir()
    db_url = databases.url_of(database)
    report(f"== {database}")
    sim = Simulator(tmp / "simulator.log")
    server, app, schema_ok = None, None, False
    try:
        sim.start()
        port = free_port()
        app = seeding_app(
            sim.graph_url, f"http://127.0.0.1:{port}", db_url, tmp, SECRET_KEY
        )
        create_schema(app)
        schema_ok = True
        env = server_env(sim, port, db_url, tmp, args.set)
        server = Gunicorn(
            env, port, args.workers, tmp / "gunicorn.log", args.server_threads,
            db_cpu=lambda: databases.cpu(database),
        )  # fmt: skip
        server.start()  # assigned first, so a failed start is still stopped
        if args.set:
            report("server settings: " + ", ".join(f"OSPOST_{s}" for s in args.set))
        sid, counts = prepare(args, sim, server, app)
        sizes = check_pages(args, server, sid)
        sql = {p: sql_per_request(app, sid, path, args.sql_runs) for p, path in
               PAGES.items()}  # fmt: skip
        with app.app_context():
            db.engine.dispose()  # this process stays off the database from here
        results = load_all(args, args.generator_used, server, sid, tmp)
        return {"results": results, "sizes": sizes, "sql": sql, "counts": counts}
    finally:
        if server is not None:
            server.stop()
        sim.stop()
        if app is not None:
            if databases.given(database) and schema_ok:
                drop_bench_rows(app)
            with app.app_context():
                db.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    args.generator_used = choose_generator(args.generator)
    tmp = Path(tempfile.mkdtemp(prefix="ospost-http-load-"))
    try:
        with Databases(args.databases, args.database_url, tmp) as databases:
            runs = {name: run(args, tmp, databases, name) for name in args.databases}
        setup = {
            "generator": args.generator_used,
            "workers": args.workers,
            "threads": args.threads,
            "connections": args.connections,
            "duration_s": args.duration,
            "cpus": os.cpu_count(),
            "settings": args.set,
        }
        return print_report(setup, runs)
    except RuntimeError as exc:
        report(f"FAIL: {exc}")
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
