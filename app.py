"""Ospost: schedule image posts to Instagram.

``create_app()`` builds the Flask app from the environment (``.env`` is read by
python-dotenv): configuration and its production checks live here; the database,
sessions, CSRF protection, the shared web layer (``ospost.web``), media storage
(``ospost.storage``), the publishing scheduler and the blueprints
(``ospost.auth``, ``ospost.posts``) are wired in from the ``ospost`` package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from pathlib import Path

import click
from cryptography.fernet import Fernet
from dotenv import load_dotenv
from flask import Flask
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm.attributes import flag_modified
from werkzeug.middleware.proxy_fix import ProxyFix

from models import User
from models import db
from models import token_cipher
from ospost import auth
from ospost import posts
from ospost import ratelimit
from ospost import schemas
from ospost import storage
from ospost import web
from ospost.grid import GridCache
from ospost.media import jobs as video_jobs
from ospost.scheduler import publisher
from ospost.sessions import DatabaseSessionInterface

ROOT = Path(__file__).resolve().parent
DEV_SECRET = "dev-only-secret-change-me"
SECRET_KEY_MIN_LENGTH = 32
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
)


def create_app(test_config: dict | None = None) -> Flask:
    """Build a configured Ospost app (``test_config`` overrides the environment)."""
    load_dotenv(ROOT / ".env")
    app = Flask(__name__, instance_relative_config=True)
    _configure(app, test_config or {})
    web.configure_logging(app)
    _private_sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
    if app.config["DEMO_SIMULATOR"]:
        log.info("demo mode: Graph API simulator at %s", app.config["FB_ENDPOINT"])

    db.init_app(app)
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
    token_cipher.configure(app.config["TOKEN_ENCRYPTION_KEYS"])

    app.register_blueprint(auth.bp)
    # Meta's server-to-server callbacks are signed instead of carrying a CSRF token.
    csrf.exempt(auth.deauthorize)
    csrf.exempt(auth.data_deletion)
    app.register_blueprint(posts.bp)
    _register_commands(app)

    if _should_start_scheduler(app):
        publisher.start()
    return app


# -- configuration -----------------------------------------------------------


def _configure(app: Flask, overrides: dict) -> None:
    env = {k: os.environ[k] for k in ENV_SETTINGS if os.environ.get(k)}
    port = os.environ.get("PORT", "5000")
    app.config.from_mapping(
        SECRET_KEY=DEV_SECRET,
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL")
        or f"sqlite:///{ROOT / 'tmp' / 'ospost.db'}",
        FB_VERSION="v21.0",
        APP_URL=f"http://127.0.0.1:{port}",
        DEMO=not env.get("FB_APP_ID"),
        UPLOAD_FOLDER=str(ROOT / "uploads"),
        STAGING_FOLDER=str(ROOT / "static" / "tmp"),
        MAX_CONTENT_LENGTH=30 * 1024 * 1024,
        MAX_SCHEDULE_DAYS=50,
        GRID_CACHE_MB=32,
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
        PUBLISH_THREADS=16,
        SIGNED_REQUEST_MAX_AGE_SECONDS=600,
        SCHEDULE_QUOTA_DEFAULT=100,
        SCHEDULE_QUOTA_WARN_PERCENT=90,
        DEMO_SIMULATOR=None,
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
    _require_production_settings(app)
    if isinstance(cfg.get("TOKEN_ENCRYPTION_KEYS"), str):
        cfg["TOKEN_ENCRYPTION_KEYS"] = [
            k.strip() for k in cfg["TOKEN_ENCRYPTION_KEYS"].split(",") if k.strip()
        ]
    _check_token_keys(cfg.get("TOKEN_ENCRYPTION_KEYS") or [])
    if not cfg.get("TOKEN_ENCRYPTION_KEYS"):
        # Development only (production refuses to start without real keys).
        digest = hashlib.sha256(cfg["SECRET_KEY"].encode()).digest()
        cfg["TOKEN_ENCRYPTION_KEYS"] = [base64.urlsafe_b64encode(digest).decode()]
    cfg.setdefault("FB_ENDPOINT", f"https://graph.facebook.com/{cfg['FB_VERSION']}/")
    cfg["SESSION_COOKIE_SECURE"] = cfg["APP_URL"].startswith("https://")
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 30}})
    else:
        # After a database restart, pooled connections are dead: test each
        # before use so requests and publishing resume on their own.
        cfg.setdefault(
            "SQLALCHEMY_ENGINE_OPTIONS",
            {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 30},
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


def _require_production_settings(app: Flask) -> None:
    """Refuse to run for real with development secrets or no Facebook app."""
    cfg = app.config
    if cfg.get("TESTING") or cfg["DEMO"] or app.debug:
        return
    missing = [
        name
        for name in ("FB_APP_ID", "FB_APP_SECRET", "APP_URL", "TOKEN_ENCRYPTION_KEYS")
        if not cfg.get(name)
    ]
    if cfg["SECRET_KEY"] in (None, "", DEV_SECRET):
        missing.insert(0, "SECRET_KEY")
    if missing:
        raise RuntimeError(
            "Ospost refuses to start in production without: " + ", ".join(missing)
        )
    if not _strong_secret(cfg["SECRET_KEY"]):
        # Anyone who guesses the key can forge a session cookie, i.e. log in as
        # anyone. The message never repeats the key (it ends up in logs).
        raise RuntimeError(
            "SECRET_KEY is too weak: use at least 32 random characters, e.g. "
            'python -c "import secrets; print(secrets.token_hex(32))"'
        )


def _strong_secret(key) -> bool:
    """True for a key that looks random and long enough to sign sessions with.

    Length and variety catch the keys people type ("a", "changeme", "aaaa…",
    the development default); a key from ``secrets.token_hex(32)`` always passes.
    """
    return (
        isinstance(key, str)
        and key != DEV_SECRET
        and len(key) >= SECRET_KEY_MIN_LENGTH
        and len(set(key)) >= 8
    )


def _check_token_keys(keys: list[str]) -> None:
    """Refuse to start when a token key is not a Fernet key, saying which one.

    Caught here, a bad key is a clear start-up error instead of a failure at
    the first login or publish; the keys themselves are never repeated.
    """
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, binascii.Error):
            raise RuntimeError(
                f"TOKEN_ENCRYPTION_KEYS: key #{number} of {len(keys)} is not a valid "
                "Fernet key (32 url-safe base64-encoded bytes). Generate one with "
                'python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"'
            ) from None


def _private_sqlite_file(uri: str) -> None:
    """Create the SQLite database file (and its folder) readable by its owner only.

    It holds sessions and encrypted tokens. SQLite creates a missing file with
    the umask's mode (usually 0644) and gives its -wal and -shm files the mode
    of the database file, so a 0600 file keeps all three private. A file an
    older version created readable by others is tightened.
    """
    url = make_url(uri)
    path = url.database
    if not url.drivername.startswith("sqlite") or not path or path == ":memory:":
        return
    if path.startswith("file:"):
        return  # an SQLite URI filename: the operator manages it
    db_file = Path(path)
    try:
        if not db_file.parent.is_dir():
            storage.private_dir(db_file.parent)
        os.close(os.open(db_file, os.O_WRONLY | os.O_CREAT, 0o600))
        for name in ("", "-wal", "-shm", "-journal"):
            part = db_file.with_name(db_file.name + name)
            if part.exists() and part.stat().st_mode & 0o077:
                log.info("making the database file %s private (mode 0600)", part)
                part.chmod(0o600)
    except OSError as exc:
        # SQLite reports a database it cannot open with its own error later.
        log.warning("could not make the database %s private: %s", db_file, exc)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record):
    """Make SQLite enforce foreign keys and let readers work during writes."""
    if type(dbapi_conn).__module__.startswith("sqlite3"):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        # Safe with WAL (a power cut may lose the last commits, never corrupt).
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()


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


# -- commands ----------------------------------------------------------------


def _register_commands(app: Flask) -> None:
    @app.cli.command("rotate-tokens")
    def rotate_tokens():
        """Re-encrypt every stored access token with the newest key."""
        users = db.session.scalars(
            select(User).where(User.access_token.is_not(None))
        ).all()
        for user in users:
            # Loading decrypted with any key; a forced write encrypts with key #1.
            flag_modified(user, "access_token")
        db.session.commit()
        click.echo(f"re-encrypted {len(users)} tokens")

    @app.cli.command("check-db")
    def check_db():
        """Exit non-zero when the database cannot be reached."""
        db.session.execute(text("SELECT 1"))
        click.echo("database ok")
