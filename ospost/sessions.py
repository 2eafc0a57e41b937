"""Server-side sessions stored in our own database table.

Flask-Session's stock SQLAlchemy backend commits the request's ORM session when it
saves (so a half-done view could get committed) and cannot tell which rows belong
to which user. This backend writes through its own connection and records the
user id, so logging in rotates the id and deleting an account ends its sessions.

No request holds two pooled connections at once: before writing, the request's
own connection goes back to the pool. Twenty parallel uploads, each holding one
connection and waiting for a second to save its session, once exhausted the
pool for 30 s (issue 16).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from flask_session.base import ServerSideSession
from flask_session.base import ServerSideSessionInterface
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from models import WebSession
from models import db
from models import now_utc

log = logging.getLogger(__name__)
REFRESH_EVERY = 3600  # seconds between expiry refreshes of an unchanged session
_table = WebSession.__table__
# Built once: building the statement cost more than running it on every request.
_READ = select(_table.c.data, _table.c.expiry).where(
    _table.c.session_id == bindparam("sid")
)


class DatabaseSession(ServerSideSession):
    pass


class DatabaseSessionInterface(ServerSideSessionInterface):
    """Keeps session data in ``web_sessions``; the browser only holds a random id."""

    session_class = DatabaseSession
    ttl = False

    def __init__(self, app, *, key_prefix: str = "session:", cleanup_n_requests=100):
        super().__init__(
            app,
            key_prefix=key_prefix,
            permanent=app.config.get("SESSION_PERMANENT", True),
            sid_length=32,
            serialization_format="msgpack",
            cleanup_n_requests=cleanup_n_requests,
        )

    def open_session(self, app, request) -> ServerSideSession:
        """Open the session; if the database is down, say so instead of failing here.

        Errors raised while opening a session escape Flask's error handlers, so
        the failure is parked on an empty session and raised again from a
        before-request hook, where the 503 handler turns it into a clean page.
        """
        try:
            return super().open_session(app, request)
        except SQLAlchemyError as exc:
            log.error("session storage unavailable: %s", type(exc).__name__)
            session = self.session_class(
                sid=self._generate_sid(self.sid_length), permanent=self.permanent
            )
            session.storage_error = exc
            return session

    def save_session(self, app, session, response) -> None:
        if getattr(session, "storage_error", None) is not None:
            return  # the database is down; keep the browser's cookie as it is
        super().save_session(app, session, response)

    def should_set_storage(self, app, session: ServerSideSession) -> bool:
        """Write when the session changed, and at most hourly to slide its expiry.

        Rewriting the row on every request (Flask's default for permanent
        sessions) would make every page view a database write.
        """
        if session.modified:
            return True
        now = int(now_utc().timestamp())
        if now - int(session.get("_seen", 0)) > REFRESH_EVERY:
            session["_seen"] = now
            return True
        return False

    def _delete_expired_sessions(self) -> None:
        # Housekeeping every ~100 requests; failing it must not fail the request.
        with _write("clean up expired sessions") as conn:
            conn.execute(delete(_table).where(_table.c.expiry <= now_utc()))

    def _retrieve_session_data(self, store_id: str) -> dict | None:
        # Read on the request's own database connection: a second pooled
        # connection cost a checkout, a liveness ping and a rollback per request.
        row = db.session.connection().execute(_READ, {"sid": store_id}).first()
        data = None
        if row is not None and row.expiry > now_utc():
            data = self.serializer.decode(row.data)
        if not (data or {}).get("person_id"):
            # Nobody to load: an anonymous request needs no connection until
            # its view asks for one, and the login view first talks to Meta
            # for up to seconds.
            db.session.close()
        return data

    def _delete_session(self, store_id: str) -> None:
        # On failure the browser is still told to drop its cookie, so the
        # logout holds; the row expires on its own.
        with _write("delete a session") as conn:
            conn.execute(delete(_table).where(_table.c.session_id == store_id))

    def _upsert_session(
        self, session_lifetime: timedelta, session: ServerSideSession, store_id: str
    ) -> None:
        values = {
            "data": self.serializer.encode(session),
            "expiry": now_utc() + session_lifetime,
            "user_id": session.get("user_id"),
            "person_id": session.get("person_id"),
        }
        with _write("save a session") as conn:
            done = conn.execute(
                update(_table).where(_table.c.session_id == store_id).values(values)
            ).rowcount
            if not done:
                conn.execute(insert(_table).values(session_id=store_id, **values))


@contextmanager
def _write(what: str) -> Iterator:
    """A short transaction on its own connection, after giving back the request's.

    The view is over (or, for cleanup, has not started) when sessions are
    written, so the request's connection is released first: a request that
    holds one connection while it waits for another can starve the pool.

    A failed write is logged, not raised. The response already says what
    happened to the person's data (a post saved, an account deleted), and
    losing a flash message or a fresh CSRF token must not turn it into a 500.
    """
    db.session.close()
    try:
        with db.engine.begin() as conn:
            yield conn
    except SQLAlchemyError as exc:
        log.error("could not %s: %s", what, type(exc).__name__)


def end_user_sessions(user_id: int) -> None:
    """End every session looking at this account (it is being deleted, or
    Meta said its token is gone)."""
    db.session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def end_person_sessions(person_id: int) -> None:
    """Log a person out everywhere (their Ospost account is being deleted)."""
    db.session.execute(delete(WebSession).where(WebSession.person_id == person_id))
