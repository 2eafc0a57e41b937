"""Server-side sessions stored in our own database table.

Flask-Session's stock SQLAlchemy backend commits the request's ORM session when it
saves (so a half-done view could get committed) and cannot tell which rows belong
to which user. This backend writes through its own connection and records the
user id, so logging in rotates the id and deleting an account ends its sessions.
"""

from __future__ import annotations

from datetime import timedelta

from flask_session.base import ServerSideSession
from flask_session.base import ServerSideSessionInterface
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from models import WebSession
from models import db
from models import now_utc

_table = WebSession.__table__


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

    def _delete_expired_sessions(self) -> None:
        with db.engine.begin() as conn:
            conn.execute(delete(_table).where(_table.c.expiry <= now_utc()))

    def _retrieve_session_data(self, store_id: str) -> dict | None:
        with db.engine.connect() as conn:
            row = conn.execute(
                select(_table.c.data, _table.c.expiry).where(
                    _table.c.session_id == store_id
                )
            ).first()
        if row is None or row.expiry <= now_utc():
            return None
        return self.serializer.decode(row.data)

    def _delete_session(self, store_id: str) -> None:
        with db.engine.begin() as conn:
            conn.execute(delete(_table).where(_table.c.session_id == store_id))

    def _upsert_session(
        self, session_lifetime: timedelta, session: ServerSideSession, store_id: str
    ) -> None:
        values = {
            "data": self.serializer.encode(session),
            "expiry": now_utc() + session_lifetime,
            "user_id": session.get("user_id"),
        }
        with db.engine.begin() as conn:
            done = conn.execute(
                update(_table).where(_table.c.session_id == store_id).values(values)
            ).rowcount
            if not done:
                conn.execute(insert(_table).values(session_id=store_id, **values))


def end_user_sessions(user_id: int) -> None:
    """Log a user out everywhere (used when the account is deleted)."""
    db.session.execute(delete(WebSession).where(WebSession.user_id == user_id))
