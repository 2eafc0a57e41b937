"""Ospost: schedule image posts to Instagram.

``create_app()`` builds the Flask app from the environment (``.env`` is read by
python-dotenv), wires the database, server-side sessions, CSRF protection, the
publishing scheduler and the error pages, and registers the routes that live in
``auth.py`` (login, account) and ``posts.py`` (the schedule).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import click
from dotenv import load_dotenv
from flask import Flask
from flask import abort
from flask import current_app
from flask import g
from flask import render_template
from flask import request
from flask import send_from_directory
from flask import session
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFError
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.attributes import flag_modified
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import wrap_file

import helpers
from models import Post
from models import User
from models import db
from models import now_utc
from models import token_cipher
from ospost import auth
from ospost import posts
from ospost.grid import GridCache
from ospost.scheduler import due_filter
from ospost.scheduler import publisher
from ospost.sessions import DatabaseSessionInterface
from ospost.storage import MediaStore

ROOT = Path(__file__).resolve().parent
DEV_SECRET = "dev-only-secret-change-me"
log = logging.getLogger("ospost")

csrf = CSRFProtect()
migrate = Migrate()

# Front-end libraries come from package.json (npm ci) and are served from here.
VENDOR_FILES = {
    "bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "bootstrap.bundle.min.js": "bootstrap/dist/js/bootstrap.bundle.min.js",
    "cropper.min.css": "cropperjs/dist/cropper.min.css",
    "cropper.min.js": "cropperjs/dist/cropper.min.js",
    "Sortable.min.js": "sortablejs/Sortable.min.js",
    "long-press-event.min.js": "long-press-event/dist/long-press-event.min.js",
}

STAGED_NAME = re.compile(r"[A-Za-z0-9_-]{32}\.jpg")

ENV_SETTINGS = (
    "SECRET_KEY",
    "FB_APP_ID",
    "FB_APP_SECRET",
    "FB_VERSION",
    "FB_ENDPOINT",
    "APP_URL",
    "TOKEN_ENCRYPTION_KEYS",
)


def create_app(test_config: dict | None = None) -> Flask:
    """Build a configured Ospost app (``test_config`` overrides the environment)."""
    load_dotenv(ROOT / ".env")
    app = Flask(__name__, instance_relative_config=True)
    _configure(app, test_config or {})
    _configure_logging(app)
    if app.config["DEMO_SIMULATOR"]:
        log.info("demo mode: Graph API simulator at %s", app.config["FB_ENDPOINT"])

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    app.session_interface = DatabaseSessionInterface(app)
    app.extensions["media_store"] = MediaStore(
        app.config["UPLOAD_FOLDER"], app.config["STAGING_FOLDER"]
    )
    app.extensions["security_headers"] = _security_header_values(app.config)
    app.extensions["grid_cache"] = GridCache(app.config["GRID_CACHE_MB"] * 1024 * 1024)
    publisher.init_app(app)
    token_cipher.configure(app.config["TOKEN_ENCRYPTION_KEYS"])

    app.register_blueprint(auth.bp)
    # Meta's server-to-server callbacks are signed instead of carrying a CSRF token.
    csrf.exempt(auth.deauthorize)
    csrf.exempt(auth.data_deletion)
    app.register_blueprint(posts.bp)
    app.add_url_rule("/vendor/<name>", "vendor", _vendor)
    app.add_url_rule("/static/tmp/<name>", "staged", _staged)
    app.wsgi_app = StagedImages(
        app.wsgi_app, app.config["STAGING_FOLDER"], app.extensions["security_headers"]
    )
    app.add_url_rule("/healthz", "healthz", _healthz)
    app.before_request(_load_user)
    app.after_request(_security_headers)
    app.context_processor(_template_globals)
    _register_error_handlers(app)
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
        PUBLISH_SWEEP_SECONDS=30,
        PUBLISH_THREADS=16,
        DEMO_SIMULATOR=None,
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


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with post ids and Meta's fbtrace_id when known."""

    FIELDS = ("post_id", "ig_media_id", "error_kind", "meta_code", "meta_subcode")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in (*self.FIELDS, "fbtrace_id"):
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _configure_logging(app: Flask) -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        if app.config.get("LOG_FORMAT") == "json":
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    # urllib3 logs full request URLs at DEBUG; keep query strings out of logs.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


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


# -- request hooks -----------------------------------------------------------


def _load_user() -> None:
    if request.endpoint in ("healthz", "static", "staged", "vendor"):
        return
    storage_error = getattr(session, "storage_error", None)
    if storage_error is not None:
        raise storage_error
    user_id = session.get("user_id")
    g.user = db.session.get(User, user_id) if user_id else None
    if user_id and g.user is None:
        session.clear()


def _security_header_values(app_cfg) -> dict[str, str]:
    """The headers every response carries (worked out once per app)."""
    img_src = ["'self'", "data:", "blob:", "https:"]
    graph = urlsplit(app_cfg.get("FB_ENDPOINT") or "")
    if graph.scheme == "http" and graph.netloc:
        img_src.append(f"http://{graph.netloc}")  # the simulator's avatars
    policy = {
        "default-src": ["'self'"],
        "script-src": ["'self'", "https://connect.facebook.net"],
        "style-src": ["'self'"],
        "img-src": img_src,
        "connect-src": [
            "'self'",
            "https://*.facebook.com",
            "https://connect.facebook.net",
        ],
        "frame-src": ["https://*.facebook.com"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
    headers = {
        "Content-Security-Policy": "; ".join(
            f"{k} {' '.join(v)}" for k, v in policy.items()
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    if app_cfg.get("SESSION_COOKIE_SECURE"):
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


def _security_headers(response):
    for name, value in current_app.extensions["security_headers"].items():
        response.headers.setdefault(name, value)
    return response


def _template_globals() -> dict:
    user = g.get("user")
    tz = user.timezone if user else "UTC"
    return {
        "current_user": user,
        "localtime": lambda when, fmt="%b %d, %Y %H:%M": helpers.format_local(
            when, tz, fmt
        ),
        "local_input": lambda when: helpers.input_value(when, tz),
        "demo_mode": current_app.config["DEMO"],
    }


def _vendor(name: str):
    """Serve a front-end library file installed by npm (an allow-list, no paths)."""
    rel = VENDOR_FILES.get(name)
    if rel is None:
        abort(404)
    path = ROOT / "node_modules" / rel
    return send_from_directory(path.parent, path.name, max_age=86400)


def _healthz():
    """Health check for load balancers: database reachable, scheduler running."""
    status = {"database": "ok", "scheduler": "disabled"}
    try:
        overdue = db.session.scalar(
            select(func.count()).where(
                due_filter(now_utc() - timedelta(minutes=5)),
                Post.lease_until.is_(None),
            )
        )
        status["overdue_posts"] = overdue
    except SQLAlchemyError:
        db.session.rollback()
        status["database"] = "unavailable"
    if publisher.running:
        status["scheduler"] = "running"
    elif current_app.config["SCHEDULER_ENABLED"]:
        status["scheduler"] = "stopped"
    ok = status["database"] == "ok" and status["scheduler"] != "stopped"
    return {"ok": ok, **status}, 200 if ok else 503


def _staged(name: str):
    """What ``StagedImages`` did not serve under /static/tmp/: a bad name or a
    missing file. Answered here so it never falls through to the static folder
    (the default staging folder lives inside it)."""
    abort(404)


class StagedImages:
    """Serve staged images to Meta's crawler ahead of Flask.

    Each post's image is fetched once by Meta while its container is made; a
    crawler needs no session, user or template, and in a burst of due posts
    Flask's request handling (session lookup included) was a tenth of the
    app's CPU. Anything not found here (a bad name, a missing file, a method
    other than GET/HEAD) goes on to Flask, which answers with its 404 page.
    """

    PREFIX = "/static/tmp/"

    def __init__(self, wsgi_app, folder: str, headers: dict[str, str]) -> None:
        self.wsgi_app = wsgi_app
        self.folder = folder
        self.headers = list(headers.items())

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        name = path[len(self.PREFIX) :] if path.startswith(self.PREFIX) else ""
        if not STAGED_NAME.fullmatch(name) or environ.get("REQUEST_METHOD") not in (
            "GET",
            "HEAD",
        ):
            return self.wsgi_app(environ, start_response)
        try:
            image = open(os.path.join(self.folder, name), "rb")  # noqa: SIM115
        except OSError:
            return self.wsgi_app(environ, start_response)
        size = os.fstat(image.fileno()).st_size
        start_response(
            "200 OK",
            [
                ("Content-Type", "image/jpeg"),
                ("Content-Length", str(size)),
                ("Cache-Control", "no-cache"),
                *self.headers,
            ],
        )
        if environ["REQUEST_METHOD"] == "HEAD":
            image.close()
            return []
        return wrap_file(environ, image)


# -- errors ------------------------------------------------------------------

ERROR_TEXT = {
    400: "The request could not be understood.",
    403: "You are not allowed to do that.",
    404: "That page or post does not exist.",
    405: "That action is not available here.",
    413: "That file is too large to upload.",
    500: "Something went wrong on our side. Nothing you did; please try again.",
    503: "Ospost is briefly unavailable. Try again in a minute.",
}


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return _error_response(
            400,
            "Your form expired or came from another site. Reload the page and "
            "try again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc):
        if exc.code == 413:
            limit = helpers.file_size(app.config["MAX_CONTENT_LENGTH"])
            return _error_response(413, f"File is too large: the limit is {limit}.")
        if exc.code and exc.code < 400:
            return exc
        message = ERROR_TEXT.get(exc.code) or exc.description
        return _error_response(exc.code or 500, message)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def database_down(exc):
        db.session.rollback()
        log.error("database unavailable: %s", type(exc).__name__)
        return _error_response(
            503, "Ospost can't reach its database right now. Try again in a minute."
        )

    @app.errorhandler(Exception)
    def unexpected(exc):
        db.session.rollback()
        log.exception("unhandled error")
        return _error_response(500, ERROR_TEXT[500])


def _error_response(code: int, message: str):
    if helpers.wants_json():
        return {"ok": False, "error": message}, code
    return render_template("error.html", code=code, message=message), code


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
