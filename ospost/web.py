"""The web layer every page shares: security headers, front-end library files,
the health check, logging, template globals and error pages.

``init_app(app)`` wires all of it; ``app.py`` calls it from ``create_app()``.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from flask import abort
from flask import current_app
from flask import g
from flask import render_template
from flask import request
from flask import send_from_directory
from flask import session
from flask_wtf.csrf import CSRFError
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

import helpers
from models import Post
from models import db
from models import now_utc
from ospost import accounts
from ospost.scheduler import due_filter
from ospost.scheduler import publisher

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("ospost")

# Front-end libraries come from package.json (npm ci) and are served from here.
VENDOR_FILES = {
    "bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "bootstrap.bundle.min.js": "bootstrap/dist/js/bootstrap.bundle.min.js",
    "cropper.min.css": "cropperjs/dist/cropper.min.css",
    "cropper.esm.js": "cropperjs/dist/cropper.esm.js",
    "sortable.complete.esm.js": "sortablejs/modular/sortable.complete.esm.js",
}


def init_app(app: Flask) -> None:
    """Register the shared hooks, routes and error pages on ``app``."""
    app.extensions["security_headers"] = _security_header_values(app.config)
    _hide_dev_server_version()
    app.add_url_rule("/vendor/<name>", "vendor", _vendor)
    app.add_url_rule("/healthz", "healthz", _healthz)
    app.before_request(_refuse_unnormalised_paths)
    app.before_request(_load_user)
    app.after_request(_security_headers)
    app.context_processor(_template_globals)
    _register_error_handlers(app)


# -- logging -----------------------------------------------------------------


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


def configure_logging(app: Flask) -> None:
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


# -- request hooks, headers and shared routes --------------------------------


def _refuse_unnormalised_paths() -> None:
    """Answer 404 for a path with ``.``/``..`` segments or an empty one (``//``).

    Browsers resolve dot segments before sending a URL, so only crafted requests
    carry them (also as ``%2e``/``%2f``, which the server decodes). Flask's
    static route would follow them, past checks that look at how a path starts:
    ``/static/./tmp/<file>`` reached the staging folder around its name check.
    """
    segments = request.path.split("/")[1:-1]  # a trailing slash is fine
    if any(part in ("", ".", "..") for part in segments):
        abort(404)


def _load_user() -> None:
    if request.endpoint in ("healthz", "static", "staged", "vendor"):
        return
    storage_error = getattr(session, "storage_error", None)
    if storage_error is not None:
        raise storage_error
    accounts.load_current(session)


def _hide_dev_server_version() -> None:
    """Make ``make run`` (werkzeug's server) send ``Server: Ospost``.

    It sent ``Werkzeug/<version> Python/<version>``, which tells an attacker
    which known bugs to try. ``flask run`` builds its request handler itself,
    so the class is changed in place; only the header's text changes.
    gunicorn sends ``Server: gunicorn`` without a version, and nginx
    (``server_tokens off`` in deploy/nginx.conf) ``Server: nginx``.
    """
    from werkzeug.serving import WSGIRequestHandler

    WSGIRequestHandler.version_string = _server_name


def _server_name(handler) -> str:
    return "Ospost"


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
        # The Reel/Story composer previews the chosen video from a blob: URL.
        "media-src": ["'self'", "blob:"],
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
    if g.get("person") is not None:
        # A signed-in person's pages and images are theirs alone: no shared
        # cache may keep them, nor the browser's disk after they log out.
        response.headers.setdefault("Cache-Control", "private, no-store")
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
        "limits": helpers.client_limits(),
    }


def _vendor(name: str):
    """Serve a front-end library file installed by npm (an allow-list, no paths)."""
    rel = VENDOR_FILES.get(name)
    if rel is None:
        abort(404)
    path = ROOT / "node_modules" / rel
    return send_from_directory(path.parent, path.name, max_age=86400)


def _healthz():
    """Health check: 200 ``{"ok": true}`` while the database answers and the
    scheduler runs, 503 ``{"ok": false}`` otherwise.

    That is all a load balancer needs and all anyone may see. A monitor that
    sends ``Authorization: Bearer <HEALTHZ_TOKEN>`` also gets the details
    (database, scheduler, overdue posts); a wrong token gets a 401.
    """
    detailed = False
    if "Authorization" in request.headers:
        if not _healthz_token_matches(request.headers["Authorization"]):
            return {
                "ok": False,
                "error": "The health-check token is wrong: send "
                "'Authorization: Bearer <HEALTHZ_TOKEN>', or no Authorization "
                "header for the plain status.",
            }, 401
        detailed = True
    status = _health_status()
    code = 200 if status["ok"] else 503
    return (status if detailed else {"ok": status["ok"]}), code


def _healthz_token_matches(header: str) -> bool:
    expected = current_app.config.get("HEALTHZ_TOKEN")
    scheme, _, given = header.partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), str(expected).encode())


def _health_status() -> dict:
    """The database and scheduler state, and posts overdue by over 5 minutes."""
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
    return {"ok": ok, **status}


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
            # A route may allow more (video uploads: VIDEO_MAX_UPLOAD_MB).
            allowed = request.max_content_length if request else None
            limit = helpers.file_size(allowed or app.config["MAX_CONTENT_LENGTH"])
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
