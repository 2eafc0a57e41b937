"""The database connection's own settings and maintenance commands.

SQLite gets its pragmas (foreign keys, WAL, busy timeout) on every connection
and a database file only its owner can read; ``init_app`` adds the
``rotate-tokens`` and ``check-db`` commands.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm.attributes import flag_modified

from models import User
from models import db
from ospost import storage

log = logging.getLogger(__name__)


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
