"""Database models: who our users are, what they scheduled, and what happened to it.

Models change state; routes and the publishing engine commit. Every timestamp is
stored as timezone-aware UTC (``UTCDateTime``), and Instagram access tokens are
encrypted at rest (``EncryptedText``); both column types live in
``ospost/columns.py``.
"""

from __future__ import annotations

import enum
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from ospost.columns import EncryptedText
from ospost.columns import UTCDateTime

# The token cipher lives with its column type; app.py configures it from here.
from ospost.columns import token_cipher as token_cipher


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


def now_utc() -> datetime:
    """The current instant as an aware UTC datetime."""
    return datetime.now(UTC)


class PostStatus(enum.StrEnum):
    # Kept but never published: the engine only claims scheduled posts.
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"


# Statuses of posts a person may still change (and move on the calendar).
EDITABLE = (PostStatus.DRAFT, PostStatus.SCHEDULED, PostStatus.FAILED)


class MediaType(enum.StrEnum):
    """What Instagram is asked to make: one image, or a carousel of 2-10."""

    IMAGE = "IMAGE"
    CAROUSEL = "CAROUSEL"


class CommentStatus(enum.StrEnum):
    """Where a post's first comment is (None on the post: it has none)."""

    PENDING = "pending"
    POSTED = "posted"
    FAILED = "failed"


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    ig_account_id: Mapped[str] = mapped_column(String(64), unique=True)
    # The Facebook user whose token ``access_token`` is (the last one of the
    # people holding the account to log in); who may act on it is
    # ``AccountAccess`` (ospost/people.py).
    fb_user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    ig_username: Mapped[str] = mapped_column(String(255), default="")
    profile_picture_url: Mapped[str] = mapped_column(String(2048), default="")
    page_name: Mapped[str] = mapped_column(String(255), default="")
    access_token: Mapped[str | None] = mapped_column(EncryptedText)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    needs_reauth: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    quota_total: Mapped[int | None] = mapped_column(Integer)
    quota_usage: Mapped[int | None] = mapped_column(Integer)
    quota_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    posts: Mapped[list[Post]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def connect(self, *, token: str, expires_at: datetime | None, profile: dict):
        """Store a fresh login: new token, profile details, and no pending re-auth."""
        self.access_token = token
        self.token_expires_at = expires_at
        self.needs_reauth = False
        self.ig_username = profile.get("username") or self.ig_username
        self.profile_picture_url = profile.get("profile_picture_url") or ""
        self.page_name = profile.get("page_name") or self.page_name
        self.fb_user_id = profile.get("fb_user_id") or self.fb_user_id
        self.last_login_at = now_utc()

    def disconnect(self) -> None:
        """Forget the token after Meta told us the person removed the app."""
        self.access_token = None
        self.needs_reauth = True

    def schedule_limit(self, now: datetime, max_days: int) -> datetime:
        """The latest moment a post may be scheduled for this user."""
        limit = now + timedelta(days=max_days)
        if self.token_expires_at is not None:
            limit = min(limit, self.token_expires_at - timedelta(days=1))
        return limit

    def token_expires_soon(self, now: datetime, days: int = 7) -> bool:
        """True when the Instagram login runs out within ``days``."""
        return (
            self.token_expires_at is not None
            and self.token_expires_at - now <= timedelta(days=days)
        )

    def scheduled_posts(self):
        """Select this user's scheduled posts in publishing order."""
        return (
            select(Post)
            .where(Post.user_id == self.id, Post.status == PostStatus.SCHEDULED)
            .order_by(Post.scheduled_at, Post.id)
        )


class CoverField:
    """A single-image field of ``Post`` kept on its first image (``PostMedia``)."""

    def __init__(self, default=None) -> None:
        self.default = default

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, post, owner=None):
        if post is None:
            return self
        cover = post.cover
        return getattr(cover, self.name) if cover else self.default

    def __set__(self, post, value) -> None:
        setattr(post.writable_cover(), self.name, value)


class Post(db.Model):
    __tablename__ = "posts"
    __table_args__ = (
        # Pending posts by due time: the sweep, start-up and the horizon step
        # read a time range of them. With only the one-column indexes, SQLite
        # picked ix_posts_status and read every pending post.
        Index("ix_posts_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(
        String(16), default=PostStatus.SCHEDULED, index=True
    )
    # None only for a draft that has no date yet.
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    caption: Mapped[str] = mapped_column(Text, default="")
    media_type: Mapped[str] = mapped_column(String(16), default=MediaType.IMAGE)
    # feed, reel or story (ospost/reel_models.py PostType).
    post_type: Mapped[str] = mapped_column(
        String(8), default="feed", server_default="feed"
    )
    # Instagram usernames invited as collaborators (set on the post or the
    # carousel parent, never on a carousel item).
    collaborators: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_comment: Mapped[str] = mapped_column(Text, default="")
    # SHA-256 of the first item's stored JPEG (the cover), to warn when one
    # image is scheduled twice; None until known (planning.image_hash fills it).
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=now_utc, onupdate=now_utc
    )

    # Publishing engine state: the database, not the scheduler, decides.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    graph_calls: Mapped[int] = mapped_column(Integer, default=0)
    # "Still processing" answers; they back off and do not count as failures.
    status_checks: Mapped[int] = mapped_column(Integer, default=0)
    staged_name: Mapped[str | None] = mapped_column(String(96))
    container_id: Mapped[str | None] = mapped_column(String(64))
    container_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    containers_created: Mapped[int] = mapped_column(Integer, default=0)
    # Set when the post changed after a publish request may have reached Meta:
    # the old container must be checked (it could be live) but never published.
    container_stale: Mapped[bool] = mapped_column(Boolean, default=False)
    # Meta reported the container FINISHED (or answered a publish with a plain
    # error), so the next attempt can publish without another status check.
    container_ready: Mapped[bool] = mapped_column(Boolean, default=False)
    publish_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ig_media_id: Mapped[str | None] = mapped_column(String(64))
    permalink: Mapped[str | None] = mapped_column(String(512))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waiting_reason: Mapped[str | None] = mapped_column(String(255))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_subcode: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    fbtrace_id: Mapped[str | None] = mapped_column(String(64))
    # The first comment, posted after the media is live; its failure never
    # fails the post (see ospost/engine/comment.py).
    comment_status: Mapped[str | None] = mapped_column(String(16))
    comment_id: Mapped[str | None] = mapped_column(String(64))
    # Set before the comment request: a crash after it means "look for our
    # comment before posting again".
    comment_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment_attempts: Mapped[int] = mapped_column(Integer, default=0)
    comment_error: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship(back_populates="posts")
    # Every post has 1-10 items in order; selectin: the grid shows 200 posts'
    # first images with one extra query.
    media: Mapped[list[PostMedia]] = relationship(
        back_populates="post",
        order_by="PostMedia.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )
    events: Mapped[list[PostEvent]] = relationship(
        order_by="PostEvent.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="select",
    )

    # The first image stands for the post (the grid tile), and these are a
    # single-image post's fields: read from its first image, and written to it
    # (made if the post has none), so code that treats a post as one image
    # keeps working.
    filename = CoverField()
    thumbnail = CoverField()
    alt_text = CoverField(default="")
    width = CoverField(default=0)
    height = CoverField(default=0)

    @property
    def cover(self) -> PostMedia | None:
        return self.media[0] if self.media else None

    def writable_cover(self) -> PostMedia:
        if not self.media:
            self.set_media([PostMedia()])
        return self.media[0]

    @property
    def on_grid(self) -> bool:
        """Shown on the profile grid: feed posts, and Reels shared to feed
        (Stories and Reels-tab-only Reels sit in the strip above it)."""
        video = getattr(self, "video", None)
        if self.post_type == "reel":
            return video is None or video.share_to_feed
        return self.post_type != "story"

    @property
    def is_carousel(self) -> bool:
        return self.media_type == MediaType.CAROUSEL

    def file_names(self) -> list[str]:
        """Every file of this post's items (uploads and thumbnails) and videos."""
        names = [n for m in self.media for n in m.file_names()]
        video = getattr(self, "video", None)  # ospost/reel_models.py
        return names + (video.file_names() if video is not None else [])

    def set_media(self, items: list[PostMedia]) -> None:
        """Make ``items`` the post's media, in this order (1 is an image post,
        2-10 a carousel). Items that stay keep their files and rows."""
        for item in self.media:
            if item not in items:
                item.position = None  # freed before the new order is written
        # Positions are unique per post: park the kept items out of the way
        # first, so a reorder never collides with itself mid-flush.
        for i, item in enumerate(items):
            if item.position is not None:
                item.position = -1 - i
        if self.id is not None:
            db.session.flush()
        for i, item in enumerate(items):
            item.position = i
        self.media = items
        self.media_type = MediaType.CAROUSEL if len(items) > 1 else MediaType.IMAGE

    def set_first_comment(self, text: str) -> None:
        """Keep ``text`` to post as the first comment once the post is live."""
        self.first_comment = text
        self.comment_status = CommentStatus.PENDING if text else None
        self.comment_id = None
        self.comment_requested_at = None
        self.comment_attempts = 0
        self.comment_error = None

    @property
    def comment_failed(self) -> bool:
        return self.comment_status == CommentStatus.FAILED

    def retry_comment(self, when: datetime) -> None:
        """Queue the first comment again (the post itself stays live)."""
        self.comment_status = CommentStatus.PENDING
        self.comment_attempts = 0
        self.comment_error = None
        self.next_attempt_at = when

    @property
    def checking(self) -> bool:
        """Publishing, and Ospost is asking Instagram whether a publish request
        that got no answer went through (see ospost/engine/policy.py)."""
        return (
            self.status == PostStatus.PUBLISHING
            and self.publish_requested_at is not None
            and not self.ig_media_id
            and bool(self.waiting_reason)
        )

    @property
    def editable(self) -> bool:
        """Drafts, scheduled and failed posts can change; publishing or live ones
        cannot."""
        return self.status in EDITABLE

    def make_draft(self, when: datetime | None) -> None:
        """Keep the post unpublished, with ``when`` as a date to think about."""
        self.scheduled_at = when
        self.status = PostStatus.DRAFT
        for key, value in self.failed_values(None).items():
            if key != "status":
                setattr(self, key, value)

    def schedule(self, when: datetime, *, content_changed: bool = True) -> None:
        """(Re)schedule the post for ``when`` and forget any earlier failure.

        A container made for the old content is dropped, unless a publish request
        for it may already have reached Meta: then it is kept, marked stale, so
        the engine checks whether it went live before making a new one.
        """
        self.scheduled_at = when
        self.retry(when)
        if not content_changed:
            return
        # Carousel items are never published on their own: made for the old
        # content, they are simply forgotten (Meta expires them in 24 h).
        for item in self.media:
            item.forget_container()
        if self.container_id:
            if self.publish_requested_at is None:
                self.container_id = None
                self.container_created_at = None
                self.container_ready = False
            else:
                self.container_stale = True

    def retry(self, when: datetime) -> None:
        """Queue the post for another attempt at ``when`` with a fresh budget."""
        self.status = PostStatus.SCHEDULED
        self.next_attempt_at = when
        self.attempts = 0
        self.graph_calls = 0
        self.containers_created = 0
        self.lease_until = None
        self.lease_owner = None
        self.waiting_reason = None
        self.clear_error()

    def clear_error(self) -> None:
        self.error_code = None
        self.error_subcode = None
        self.error_message = None
        self.fbtrace_id = None

    @staticmethod
    def failed_values(
        reason: str | None,
        *,
        code: int | None = None,
        subcode: int | None = None,
        fbtrace_id: str | None = None,
    ) -> dict:
        """Columns of a post that stopped trying (shared with the engine's UPDATEs)."""
        return {
            **_NOTHING_PENDING,
            "status": PostStatus.FAILED,
            "error_message": reason,
            "error_code": code,
            "error_subcode": subcode,
            "fbtrace_id": fbtrace_id,
        }

    @staticmethod
    def published_values(when: datetime) -> dict:
        """Columns of a post that is live (shared with the engine's UPDATEs)."""
        return {
            **Post.failed_values(None),  # no error left, nothing pending
            "status": PostStatus.PUBLISHED,
            "published_at": when,
        }

    def fail(self, reason: str, **meta_error) -> None:
        """Stop trying and tell the user why."""
        for key, value in self.failed_values(reason, **meta_error).items():
            setattr(self, key, value)

    def mark_published(self, media_id: str | None, when: datetime) -> None:
        """Record that the post is live on Instagram."""
        for key, value in self.published_values(when).items():
            setattr(self, key, value)
        self.ig_media_id = media_id or self.ig_media_id


class PostMedia(db.Model):
    """One image of a post, in its place: the whole post, or a carousel item.

    The engine records the item's carousel container here the moment Meta
    returns its id, so no retry, crash or second worker ever makes another.
    """

    __tablename__ = "post_media"
    __table_args__ = (UniqueConstraint("post_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), index=True
    )
    # None only while a reorder or removal is being written.
    position: Mapped[int | None] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(String(64))
    thumbnail: Mapped[str | None] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    alt_text: Mapped[str] = mapped_column(Text, default="")
    # [{"username": "jane.doe", "x": 0.5, "y": 0.8}], x/y from the top left.
    user_tags: Mapped[list[dict]] = mapped_column(JSON, default=list)
    # Carousel items only (a single image's container lives on the post).
    container_id: Mapped[str | None] = mapped_column(String(64))
    container_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Meta's status_code as last seen: IN_PROGRESS, FINISHED, ERROR, EXPIRED.
    container_status: Mapped[str | None] = mapped_column(String(16))
    containers_created: Mapped[int] = mapped_column(Integer, default=0)

    post: Mapped[Post] = relationship(back_populates="media")

    def __init__(self, **values) -> None:
        # Column defaults only apply on INSERT; a new item reads right at once.
        for name, value in (("alt_text", ""), ("width", 0), ("height", 0)):
            values.setdefault(name, value)
        values.setdefault("user_tags", [])
        values.setdefault("containers_created", 0)
        super().__init__(**values)

    def forget_container(self) -> None:
        self.container_id = None
        self.container_created_at = None
        self.container_status = None
        self.containers_created = 0

    def file_names(self) -> list[str]:
        """The item's picture, tile and (a video item's) video files."""
        video = getattr(self, "video", None)  # ospost/reel_models.py
        names = [n for n in (self.filename, self.thumbnail) if n]
        return names + (video.file_names() if video is not None else [])


class PostEvent(db.Model):
    """A line of a post's history the person should know about (a container
    made again after it expired, the first comment failing...)."""

    __tablename__ = "post_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    message: Mapped[str] = mapped_column(Text)
    # Who did it, when a person did (two people may share an account);
    # None for what Ospost or Meta did on its own.
    actor: Mapped[str | None] = mapped_column(String(255))


# A finished post (live or failed) has no wake-up, lease or wait pending.
_NOTHING_PENDING = {
    "next_attempt_at": None,
    "lease_until": None,
    "lease_owner": None,
    "waiting_reason": None,
}


# The account's other tables (the live profile, posting slots, the calendar
# feed) live in ospost/account_models.py, login's (sessions, deletion
# requests) in ospost/login_models.py; imported here so every table is
# registered with the metadata and importable from ``models``.
from ospost.account_models import CalendarFeed as CalendarFeed  # noqa: E402
from ospost.account_models import FeedItem as FeedItem  # noqa: E402
from ospost.account_models import InstagramProfile as InstagramProfile  # noqa: E402
from ospost.account_models import PostingSlot as PostingSlot  # noqa: E402
from ospost.login_models import DeletionRequest as DeletionRequest  # noqa: E402
from ospost.login_models import UsedSignedRequest as UsedSignedRequest  # noqa: E402
from ospost.login_models import WebSession as WebSession  # noqa: E402
from ospost.people import AccountAccess as AccountAccess  # noqa: E402
from ospost.people import Person as Person  # noqa: E402
from ospost.reel_models import PostVideo as PostVideo  # noqa: E402
