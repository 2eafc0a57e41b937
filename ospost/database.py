"""The database connection's own settings and maintenance commands.

SQLite gets its pragmas (foreign keys, WAL, busy timeout) on every connection
and a database file only its owner can read. PostgreSQL gets its pool and a
liveness check that costs no round trip (``watch_connections``). ``init_app``
adds the ``rotate-tokens`` and ``check-db`` commands.
"""

from __future__ import annotations

import logging
import os
import select as io_select
import time
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import event
from sqlalchemy import exc
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm.attributes import flag_modified

from models import User
from models import db
from ospost import storage

log = logging.getLogger(__name__)

# A pooled connection unused for longer than this gets a real ping before use.
PING_AFTER_IDLE_SECONDS = 30.0


def init_app(app: Flask) -> None:
    """Make the SQLite file private and register the database commands."""
    private_sqlite_file(app.config["SQLALCHEMY_DATABASE_URI"])
    _register_commands(app)


def private_sqlite_file(uri: str) -> None:
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


def engine_options(uri: str, publish_threads: int) -> dict:
    """The connection pool's settings for the database at ``uri``.

    PostgreSQL: the pool keeps a connection for each thread that may use one
    at once in a worker (new-post and follow-up publishing threads, the sweep,
    the notification sender, a request), so a burst reuses connections instead
    of opening and closing server sessions (``bench/publish_burst.py``: 100
    sessions started for 300 posts with the old 10 kept, and a fifth more
    database CPU); a few more may open for gthread workers. Liveness:
    ``watch_connections``.
    """
    if make_url(uri).drivername.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_size": 2 * publish_threads + 4, "max_overflow": 8}


def watch_connections(app: Flask) -> None:
    """Hand out only live PostgreSQL connections, so that requests and publishing
    carry on by themselves after the database server restarts.

    SQLAlchemy's ``pool_pre_ping`` asks the server before every checkout: one
    round trip each time, and the publishing engine checks out a connection for
    every claim and save. Instead, a checkout looks at the connection's socket:
    an idle connection that has something to read was hung up on (a server
    restart or shutdown sends its goodbye and closes every session), so it is
    dropped and replaced. Only a connection idle for more than
    ``PING_AFTER_IDLE_SECONDS`` is pinged, for what a socket cannot tell (a
    host that vanished without closing). ``bench/publish_burst.py`` and
    ``bench/http_load.py`` show what the round trip cost.
    """
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        return
    event.listen(engine, "checkin", _note_idle_since)
    event.listen(engine, "checkout", _refuse_dead_connection(engine))


def _note_idle_since(_dbapi_conn, record) -> None:
    if record is not None:
        record.info["idle_since"] = time.monotonic()


def _refuse_dead_connection(engine: Engine):
    def check(dbapi_conn, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None:
            return  # just connected
        if _hung_up(dbapi_conn):
            raise exc.DisconnectionError("the database server closed the connection")
        if time.monotonic() - idle_since > PING_AFTER_IDLE_SECONDS:
            try:
                engine.dialect.do_ping(dbapi_conn)
            except engine.dialect.loaded_dbapi.Error as error:
                raise exc.DisconnectionError(str(error)) from error

    return check


def _hung_up(dbapi_conn) -> bool:
    """True when an idle connection's socket is closed or has unread input
    (nothing is expected on it between transactions)."""
    if dbapi_conn.closed:
        return True
    poller = io_select.poll()
    poller.register(dbapi_conn.fileno(), io_select.POLLIN | io_select.POLLPRI)
    return bool(poller.poll(0))


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
