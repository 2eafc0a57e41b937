"""Recording events in the outbox, in the transaction of the change that causes them.

Every event has a key, ``<kind>:<subject>:<occurrence>``, unique in
``notification_events``; recording is an INSERT ... ON CONFLICT DO NOTHING, so
a retried step, a second worker or a rerun scan never records an event twice,
and nothing is recorded unless the change that causes it commits.

- The publishing engine appends ``pending(...)`` statements to a step; they
  commit with the step's lease-guarded save (``ospost/engine/lease.py``).
- Routes and the scheduler's start-up call ``record(...)`` on the ORM session
  before they commit.
- The delivery worker's periodic scans (``scan_expiring``, ``scan_summaries``)
  record events that come from time passing; their keys make reruns harmless.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta

from sqlalchemy import and_
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

import helpers
from models import Post
from models import PostStatus
from models import User
from models import db
from models import now_utc
from ospost.notify.models import NotificationEvent
from ospost.notify.models import PersonNotificationSettings as Prefs
from ospost.notify.models import new_uid
from ospost.people import AccountAccess

EVENTS = NotificationEvent.__table__

POST_FAILED = "post.failed"
POST_PUBLISHED = "post.published"
NEEDS_REAUTH = "account.needs_reauth"
LOGIN_EXPIRING = "account.login_expiring"
DAILY_SUMMARY = "summary.daily"
KINDS = (POST_FAILED, POST_PUBLISHED, NEEDS_REAUTH, LOGIN_EXPIRING, DAILY_SUMMARY)
# A login that runs out within this long, with posts due after it, is announced.
EXPIRY_NOTICE = timedelta(days=7)
CAPTION_EXCERPT = 80

_INSERTS = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}
_statements: dict[str, object] = {}


def insert_statement():
    """INSERT of one event that does nothing when its key is already recorded."""
    dialect = db.engine.dialect.name
    if dialect not in _statements:
        # The columns come from each call's parameters.
        _statements[dialect] = _INSERTS[dialect](EVENTS).on_conflict_do_nothing(
            index_elements=[EVENTS.c.key]
        )
    return _statements[dialect]


def _row(kind: str, user_id: int, subject, occurrence, payload: dict) -> dict:
    return {
        "key": f"{kind}:{subject}:{occurrence}"[:255],
        "uid": new_uid(),
        "kind": kind,
        "user_id": user_id,
        "payload": payload,
        "created_at": now_utc(),
        "fanned_out_at": None,
    }


def _stamp(when: datetime | None) -> str:
    return when.isoformat() if when else "never"


def excerpt(caption: str | None) -> str:
    text = " ".join((caption or "").split())
    return text if len(text) <= CAPTION_EXCERPT else text[: CAPTION_EXCERPT - 1] + "…"


# -- event rows --------------------------------------------------------------
# Each returns the parameters of one insert; ``pending`` and ``record`` run it.


def post_failed(post, reason: str | None, *, occurrence: str) -> dict:
    """A post stopped trying; ``occurrence`` tells this failure from a later one
    after a retry (the engine passes the post's last saved ``updated_at``)."""
    return _row(
        POST_FAILED,
        post.user_id,
        post.id,
        occurrence,
        {
            "post_id": post.id,
            "caption": excerpt(post.caption),
            "reason": reason or "",
            "scheduled_at": _stamp(post.scheduled_at),
        },
    )


def post_published(post, *, permalink: str | None, when: datetime) -> dict:
    """A post went live (once ever, so the post id is the whole subject)."""
    return _row(
        POST_PUBLISHED,
        post.user_id,
        post.id,
        "live",
        {
            "post_id": post.id,
            "caption": excerpt(post.caption),
            "permalink": permalink or "",
            "ig_media_id": post.ig_media_id or "",
            "published_at": _stamp(when),
        },
    )


def needs_reauth(user, reason: str) -> dict:
    """The account's login stopped working: once per login (``last_login_at``),
    however many posts find out at the same time."""
    return _row(
        NEEDS_REAUTH,
        user.id,
        user.id,
        _stamp(user.last_login_at),
        {"reason": reason},
    )


def login_expiring(user, posts_after: int, first_after: datetime | None) -> dict:
    return _row(
        LOGIN_EXPIRING,
        user.id,
        user.id,
        _stamp(user.token_expires_at),
        {
            "expires_at": _stamp(user.token_expires_at),
            "posts_after": posts_after,
            "first_post_at": _stamp(first_after),
        },
    )


def daily_summary(user, day: str, counts: dict) -> dict:
    return _row(DAILY_SUMMARY, user.id, user.id, day, {"date": day, **counts})


# -- recording ---------------------------------------------------------------


def pending(params: dict) -> tuple:
    """A (statement, params) pair for ``Step.pending``: it commits with the
    engine's next lease-guarded save, or not at all."""
    return (insert_statement(), params)


def record(session, *rows: dict) -> None:
    """Record events in ``session``'s transaction (the caller commits)."""
    for params in rows:
        session.execute(insert_statement(), params)


# -- scans: events that come from time passing ---------------------------------


def scan_expiring(session, now: datetime) -> int:
    """Record a notice for each login that runs out within 7 days while posts
    are scheduled after it runs out; returns how many candidates were seen."""
    posts_after = (
        select(func.count(Post.id), func.min(Post.scheduled_at))
        .where(
            Post.user_id == User.id,
            Post.status == PostStatus.SCHEDULED,
            Post.scheduled_at > User.token_expires_at,
        )
        .correlate(User)
    )
    users = session.scalars(
        select(User).where(
            User.needs_reauth.is_(False),
            User.access_token.is_not(None),
            User.token_expires_at > now,
            User.token_expires_at <= now + EXPIRY_NOTICE,
            exists(
                select(Post.id).where(
                    Post.user_id == User.id,
                    Post.status == PostStatus.SCHEDULED,
                    Post.scheduled_at > User.token_expires_at,
                )
            ),
        )
    ).all()
    for user in users:
        count, first = session.execute(posts_after.where(Post.user_id == user.id)).one()
        record(session, login_expiring(user, count, first))
    return len(users)


def scan_summaries(session, now: datetime, hour: int) -> int:
    """Record today's summary for each account someone holding it asked for
    one of (each such person gets it by email), once its
    local clock passed ``hour``; returns how many were considered."""
    rows = session.scalars(
        select(User)
        .where(
            User.id.in_(
                select(Prefs.user_id)
                .join(
                    AccountAccess,
                    and_(
                        AccountAccess.person_id == Prefs.person_id,
                        AccountAccess.user_id == Prefs.user_id,
                    ),
                )
                .where(Prefs.email_summary.is_(True), Prefs.email.is_not(None))
            )
        )
        .order_by(User.id)
    ).all()
    for user in rows:
        local = helpers.to_local(now, user.timezone)
        if local.hour < hour:
            continue
        record(
            session,
            daily_summary(user, local.date().isoformat(), _counts(session, user, now)),
        )
    return len(rows)


def _counts(session, user: User, now: datetime) -> dict:
    day = timedelta(days=1)

    def count(*where) -> int:
        return session.scalar(
            select(func.count(Post.id)).where(Post.user_id == user.id, *where)
        )

    return {
        "published": count(
            Post.status == PostStatus.PUBLISHED, Post.published_at > now - day
        ),
        "failed": count(Post.status == PostStatus.FAILED, Post.updated_at > now - day),
        "scheduled_next_day": count(
            Post.status == PostStatus.SCHEDULED, Post.scheduled_at <= now + day
        ),
    }
