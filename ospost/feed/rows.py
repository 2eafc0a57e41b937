"""Storing a refresh: the profile row, the feed's rows and their thumbnails.

``save`` writes what Meta answered in one transaction (each post once, by its
media id; posts gone from the newest FEED_MAX_ITEMS deleted with their
pictures), ``save_failure`` records why a refresh got nothing, and the rest
mark an account as due for another refresh.
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import SQLAlchemyError

from models import FeedItem
from models import InstagramProfile
from models import User
from models import db
from models import now_utc
from ospost.feed.meta import Fetched
from ospost.storage import MediaStore

log = logging.getLogger(__name__)

PROFILES = InstagramProfile.__table__
ITEMS = FeedItem.__table__
USERS = User.__table__
_NEEDS_REAUTH = (
    update(USERS).where(USERS.c.id == bindparam("user_id")).values(needs_reauth=True)
)
_REQUEST_REFRESH = (
    update(PROFILES)
    .where(PROFILES.c.user_id == bindparam("where_user_id"))
    .values(requested_at=bindparam("at", type_=PROFILES.c.requested_at.type))
)


def save(
    store: MediaStore,
    user,
    now: datetime,
    fetched: Fetched,
    items: list[dict],
    *,
    pause: datetime | None,
    problem: str | None,
) -> None:
    """Store profile and posts in one transaction and give the lease back."""
    profile = fetched.profile
    stored = {
        row.ig_media_id: row
        for row in db.session.execute(
            select(ITEMS.c.id, ITEMS.c.ig_media_id, ITEMS.c.thumbnail).where(
                ITEMS.c.user_id == user.id
            )
        )
    }
    seen = set()
    for item in items:
        seen.add(item["id"])
        values = _item_values(item)
        row = stored.get(item["id"])
        if row is None:
            db.session.execute(
                insert(ITEMS).values(user_id=user.id, ig_media_id=item["id"], **values)
            )
        else:
            if values["thumbnail"] is None:
                values.pop("thumbnail")  # keep the old picture until a new one
            db.session.execute(
                update(ITEMS).where(ITEMS.c.id == row.id).values(**values)
            )
    gone = []
    if fetched.complete:
        # Deleted on Instagram, or older than the newest FEED_MAX_ITEMS.
        gone = [row for media_id, row in stored.items() if media_id not in seen]
        if gone:
            db.session.execute(
                delete(ITEMS).where(ITEMS.c.id.in_([row.id for row in gone]))
            )
    db.session.execute(
        update(PROFILES)
        .where(PROFILES.c.user_id == user.id)
        .values(
            username=str(profile.get("username") or user.ig_username)[:255],
            name=str(profile.get("name") or "")[:255],
            followers_count=_count(profile.get("followers_count")),
            follows_count=_count(profile.get("follows_count")),
            media_count=_count(profile.get("media_count")),
            version=PROFILES.c.version + 1,
            refreshed_at=now,
            attempted_at=now,
            lease_until=None,
            backoff_until=pause,
            usage_percent=fetched.usage.highest if fetched.usage else None,
            problem=problem,
        )
    )
    user_values = {}
    picture = profile.get("profile_picture_url")
    # Meta hands out a fresh picture URL each time; the old one expires.
    if isinstance(picture, str) and _is_web_url(picture):
        user_values["profile_picture_url"] = picture[:2048]
    if isinstance(profile.get("username"), str) and profile["username"]:
        user_values["ig_username"] = profile["username"][:255]
    if user_values:
        db.session.execute(
            update(USERS).where(USERS.c.id == user.id).values(**user_values)
        )
    db.session.commit()
    kept = {item["thumbnail"] for item in items}
    store.delete_feed_thumbnails(
        user.ig_account_id,
        *(row.thumbnail for row in gone if row.thumbnail not in kept),
    )


def save_failure(
    user,
    now: datetime,
    problem: str,
    pause: datetime | None,
    *,
    reauth: bool = False,
) -> None:
    db.session.execute(
        update(PROFILES)
        .where(PROFILES.c.user_id == user.id)
        .values(
            version=PROFILES.c.version + 1,
            attempted_at=now,
            lease_until=None,
            backoff_until=pause,
            problem=problem,
        )
    )
    if reauth:
        mark_needs_reauth(user.id)
    db.session.commit()


def mark_needs_reauth(user_id: int) -> None:
    """Flag the account for a new login (committed with the caller's writes)."""
    db.session.execute(_NEEDS_REAUTH, {"user_id": user_id})


def request_again(user_id: int) -> None:
    """Pictures are left to fetch: let the background job finish them soon."""
    db.session.execute(
        update(PROFILES)
        .where(PROFILES.c.user_id == user_id)
        .values(requested_at=now_utc())
    )
    db.session.commit()


def request_refresh(user_id: int) -> None:
    """Ask for the account's feed to be refreshed soon (after a publish).

    An account never refreshed has no profile row and is due anyway. Best
    effort: a failure here is logged and never reaches the caller.
    """
    try:
        # Called by the publishing engine for every post that goes live: one
        # statement on a pooled connection, in autocommit on PostgreSQL (no
        # BEGIN/COMMIT round trips, bench/publish_burst.py).
        with db.engine.connect() as conn:
            if conn.dialect.name != "sqlite":
                conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(_REQUEST_REFRESH, {"where_user_id": user_id, "at": now_utc()})
            conn.commit()
    except SQLAlchemyError:
        log.exception("feed of user %s: refresh not requested", user_id)


def ensure_profile(user_id: int) -> None:
    """The account's ig_profiles row exists afterwards (made empty if new)."""
    exists = db.session.execute(
        select(PROFILES.c.user_id).where(PROFILES.c.user_id == user_id)
    ).first()
    if exists is not None:
        return
    try:
        db.session.execute(
            insert(PROFILES).values(user_id=user_id, username="", name="", version=0)
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another worker made it first


def _item_values(item: dict) -> dict:
    return {
        "media_type": item["media_type"],
        "product_type": item["product_type"],
        "permalink": item["permalink"][:512],
        "caption": item["caption"],
        "posted_at": item["posted_at"],
        "thumbnail": item.get("thumbnail"),
    }


def _is_web_url(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https") and len(url) <= 2048


def _count(value) -> int | None:
    return value if isinstance(value, int) and value >= 0 else None
