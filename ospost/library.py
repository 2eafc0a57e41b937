"""The media library: every image a person uploaded, reusable in a new post
("Choose from library" on the New post page), and the reference check that
keeps a shared file exactly as long as some post uses it.

A post picked from the library gets its own ``post_media`` row naming the same
files (``filename``, ``thumbnail``): nothing is copied. So a file is removed
only when no row of the person's posts names it any more: ``delete_unused``
runs after the change that dropped it has committed (posts removed, images
replaced, drafts and failed uploads undone), and the publishing engine leaves
a published post's upload in place while another post still names it
(``shared_elsewhere``). Thumbnails of published posts stay, as before (the
grid shows them); their uploads are not offered once published, since the
engine forgets them then.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask import Blueprint
from flask import current_app
from flask import g
from flask import url_for
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

import helpers
from models import Post
from models import PostMedia
from models import User
from models import db

bp = Blueprint("library", __name__)
# The picker shows the newest images first, this many at most.
LIBRARY_MAX = 200


@dataclass(frozen=True)
class LibraryFile:
    """An image of the library as a new post takes it: the same files."""

    filename: str
    thumbnail: str | None
    width: int
    height: int

    def new_row(self) -> PostMedia:
        """A new post's item naming these same files."""
        return PostMedia(
            filename=self.filename,
            thumbnail=self.thumbnail,
            width=self.width,
            height=self.height,
        )


def _names_used(user_id: int, names: set[str], exclude_post: int | None = None):
    query = (
        select(PostMedia.filename, PostMedia.thumbnail)
        .join(Post, Post.id == PostMedia.post_id)
        .where(
            Post.user_id == user_id,
            or_(PostMedia.filename.in_(names), PostMedia.thumbnail.in_(names)),
        )
    )
    if exclude_post is not None:
        query = query.where(PostMedia.post_id != exclude_post)
    return query


def unused(user: User, names: Iterable[str | None]) -> list[str]:
    """Those of ``names`` that no post of ``user`` names any more."""
    wanted = {n for n in names if n}
    if not wanted:
        return []
    rows = db.session.execute(_names_used(user.id, wanted)).all()
    used = {n for row in rows for n in row if n}
    return sorted(wanted - used)


def delete_unused(user: User, *names: str | None) -> None:
    """Remove the files among ``names`` that no post uses (call after commit)."""
    store = current_app.extensions["media_store"]
    store.delete(user.ig_account_id, *unused(user, names))


def shared_elsewhere(conn, user_id: int, post_id: int, names: list) -> set[str]:
    """Of ``names``, those another post of the user still names (the engine's
    check, on its own connection, before it deletes a published upload)."""
    wanted = {n for n in names if n}
    if not wanted:
        return set()
    rows = conn.execute(_names_used(user_id, wanted, exclude_post=post_id)).all()
    return {n for row in rows for n in row if n} & wanted


def items(user: User) -> list[dict]:
    """The library: one entry per stored upload, newest first."""
    newest = (
        select(func.max(PostMedia.id))
        .join(Post, Post.id == PostMedia.post_id)
        .where(Post.user_id == user.id, PostMedia.filename.is_not(None))
        .where(PostMedia.video == None)  # noqa: E711  (a video item's poster: no)
        .group_by(PostMedia.filename)
    )
    rows = db.session.scalars(
        select(PostMedia)
        .where(PostMedia.id.in_(newest))
        .order_by(PostMedia.id.desc())
        .limit(LIBRARY_MAX)
    ).all()
    return [
        {
            "id": row.id,
            "url": url_for("posts.upload", name=row.filename),
            "thumb": url_for("posts.upload", name=row.thumbnail or row.filename),
            "width": row.width,
            "height": row.height,
            "alt": row.alt_text,
        }
        for row in rows
    ]


def resolve(user: User, media_id: int) -> LibraryFile | None:
    """The library image ``media_id`` of ``user``, or None if it is not theirs
    or its upload is gone (published, or its posts removed)."""
    row = db.session.get(PostMedia, media_id)
    if row is None or row.filename is None or row.video is not None:
        return None
    owner = db.session.scalar(select(Post.user_id).where(Post.id == row.post_id))
    if owner != user.id:
        return None
    return LibraryFile(row.filename, row.thumbnail, row.width, row.height)


@bp.get("/library")
@helpers.login_required
def listing():
    """The images "Choose from library" offers, as JSON."""
    return {"ok": True, "items": items(g.user)}
