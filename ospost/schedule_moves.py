"""Moving scheduled posts on the grid: a new order, a neighbour swap, and Undo
putting them back; each move is described for the page's toast.

The routes are in ``ospost/posts.py``; the calendar (``ospost/planning.py``)
moves posts its own way but shares ``post_label`` and ``lock_schedule``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from flask import g
from flask import url_for
from sqlalchemy import select
from sqlalchemy import update

import helpers
from models import Post
from models import PostStatus
from models import User
from models import db
from models import now_utc
from ospost import schemas
from ospost.post_form import FormError
from ospost.post_form import check_publish_time
from ospost.reel_models import on_grid
from ospost.scheduler import publisher


@dataclass(frozen=True)
class Move:
    """One post a schedule change moved, from ``before`` to ``after``."""

    post: Post
    post_id: int
    before: datetime
    after: datetime


@dataclass(frozen=True)
class Restore:
    """Undo asks for post ``post_id`` to go back to ``when``; the page last saw
    it as of ``updated_at``."""

    post_id: int
    when: datetime
    updated_at: datetime


def reorder(user: User, order: list[int]) -> list[Move]:
    """Give the user's scheduled posts the existing dates in a new visual order.

    The posts keep the set of times and take them in the new order, so moving
    one post shifts every post between its old and new place by one time. The
    grid shows the last post first, so the first id gets the latest date.
    Returns the posts whose date changed. Raises FormError when ``order`` is
    not exactly the current set of scheduled posts.
    """
    lock_schedule(user)
    # populate_existing: a post loaded before the lock must show its dates now.
    posts = db.session.scalars(
        on_grid(user.scheduled_posts())
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    if sorted(order) != sorted(p.id for p in posts) or len(set(order)) != len(order):
        raise FormError("Your schedule changed in the meantime. Reload the page.")
    by_id = {p.id: p for p in posts}
    dates = sorted((p.scheduled_at for p in posts), reverse=True)
    moves = []
    for post_id, when in zip(order, dates, strict=True):
        post = by_id[post_id]
        if post.scheduled_at != when:
            moves.append(Move(post, post.id, post.scheduled_at, when))
            post.schedule(when, content_changed=False)
    return moves


def restore(user: User, posts: list[Post], wanted: list[Restore], now: datetime):
    """Put ``posts`` (the user's own, fetched for ``wanted``) back at the times
    ``wanted`` gives, all or none, and return the moves.

    Refused (FormError) when a post is no longer scheduled or changed since the
    page saw it, or when a time is not one the person could pick now (never in
    the past), so an undo never overwrites a newer change.
    """
    # Lock the rows (so the engine cannot claim one half-way through) and read
    # them again under the lock: the check below must see the latest commit.
    db.session.scalars(
        select(Post)
        .where(Post.user_id == user.id, Post.id.in_([p.id for p in posts]))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    changed = [
        post_label(p)
        for p, w in zip(posts, wanted, strict=True)
        if p.status != PostStatus.SCHEDULED or p.updated_at != w.updated_at
    ]
    if changed:
        raise FormError(
            f"Not undone: {', '.join(changed)} changed since the move (edited, "
            "moved again or being published). Nothing was changed."
        )
    moves = []
    for post, w in zip(posts, wanted, strict=True):
        try:
            check_publish_time(w.when, user, now)
        except FormError as exc:
            raise FormError(f"Not undone: {post_label(post)}: {exc}") from exc
        if post.scheduled_at != w.when:
            moves.append(Move(post, post.id, post.scheduled_at, w.when))
            post.schedule(w.when, content_changed=False)
    return moves


def parse_restore(body: schemas.RestoreRequest) -> list[Restore] | None:
    """The posts an undo request names, or None when a time is not an ISO
    instant with its offset or a post is named twice."""
    wanted = []
    for item in body.posts:
        when = _aware(item.scheduled_at)
        updated_at = _aware(item.updated_at)
        if when is None or updated_at is None:
            return None
        wanted.append(Restore(item.id, when, updated_at))
    if len({w.post_id for w in wanted}) != len(wanted):
        return None
    return wanted


def _aware(value) -> datetime | None:
    """An ISO 8601 instant with its offset, as aware UTC; None otherwise."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def post_label(post: Post) -> str:
    """A short name for a post in messages: its alt text or caption's start."""
    text = " ".join((post.alt_text or post.caption or "").split())
    if not text:
        return f"post {post.id}"
    return f"“{text[:37]}…”" if len(text) > 40 else f"“{text}”"


def save_moves(moves: list[Move]) -> dict:
    """Commit ``moves``, wake their jobs, and describe them for the page.

    Each moved post is listed with its time before and after (for the toast
    and its Undo) and the ``updated_at`` an undo must still find.
    """
    # One explicit stamp: what the ORM's onupdate hands back after a batched
    # UPDATE is not always what each row got, and an undo must match exactly.
    stamp = now_utc()
    for m in moves:
        m.post.updated_at = stamp
    tz = g.user.timezone
    upload = url_for("posts.upload", name="NAME")
    moved = [
        {
            "id": m.post_id,
            "label": post_label(m.post),
            "thumbnail": upload.replace("NAME", m.post.thumbnail)
            if m.post.thumbnail
            else None,
            "before": m.before.isoformat(),
            "after": m.after.isoformat(),
            "before_label": helpers.format_local(m.before, tz),
            "after_label": helpers.format_local(m.after, tz),
            "updated_at": stamp.isoformat(),
        }
        for m in moves
    ]
    db.session.commit()
    for m in moves:
        publisher.wake(m.post_id, m.after)
    return {"ok": True, "moved": moved}


def moves_summary(moved: list[dict]) -> str:
    """One sentence for the page without JavaScript: what moved where."""
    if not moved:
        return "Nothing moved."
    parts = [f"{m['label']} {m['before_label']} → {m['after_label']}" for m in moved]
    return f"Moved {len(moved)} post{'s' if len(moved) > 1 else ''}: " + "; ".join(
        parts
    )


def lock_schedule(user: User) -> None:
    """Hold the user's schedule until the commit, so two changes cannot interleave.

    Two reorders that both read the old dates and then wrote would leave one
    date twice and lose another. PostgreSQL would lock the rows read FOR UPDATE,
    but SQLite ignores FOR UPDATE: a no-op write to the user's row takes its
    database write lock (and PostgreSQL's row lock) before anything is read.
    """
    db.session.execute(
        update(User).where(User.id == user.id).values(needs_reauth=User.needs_reauth)
    )


def neighbour_order(user: User, post: Post, direction: str) -> list[int]:
    """The visual order after moving ``post`` one place earlier or later."""
    lock_schedule(user)
    ids = [p.id for p in db.session.scalars(on_grid(user.scheduled_posts()))][::-1]
    if post.id not in ids or direction not in ("earlier", "later"):
        raise FormError("Only scheduled posts can be moved.")
    i = ids.index(post.id)
    # Visual order is newest first, so "earlier" means one place to the right.
    j = i + 1 if direction == "earlier" else i - 1
    if 0 <= j < len(ids):
        ids[i], ids[j] = ids[j], ids[i]
    return ids
