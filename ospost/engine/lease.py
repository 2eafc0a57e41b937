"""Who may work on a post: one worker at a time, across threads, processes and hosts.

A wake-up claims a due post with a conditional UPDATE that sets a lease (an
owner and an expiry), saves each thing it learns at once, and only while it
still holds the lease, then gives the lease back. A worker that crashes leaves
a lease that simply runs out, and the next wake-up takes the post over.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime

from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from models import CommentStatus
from models import Post
from models import PostEvent
from models import PostMedia
from models import PostStatus
from models import PostVideo
from models import User
from models import db
from models import now_utc
from ospost.engine.folded import fold
from ospost.engine.settings import Settings
from ospost.engine.state import ItemSnapshot
from ospost.engine.state import PostSnapshot
from ospost.engine.state import Step
from ospost.engine.state import UserSnapshot
from ospost.engine.state import VideoSnapshot

POSTS = Post.__table__
USERS = User.__table__
ITEMS = PostMedia.__table__
EVENTS = PostEvent.__table__
VIDEOS = PostVideo.__table__
# The statuses of a post the engine still works on.
ACTIVE = (PostStatus.SCHEDULED, PostStatus.PUBLISHING)


class LostLease(Exception):
    """Another worker took the post over; stop touching it."""


# -- statements ----------------------------------------------------------------
# Built once, as plain table statements run on pooled connections (not the ORM
# session): in a burst, building statements and the ORM's bookkeeping cost more
# CPU than the database did. Every UPDATE of a post also sets its updated_at
# (the column's onupdate), which is how the home grid notices engine changes.


def claimable_now():
    """Due, not finished (or live with a first comment to post again), and
    nobody holds a live lease (at ``:now``)."""
    now = bindparam("now", type_=POSTS.c.next_attempt_at.type)
    return (
        or_(
            POSTS.c.status.in_(ACTIVE),
            and_(
                POSTS.c.status == PostStatus.PUBLISHED,
                POSTS.c.comment_status == CommentStatus.PENDING,
            ),
        ),
        POSTS.c.next_attempt_at <= now,
        or_(POSTS.c.lease_until.is_(None), POSTS.c.lease_until < now),
    )


_IS_CLAIMABLE = select(POSTS.c.id).where(
    POSTS.c.id == bindparam("post_id"), *claimable_now()
)
# RETURNING hands back the post as it is at the claim, in the same statement.
_CLAIM = (
    update(POSTS)
    .where(POSTS.c.id == bindparam("post_id"), *claimable_now())
    .values(
        status=PostStatus.PUBLISHING,
        lease_until=bindparam("new_lease_until", type_=POSTS.c.lease_until.type),
        lease_owner=bindparam("new_lease_owner"),
    )
    .returning(*POSTS.c)
)
# PostgreSQL's claim: a row another worker's claim has locked is skipped (SKIP
# LOCKED) rather than waited for, only to match nothing once that claim
# commits. In a burst every worker wakes every due post (bench/publish_burst.py).
_CLAIM_SKIP_LOCKED = _CLAIM.where(
    POSTS.c.id == _IS_CLAIMABLE.with_for_update(skip_locked=True).scalar_subquery()
)
_USER = select(*USERS.c).where(USERS.c.id == bindparam("user_id"))
# PostgreSQL's claim with the post's user and items in the same statement (a row
# per item, at least one): one round trip instead of three for a claim, and a
# losing claim returns no row. Columns are labelled p__, u__ and i__.
_CLAIMED = _CLAIM_SKIP_LOCKED.cte("claimed")
_CLAIM_AND_LOAD = (
    select(
        *(_CLAIMED.c[c.name].label(f"p__{c.name}") for c in POSTS.c),
        *(c.label(f"u__{c.name}") for c in USERS.c),
        *(c.label(f"i__{c.name}") for c in ITEMS.c),
    )
    .select_from(
        _CLAIMED.join(USERS, USERS.c.id == _CLAIMED.c.user_id).outerjoin(
            ITEMS, ITEMS.c.post_id == _CLAIMED.c.id
        )
    )
    .order_by(ITEMS.c.position)
)
_ITEMS = (
    select(*ITEMS.c)
    .where(ITEMS.c.post_id == bindparam("post_id"))
    .order_by(ITEMS.c.position)
)
# Run only as a pending statement of a lease-guarded save (Leases.save_item).
_SAVE_ITEM = update(ITEMS).where(ITEMS.c.id == bindparam("where_item_id"))
_FORGET_FILES = (
    update(ITEMS)
    .where(ITEMS.c.post_id == bindparam("where_post_id"))
    .values(filename=None)
)
# A Reel's or Story's own video (a carousel's video items name their item).
_VIDEO = select(*VIDEOS.c).where(
    VIDEOS.c.post_id == bindparam("post_id"), VIDEOS.c.post_media_id.is_(None)
)
_FORGET_VIDEO_FILES = (
    update(VIDEOS)
    .where(VIDEOS.c.post_id == bindparam("where_post_id"))
    .values(source=None, filename=None)
)
_ADD_EVENT = insert(EVENTS)
# The columns to set come with each call's parameters.
_SAVE = update(POSTS).where(
    POSTS.c.id == bindparam("where_post_id"),
    POSTS.c.lease_owner == bindparam("where_owner"),
    POSTS.c.status == PostStatus.PUBLISHING,
)
_RELEASE = (
    update(POSTS)
    .where(
        POSTS.c.id == bindparam("where_post_id"),
        POSTS.c.lease_owner == bindparam("where_owner"),
    )
    .values(lease_until=None, lease_owner=None)
)


def connect(*, autocommit: bool = False):
    """A pooled connection for one short transaction.

    The engine bypasses the ORM session: its begin/commit bookkeeping cost
    more CPU per step than the statements themselves. ``autocommit``: the
    caller runs a single statement, which on PostgreSQL then commits by itself
    instead of costing a ``BEGIN`` and a ``COMMIT`` round trip each
    (``bench/publish_burst.py``); SQLite, which has no round trips, keeps its
    transaction. Either way the caller ends with ``commit()``.
    """
    conn = db.engine.connect()
    if autocommit and conn.dialect.name != "sqlite":
        conn.execution_options(isolation_level="AUTOCOMMIT")
    return conn


def new_owner() -> str:
    """Names this process in leases, so a fork never shares its parent's name."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _loaded(rows) -> tuple[PostSnapshot, UserSnapshot, list[ItemSnapshot]]:
    """The post, user and items of a ``_CLAIM_AND_LOAD`` (a post without
    items, a Reel's, has one row with no item)."""
    first = rows[0]
    items = [ItemSnapshot.from_row(r, "i__") for r in rows if r.i__id is not None]
    return (
        PostSnapshot.from_row(first, "p__"),
        UserSnapshot.from_row(first, "u__"),
        items,
    )


class Leases:
    """Claims posts for this process, and saves a step's writes under the lease."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.owner = new_owner()

    def rename(self) -> None:
        """Take a fresh name, as a (possibly forked) process starting its scheduler."""
        self.owner = new_owner()

    def claim(
        self, post_id: int, now: datetime
    ) -> tuple[PostSnapshot, UserSnapshot, list[ItemSnapshot]] | None:
        """Take the lease on ``post_id`` if it is due; returns the post, its
        user and its media items in order."""
        params = {"post_id": post_id, "now": now}
        with connect() as conn:  # leaving it without commit() rolls back
            # A read first on SQLite: there even an UPDATE that matches nothing
            # takes the write lock, and every worker wakes every post after a
            # restart. (PostgreSQL locks one row: the read would be a round trip
            # more for nothing, bench/publish_burst.py.)
            sqlite = conn.dialect.name == "sqlite"
            if sqlite and conn.execute(_IS_CLAIMABLE, params).first() is None:
                return None
            params.update(new_lease_until=now + self.settings.lease)
            params.update(new_lease_owner=self.owner)
            if not sqlite:
                # One statement, the claim and its reads, which commits by
                # itself: no BEGIN/COMMIT round trips. bench/publish_burst.py.
                conn.execution_options(isolation_level="AUTOCOMMIT")
                rows = conn.execute(_CLAIM_AND_LOAD, params).all()
                conn.commit()
                return _loaded(rows) if rows else None
            post = conn.execute(_CLAIM, params).first()
            if post is None:
                return None
            user = conn.execute(_USER, {"user_id": post.user_id}).first()
            items = conn.execute(_ITEMS, {"post_id": post_id}).all()
            conn.commit()  # hold no transaction while Meta answers
        return (
            PostSnapshot.from_row(post),
            UserSnapshot.from_row(user),
            [ItemSnapshot.from_row(item) for item in items],
        )

    @staticmethod
    def video(post_id: int) -> VideoSnapshot | None:
        """A Reel's or Story's video as it is now (its conversion runs apart
        from the engine, so it is read at each wake-up)."""
        with connect(autocommit=True) as conn:
            row = conn.execute(_VIDEO, {"post_id": post_id}).first()
        return VideoSnapshot.from_row(row) if row else None

    def keep(self, step: Step, **values) -> None:
        """Make sure the lease outlives the Graph call the step makes next.

        Every step calls this right before it calls Meta: the lease is renewed
        when it could run out before the call times out, and always when
        ``values`` come along, which are saved in the same write.
        """
        now = now_utc()
        if values or step.post.lease_until < now + self.settings.call_timeout:
            values["lease_until"] = now + self.settings.lease
            self.save(step, **values)
        step.lease_kept = True

    def save_new_container(self, step: Step, container_id: str, **values) -> None:
        """Record a container Meta just made (single image or carousel parent),
        give the lease back and book its first status check."""
        self.save(
            step,
            final=True,
            container_id=container_id,
            container_created_at=now_utc(),
            containers_created=step.post.containers_created + 1,
            container_stale=False,
            container_ready=False,
            status_checks=0,
            publish_requested_at=None,
            next_attempt_at=now_utc() + self.settings.first_check,
            waiting_reason=None,
            **values,
        )

    def save(self, step: Step, *, final: bool = False, **values) -> None:
        """Persist at once what this step learned, but only while we hold the lease.

        ``final`` marks the step's last write, which also gives the lease back
        (one commit instead of two).
        """
        if final:
            values.update(lease_until=None, lease_owner=None)
            step.released = True
        values["graph_calls"] = step.base_calls + step.calls
        values["updated_at"] = now_utc()
        where = {"where_post_id": step.post.id, "where_owner": self.owner}
        folded = None
        if step.pending and db.engine.dialect.name == "postgresql":
            folded = fold(_SAVE, values, where, step.pending)
        # One statement (the guarded UPDATE alone, or folded with the pending
        # writes) needs no transaction around it: see connect().
        with connect(autocommit=not step.pending or folded is not None) as conn:
            if folded is not None:
                done = conn.execute(*folded).scalar_one()
            else:
                done = conn.execute(_SAVE, {**where, **values}).rowcount
            if done != 1:
                raise LostLease  # and the pending writes are not ours to make
            if folded is None:
                for statement, params in step.pending:
                    conn.execute(statement, params)
            step.pending.clear()
            conn.commit()
        step.changes.update(values)
        for key, value in values.items():
            setattr(step.post, key, value)

    def save_item(
        self, step: Step, item: ItemSnapshot, *, final: bool = False, **values
    ) -> None:
        """Persist at once what the step learned about one media item (its
        carousel container), in the same lease-guarded commit as the post."""
        self.stage_item(step, item, **values)
        self.save(step, final=final)

    @staticmethod
    def stage_item(step: Step, item: ItemSnapshot, **values) -> None:
        """Write ``values`` to one media item with the step's next save."""
        step.pending.append((_SAVE_ITEM, {"where_item_id": item.id, **values}))
        for key, value in values.items():
            setattr(item, key, value)

    @staticmethod
    def forget_files(step: Step) -> None:
        """With the next save: the items' uploads are gone (thumbnails stay)."""
        step.pending.append((_FORGET_FILES, {"where_post_id": step.post.id}))
        for item in step.items:
            item.filename = None
        if step.video is not None:
            params = {"where_post_id": step.post.id}
            step.pending.append((_FORGET_VIDEO_FILES, params))
            step.video.source = step.video.filename = None

    @staticmethod
    def note(step: Step, message: str) -> None:
        """Add a line to the post's history with the step's next save."""
        params = {"post_id": step.post.id, "at": now_utc(), "message": message}
        step.pending.append((_ADD_EVENT, params))

    def release(self, step: Step) -> None:
        """Give the lease back, if the step's last write did not."""
        if not step.released:
            with connect(autocommit=True) as conn:
                params = {"where_post_id": step.post.id, "where_owner": self.owner}
                conn.execute(_RELEASE, params)
                conn.commit()
