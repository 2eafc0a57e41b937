"""What one wake-up knows about the post it is publishing.

The claim reads the post and its account once; the steps decide from these
snapshots and update them as they save, so a wake-up never re-reads the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from datetime import datetime

from ospost.graph import GraphClient


class _Row:
    """Built from a table row with the same column names (see ``Leases.claim``)."""

    __slots__ = ()

    @classmethod
    def from_row(cls, row, prefix: str = ""):
        # Only the snapshot's own columns: a column added to the table does not
        # break claims, and tests/test_engine.py asks for it to be added here.
        # ``prefix``: the columns are labelled ``prefix + name`` (a join).
        values = row._mapping
        return cls(**{f.name: values[prefix + f.name] for f in fields(cls)})


# slots: a save that sets a column the snapshot lacks fails loudly in tests
# instead of adding an attribute nobody reads.
@dataclass(slots=True)
class PostSnapshot(_Row):
    """A ``posts`` row as claimed. Never flushed: every write goes through
    the lease-guarded ``Leases.save``, which updates this copy too."""

    id: int
    user_id: int
    status: str
    scheduled_at: datetime  # only drafts lack one, and drafts are never claimed
    caption: str
    media_type: str
    post_type: str
    collaborators: list[str]
    first_comment: str
    image_sha256: str | None
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None
    lease_until: datetime | None
    lease_owner: str | None
    attempts: int
    graph_calls: int
    status_checks: int
    staged_name: str | None
    container_id: str | None
    container_created_at: datetime | None
    containers_created: int
    container_stale: bool
    container_ready: bool
    publish_requested_at: datetime | None
    ig_media_id: str | None
    permalink: str | None
    published_at: datetime | None
    waiting_reason: str | None
    error_code: int | None
    error_subcode: int | None
    error_message: str | None
    fbtrace_id: str | None
    comment_status: str | None
    comment_id: str | None
    comment_requested_at: datetime | None
    comment_attempts: int
    comment_error: str | None

    def may_be_live(self) -> bool:
        """A publish request may have reached Meta and no media id came back:
        only Meta's clear answer may now decide what happened to the post."""
        return self.publish_requested_at is not None and not self.ig_media_id


@dataclass(slots=True)
class ItemSnapshot(_Row):
    """A ``post_media`` row as claimed (saved through ``Leases.save_item``)."""

    id: int
    post_id: int
    position: int | None
    filename: str | None
    thumbnail: str | None
    width: int
    height: int
    alt_text: str
    user_tags: list[dict]
    container_id: str | None
    container_created_at: datetime | None
    container_status: str | None
    containers_created: int


@dataclass(slots=True)
class VideoSnapshot(_Row):
    """A ``post_videos`` row (a Reel's or video Story's video, or a carousel
    item's), read after the claim."""

    id: int
    post_id: int
    post_media_id: int | None  # a carousel item's video: that item
    source: str | None
    filename: str | None
    status: str
    progress: float
    error: str | None
    fit: str
    duration_ms: int
    width: int
    height: int
    changes: list[str]
    thumb_offset_ms: int | None
    cover_uploaded: bool
    share_to_feed: bool
    job_owner: str | None
    job_until: datetime | None
    created_at: datetime


@dataclass(slots=True)
class UserSnapshot(_Row):
    """The post's ``users`` row as read at the claim (token decrypted)."""

    id: int
    ig_account_id: str
    fb_user_id: str | None
    ig_username: str
    profile_picture_url: str
    page_name: str
    access_token: str | None
    token_expires_at: datetime | None
    needs_reauth: bool
    timezone: str
    quota_total: int | None
    quota_usage: int | None
    quota_checked_at: datetime | None
    created_at: datetime
    last_login_at: datetime | None


class BudgetExhausted(Exception):
    """The post used every Graph call it is allowed."""


class LeaseNotKept(RuntimeError):
    """A step called Meta without ``Leases.keep`` first: a bug in the step."""


@dataclass
class Step:
    """What one wake-up knows while it holds the lease on a post."""

    post: PostSnapshot
    user: UserSnapshot
    token: str
    now: datetime
    client: GraphClient | None = None
    # The post's media items in order (one for a single image).
    items: list[ItemSnapshot] = field(default_factory=list)
    # A Reel's or video Story's video (None for other posts).
    video: VideoSnapshot | None = None
    # A carousel's video items: their videos by post_media id.
    item_videos: dict[int, VideoSnapshot] = field(default_factory=dict)
    # Graph calls the post may make in all its wake-ups (PUBLISH_MAX_GRAPH_CALLS).
    budget: int = 0
    calls: int = 0
    # Set by Leases.keep, spent by the next call.
    lease_kept: bool = False
    released: bool = False
    changes: dict = field(default_factory=dict)
    # Statements to commit together with the next save.
    pending: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.base_calls = self.post.graph_calls

    @property
    def is_carousel(self) -> bool:
        return self.post.media_type == "CAROUSEL"

    def file_names(self) -> list[str | None]:
        """The post's uploads: its items' images and its videos' files."""
        names = [item.filename for item in self.items]
        for video in [self.video, *self.item_videos.values()]:
            if video is not None:
                names += [video.filename, video.source]
        return names

    @property
    def cover(self) -> ItemSnapshot | None:
        """The first item: a single-image post's image."""
        return self.items[0] if self.items else None

    def call(self, method: str, *args, counted: bool = True, **kwargs):
        """Call ``method`` of the Graph client, counted against the post's budget.

        The step must have kept its lease just before (``Leases.keep``), so no
        other worker can take the post over while Meta is still answering.
        ``counted=False`` is for reads that verify whether a post went live:
        running out of budget must never stop that question being asked.
        """
        if not self.lease_kept:
            raise LeaseNotKept(method)
        if counted and self.base_calls + self.calls >= self.budget:
            raise BudgetExhausted
        self.lease_kept = False
        self.calls += 1 if counted else 0
        return getattr(self.client, method)(*args, **kwargs)
