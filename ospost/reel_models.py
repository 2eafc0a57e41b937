"""A post's videos: the upload, its conversion and how to publish it.

A post's ``post_type`` says what Instagram is asked to make: a feed post (one
image or a carousel), a Reel (one video, with a cover and "also share to
feed") or a Story (one image or one video). The cover picture of a Reel or
video Story is the post's first ``PostMedia`` row (poster + 3:4 grid tile), so
the grid and the engine treat it like any post's first image; the video
itself lives in ``PostVideo`` (``Post.video``).

A carousel item may be a video too: its ``PostMedia`` row keeps the poster
frame (at the carousel's shape) and the grid tile, and its ``PostVideo`` row
names that item (``post_media_id``; ``PostMedia.video``). A post thus has one
video per video item, and at most one of its own (a Reel's or Story's).

Importable from ``models`` too, which imports this module once ``db`` exists.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import Float
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import and_
from sqlalchemy import select
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import backref
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from models import db
from models import now_utc
from ospost.columns import UTCDateTime

if TYPE_CHECKING:
    from models import Post
    from models import PostMedia


class PostType(enum.StrEnum):
    """The composer's "Post type"."""

    FEED = "feed"
    REEL = "reel"
    STORY = "story"


class VideoStatus(enum.StrEnum):
    """Where a video's conversion is (``ospost.reels``)."""

    CONVERTING = "converting"
    READY = "ready"
    FAILED = "failed"


def on_grid(query):
    """``query`` (of Post) limited to the posts the profile grid shows and
    reorders: no Stories, no Reels kept out of the feed."""
    from models import Post

    kept_out = (
        select(PostVideo.id)
        .where(PostVideo.post_id == Post.id, PostVideo.share_to_feed.is_(False))
        .exists()
    )
    return query.where(Post.post_type != PostType.STORY, ~kept_out)


class PostVideo(db.Model):
    """The one video of a Reel or a video Story, or of a carousel item.

    ``source`` is the upload as the person sent it; ``filename`` the
    Instagram-ready MP4 once converted. A conversion is claimed with a lease
    (``job_owner``/``job_until``) like a post, so a restarted server takes
    over one whose process died.
    """

    __tablename__ = "post_videos"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), index=True
    )
    # The carousel item this video is (None: the Reel's or Story's video).
    post_media_id: Mapped[int | None] = mapped_column(
        ForeignKey("post_media.id", ondelete="CASCADE"), unique=True
    )
    source: Mapped[str | None] = mapped_column(String(64))
    filename: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=VideoStatus.CONVERTING)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    # "pad" (black bars) or "crop" (the middle) to make it 9:16.
    fit: Mapped[str] = mapped_column(String(8), default="pad")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    # Sentences for the post page: what the conversion changed.
    changes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Reels: the cover is the frame at thumb_offset_ms, or an uploaded image
    # (cover_uploaded: the post's first PostMedia file, sent as cover_url).
    thumb_offset_ms: Mapped[int | None] = mapped_column(Integer)
    cover_uploaded: Mapped[bool] = mapped_column(Boolean, default=False)
    share_to_feed: Mapped[bool] = mapped_column(Boolean, default=True)
    job_owner: Mapped[str | None] = mapped_column(String(64))
    # Unclaimed: not before this time (a retry after a storage failure).
    job_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Tries that failed because the media storage could not be read or
    # written; the conversion fails after the engine's PUBLISH_MAX_ATTEMPTS.
    storage_failures: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    # Both this and Post.video / PostMedia.video write post_id: an item's
    # video is given its post here, a Reel's through Post.video.
    post: Mapped[Post] = relationship(overlaps="video")
    item: Mapped[PostMedia | None] = relationship(
        backref=backref(
            "video",
            uselist=False,
            cascade="all, delete-orphan",
            passive_deletes=True,
            lazy="selectin",
        )
    )

    def __init__(self, **values) -> None:
        # Column defaults only apply on INSERT; a new row reads right at once.
        values.setdefault("status", VideoStatus.CONVERTING)
        values.setdefault("progress", 0.0)
        values.setdefault("changes", [])
        values.setdefault("share_to_feed", True)
        values.setdefault("cover_uploaded", False)
        values.setdefault("fit", "pad")
        values.setdefault("storage_failures", 0)
        super().__init__(**values)

    @property
    def ready(self) -> bool:
        return self.status == VideoStatus.READY

    def file_names(self) -> list[str]:
        return [n for n in (self.source, self.filename) if n]


def _post_video():
    """``Post.video``: the Reel's or Story's own video, not its items' ones."""
    from models import Post

    Post.video = relationship(
        PostVideo,
        primaryjoin=and_(
            Post.id == PostVideo.post_id, PostVideo.post_media_id.is_(None)
        ),
        uselist=False,
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
        overlaps="post",
    )


_post_video()
