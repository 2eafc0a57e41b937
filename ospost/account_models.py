"""The account's tables besides its posts: what Meta last told us about its
profile and feed (the live profile, ``ospost/feed/``), its weekly posting
slots and its private calendar feed (``ospost/planning.py``, ``ospost/ics.py``).

Importable from ``models`` too, which imports this module once ``db`` exists.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from models import db
from models import now_utc
from ospost.columns import UTCDateTime


class InstagramProfile(db.Model):
    """What Meta last told us about an account's profile, and how keeping its
    feed (``FeedItem``) up to date is going.

    One row per user, written by the feed refresh (``ospost.feed``) and read
    with the home grid: ``version`` goes up with every refresh, so the grid
    cache knows the feed part changed.
    """

    __tablename__ = "ig_profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(255), default="")
    followers_count: Mapped[int | None] = mapped_column(Integer)
    follows_count: Mapped[int | None] = mapped_column(Integer)
    media_count: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=0)
    # Last refresh that read the profile and the feed, and last attempt.
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Something (a publish, a half-done refresh) asked for another refresh soon.
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A worker is refreshing until then; nobody else may start.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Meta's rate limits: no feed calls before then.
    backoff_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    usage_percent: Mapped[int | None] = mapped_column(Integer)
    # Why the feed shown may be out of date, in a sentence for the person.
    problem: Mapped[str | None] = mapped_column(Text)


class FeedItem(db.Model):
    """One post of the account's Instagram feed, as last read from Meta.

    The thumbnail is our own copy (``MediaStore.save_feed_thumbnail``): Meta's
    picture URLs expire, so they are never stored.
    """

    __tablename__ = "feed_items"
    __table_args__ = (
        UniqueConstraint("user_id", "ig_media_id"),
        Index("ix_feed_items_user_posted", "user_id", "posted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    ig_media_id: Mapped[str] = mapped_column(String(64))
    # IMAGE, VIDEO or CAROUSEL_ALBUM; FEED or REELS.
    media_type: Mapped[str] = mapped_column(String(32), default="IMAGE")
    product_type: Mapped[str] = mapped_column(String(32), default="FEED")
    permalink: Mapped[str] = mapped_column(String(512), default="")
    caption: Mapped[str] = mapped_column(Text, default="")
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    thumbnail: Mapped[str | None] = mapped_column(String(96))

    @property
    def is_reel(self) -> bool:
        return self.media_type == "VIDEO" or self.product_type == "REELS"

    @property
    def is_carousel(self) -> bool:
        return self.media_type == "CAROUSEL_ALBUM"


class PostingSlot(db.Model):
    """A weekly posting time of a user: a weekday and a minute on their clock."""

    __tablename__ = "posting_slots"
    __table_args__ = (
        UniqueConstraint("user_id", "weekday", "minute"),
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("minute BETWEEN 0 AND 1439", name="minute_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    weekday: Mapped[int] = mapped_column(Integer)  # 0 is Monday
    minute: Mapped[int] = mapped_column(Integer)  # minutes after local midnight
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class CalendarFeed(db.Model):
    """A user's private calendar-feed address, kept only as a hash of its token."""

    __tablename__ = "calendar_feeds"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
