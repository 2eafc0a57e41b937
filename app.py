"""Ospost: schedule image posts to Instagram.

``create_app()`` builds the Flask app from the environment (``.env`` is read by
python-dotenv): the configuration lives here; its production checks
(``ospost.production``), the database (``ospost.database``), sessions, CSRF,
the shared web layer (``ospost.web``), media storage (``ospost.storage``), the
publishing scheduler and the blueprints are wired in from the ``ospost`` package.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from pathlib import Path

import click
from dotenv import load_dotenv
from flask import Flask
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from models import db
from models import token_cipher
from ospost import account_views
from ospost import auth
from ospost import bulk
from ospost import calendar
from ospost import carousel_videos
from ospost import database
from ospost import feed
from ospost import history
from ospost import library
from ospost import notify
from ospost import orphans
from ospost import posts
from ospost import production
from ospost import queue_form
from ospost import ratelimit
from ospost import reachability
from ospost import reel_views
from ospost import schemas
from ospost import shelf
from ospost import storage
from ospost import web
from ospost.blobstore import S3_SETTINGS
from ospost.grid import GridCache
from ospost.media import jobs as video_jobs
from ospost.reels import conversions
from ospost.scheduler import publisher
from ospost.sessions import DatabaseSessionInterface

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("ospost")

csrf = CSRFProtect()
migrate = Migrate()

ENV_SETTINGS = (
    "SECRET_KEY",
    "FB_APP_ID",
    "FB_APP_SECRET",
    "FB_VERSION",
    "FB_ENDPOINT",
    "APP_URL",
    "TOKEN_ENCRYPTION_KEYS",
    "RATELIMIT_STORAGE_URI",
    "HEALTHZ_TOKEN",
    *S3_SETTINGS,
)


def create_app(test_config: dict | None = None) -> Flask:
    """Build a configured Ospost app (``test_config`` overrides the environment)."""
    load_dotenv(ROOT / ".env")
    app = Flask(__name__, instance_relative_config=True)
    _configure(app, test_config or {})
    web.configure_logging(app)
    database.init_app(app)  # before the first connection: the file is private
    if app.config["DEMO_SIMULATOR"]:
        log.info("demo mode: Graph API simulator at %s", app.config["FB_ENDPOINT"])

    db.init_app(app)
    database.watch_connections(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    app.session_interface = DatabaseSessionInterface(app)
    web.init_app(app)
    ratelimit.init_app(app)  # after web: limits per person need g.user
    schemas.init_app(app)
    storage.init_app(app)
    video_jobs.init_app(app)  # VIDEO_* limits for the video converter
    _trust_proxies(app)
    app.extensions["grid_cache"] = GridCache(app.config["GRID_CACHE_MB"] * 1024 * 1024)
    publisher.init_app(app)
    publisher.jobs["media-sweep"] = orphans.schedule(app)
    feed.init_app(app)
    notify.init_app(app)  # after csrf and publisher: it exempts a route, adds a job
    conversions.init_app(app)  # after publisher: adds the resume job
    carousel_videos.init_app(app)  # the post forms may carry videos
    token_cipher.configure(app.config["TOKEN_ENCRYPTION_KEYS"])

    app.register_blueprint(auth.bp)
    # Meta's server-to-server callbacks are signed instead of carrying a CSRF token.
    csrf.exempt(auth.deauthorize)
    csrf.exempt(auth.data_deletion)
    app.register_blueprint(posts.bp)
    # Can Meta fetch the images? Checked in the background, logged, shown on
    # the account page (tests run the checks themselves).
    reachability.init_app(app, check_now=_is_serving(app) and not app.config["TESTING"])
    app.register_blueprint(calendar.bp)
    app.register_blueprint(queue_form.bp)
    app.register_blueprint(shelf.bp)
    app.register_blueprint(bulk.bp)
    app.register_blueprint(library.bp)
    app.register_blueprint(reel_views.bp)
    app.register_blueprint(account_views.bp)
    history.init_app(app)

    if _should_start_scheduler(app):
        publisher.start()
        feed.start(app)
    return app


# -- configuration -----------------------------------------------------------


def _configure(app: Flask, overrides: dict) -> None:
    env = {k: os.environ[k] for k in ENV_SETTINGS if os.environ.get(k)}
    port = os.environ.get("PORT", "5000")
    app.config.from_mapping(
        SECRET_KEY=production.DEV_SECRET,
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL")
        or f"sqlite:///{ROOT / 'tmp' / 'ospost.db'}",
        FB_VERSION="v21.0",
        APP_URL=f"http://127.0.0.1:{port}",
        DEMO=not env.get("FB_APP_ID"),
        UPLOAD_FOLDER=str(ROOT / "uploads"),
        STAGING_FOLDER=str(ROOT / "static" / "tmp"),
        # This host's scratch space for video uploads and conversions (one
        # folder per job, removed when it ends; PyAV needs local files).
        VIDEO_WORK_FOLDER=str(ROOT / "tmp" / "video-work"),
        # S3-compatible media storage (S3_BUCKET etc. from the environment):
        # how long Meta's crawler may use a presigned URL, the client's
        # connect/read timeouts and attempts per request.
        S3_PRESIGN_SECONDS=3600,
        S3_TIMEOUT=(3.05, 20),
        S3_ATTEMPTS=3,
        # How often each process sweeps media no row refers to any more, and
        # how old such a file must be before it goes.
        MEDIA_SWEEP_HOURS=6,
        MEDIA_ORPHAN_HOURS=24,
        MAX_CONTENT_LENGTH=30 * 1024 * 1024,
        MAX_SCHEDULE_DAYS=50,
        GRID_CACHE_MB=32,
        # Uploads decoded at once per process (0: one per CPU core), the memory
        # they may share, and how long an upload waits for room before a 503.
        IMAGE_WORKERS=0,
        IMAGE_MEMORY_MB=256,
        IMAGE_WAIT_SECONDS=5,
        SCHEDULER_ENABLED=True,
        GRAPH_TIMEOUT=(3.05, 20),
        SESSION_PERMANENT=True,
        PERMANENT_SESSION_LIFETIME=14 * 24 * 3600,
        SESSION_COOKIE_NAME="ospost_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        PUBLISH_LEASE_SECONDS=120,
        PUBLISH_FIRST_CHECK_SECONDS=2,
        PUBLISH_CHECK_INTERVAL_SECONDS=3,
        PUBLISH_CHECK_TIMEOUT_SECONDS=300,
        PUBLISH_BACKOFF_BASE_SECONDS=2,
        PUBLISH_BACKOFF_CAP_SECONDS=300,
        PUBLISH_MAX_ATTEMPTS=8,
        PUBLISH_MAX_GRAPH_CALLS=10,
        PUBLISH_QUOTA_WAIT_SECONDS=1800,
        PUBLISH_MISSED_WINDOW_HOURS=24,
        # Meta expires an unpublished container after 24 h, after which its
        # status answers "was it published?" for sure.
        PUBLISH_VERIFY_HOURS=26,
        PUBLISH_SWEEP_SECONDS=30,
        # Wake-up jobs are kept for posts due within this many seconds; later
        # ones get theirs as time passes (0: a job for every pending post).
        PUBLISH_HORIZON_SECONDS=3600,
        PUBLISH_THREADS=16,
        # Reels and Stories: first gap between checks of a video container
        # (Meta: at most once a minute), doubling up to the max gap; Meta
        # expires an unpublished container after 24 hours.
        PUBLISH_VIDEO_CHECK_SECONDS=60,
        PUBLISH_VIDEO_MAX_GAP_SECONDS=600,
        PUBLISH_VIDEO_CONTAINER_HOURS=24,
        # Largest video upload the composer accepts (Reels, Stories).
        VIDEO_MAX_UPLOAD_MB=1000,
        SIGNED_REQUEST_MAX_AGE_SECONDS=600,
        SCHEDULE_QUOTA_DEFAULT=100,
        SCHEDULE_QUOTA_WARN_PERCENT=90,
        DEMO_SIMULATOR=None,
        # At start-up, check in the background that Meta can fetch images
        # through APP_URL (the account page can always check again).
        APP_URL_CHECK=True,
        # Proxies (nginx, a load balancer) between the internet and gunicorn
        # whose X-Forwarded-* headers are believed; 0 believes none.
        TRUSTED_PROXY_COUNT=0,
    )
    # Any setting can also come from OSPOST_<NAME> (JSON values are parsed).
    app.config.from_prefixed_env("OSPOST")
    app.config.update(env)
    app.config.update(overrides)
    cfg = app.config
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("postgres://"):
        cfg["SQLALCHEMY_DATABASE_URI"] = cfg["SQLALCHEMY_DATABASE_URI"].replace(
            "postgres://", "postgresql+psycopg://", 1
        )
    if cfg["DEMO"]:
        _configure_demo(app)
    production.require_production_settings(app)
    if isinstance(cfg.get("TOKEN_ENCRYPTION_KEYS"), str):
        cfg["TOKEN_ENCRYPTION_KEYS"] = [
            k.strip() for k in cfg["TOKEN_ENCRYPTION_KEYS"].split(",") if k.strip()
        ]
    production.check_token_keys(cfg.get("TOKEN_ENCRYPTION_KEYS") or [])
    if not cfg.get("TOKEN_ENCRYPTION_KEYS"):
        # Development only (production refuses to start without real keys).
        digest = hashlib.sha256(cfg["SECRET_KEY"].encode()).digest()
        cfg["TOKEN_ENCRYPTION_KEYS"] = [base64.urlsafe_b64encode(digest).decode()]
    cfg.setdefault("FB_ENDPOINT", f"https://graph.facebook.com/{cfg['FB_VERSION']}/")
    cfg["SESSION_COOKIE_SECURE"] = cfg["APP_URL"].startswith("https://")
    cfg.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS",
        database.engine_options(
            cfg["SQLALCHEMY_DATABASE_URI"], int(cfg["PUBLISH_THREADS"])
        ),
    )


def _trust_proxies(app: Flask) -> None:
    """Take the client's address, scheme and host from ``X-Forwarded-*``, as
    set by the ``TRUSTED_PROXY_COUNT`` proxies in front of the app, and only them.

    Anyone can send these headers; each proxy appends what it saw, so only the
    last N entries are the proxies' word. With 0 (the default) they are ignored:
    a client must not choose its own address (rate limits, logs) or scheme.
    """
    hops = app.config["TRUSTED_PROXY_COUNT"]
    if isinstance(hops, str) and hops.strip().isdigit():
        hops = int(hops)
    if not isinstance(hops, int) or isinstance(hops, bool) or hops < 0:
        raise RuntimeError(
            "TRUSTED_PROXY_COUNT must be a whole number: how many proxies stand "
            "in front of Ospost (1 for nginx alone, 0 for none), "
            f"not {hops!r}"
        )
    app.config["TRUSTED_PROXY_COUNT"] = hops
    if hops:
        # Outermost, so the staged-image fast path sees the same request.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def _configure_demo(app: Flask) -> None:
    """Demo mode: no Facebook app; a Graph API simulator stands in for Meta."""
    import simulator

    cfg = app.config
    cfg.setdefault("FB_APP_ID", simulator.DEFAULT_APP_ID)
    cfg.setdefault("FB_APP_SECRET", simulator.DEFAULT_APP_SECRET)
    if not cfg.get("FB_ENDPOINT") and not cfg.get("TESTING") and _is_serving(app):
        port = int(os.environ.get("DEMO_SIMULATOR_PORT", "0"))
        server = simulator.SimulatorServer(
            simulator.GraphWorld(cfg["FB_APP_ID"], cfg["FB_APP_SECRET"]), port=port
        ).start()
        cfg["DEMO_SIMULATOR"] = server
        cfg["FB_ENDPOINT"] = server.graph_url
        # The simulator processes a video in seconds, not minutes: check it
        # as often (unless set on purpose).
        if "OSPOST_PUBLISH_VIDEO_CHECK_SECONDS" not in os.environ:
            cfg["PUBLISH_VIDEO_CHECK_SECONDS"] = 3


def _should_start_scheduler(app: Flask) -> bool:
    return bool(app.config["SCHEDULER_ENABLED"]) and _is_serving(app)


def _is_serving(app: Flask) -> bool:
    """True in servers (gunicorn, flask run, tests), not in ``flask db upgrade``."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.command is None:
        return True  # gunicorn, python -c, tests
    if ctx.command.name != "run":
        return False
    # With the reloader only the child process serves (and publishes).
    return os.environ.get("WERKZEUG_RUN_MAIN") == "true" or not app.debug
