"""The home grid: a user's posts as tiles, rendered again only when they change.

Rendering 200 tiles costs about 50 ms of CPU, so every worker keeps the last
rendering per user and reuses it while the user's posts and display settings
are unchanged. Whether they changed is asked of the database on each request
(one aggregate query), so a change made by another worker, another host or the
publishing engine shows at once.

Below the scheduled tiles comes the account's Instagram feed as last read by
``ospost.feed`` (``home/_feed.html``), part of the same cached rendering: each
feed refresh bumps ``ig_profiles.version``, which the same query reads. A post
Ospost published shows once: in the feed when the feed has it, else among the
scheduled tiles.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from flask import Response
from flask import current_app
from flask import render_template
from flask import request
from markupsafe import Markup
from sqlalchemy import String
from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import cast
from sqlalchemy import func
from sqlalchemy import select

from models import FeedItem
from models import InstagramProfile
from models import Post
from models import PostStatus
from models import User
from models import db

PUBLISHED_ON_GRID = 30


# Where the tiles go in home/index.html. Anything a user typed is escaped on
# the page ("<" becomes "&lt;"), so only the template can produce this marker.
SLOT = "<!--ospost:grid-->"


@dataclass(frozen=True)
class Profile:
    """The account's Instagram header as of the grid's version (a plain copy,
    safe to keep in the cache and to render on every request)."""

    username: str
    name: str
    followers_count: int | None
    follows_count: int | None
    media_count: int | None
    refreshed_at: datetime | None
    attempted_at: datetime | None
    backoff_until: datetime | None
    problem: str | None
    feed_posts: int

    @classmethod
    def of(cls, row: InstagramProfile, feed_posts: int) -> Profile:
        return cls(
            username=row.username,
            name=row.name,
            followers_count=row.followers_count,
            follows_count=row.follows_count,
            media_count=row.media_count,
            refreshed_at=row.refreshed_at,
            attempted_at=row.attempted_at,
            backoff_until=row.backoff_until,
            problem=row.problem,
            feed_posts=feed_posts,
        )


@dataclass(frozen=True)
class Grid:
    """The rendered tiles (and alerts about them) with the counts the header shows.

    The tiles are kept encoded: the page is assembled from bytes, so a cache
    hit neither copies nor re-encodes the bulk of the page. ``profile`` is
    None until the account's feed was first read.
    """

    body: bytes
    upcoming: int
    published: int
    profile: Profile | None = None


class GridCache:
    """The latest rendering per user, within a memory budget (least recently
    used out first)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, tuple[tuple, Grid]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, user_id: int, version: tuple) -> Grid | None:
        with self._lock:
            entry = self._entries.get(user_id)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(user_id)
            return entry[1]

    def put(self, user_id: int, version: tuple, grid: Grid) -> None:
        if len(grid.body) > self.max_bytes:
            return
        with self._lock:
            self._drop(user_id)
            self._entries[user_id] = (version, grid)
            self._bytes += len(grid.body)
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def forget(self, user_id: int) -> None:
        with self._lock:
            self._drop(user_id)

    def _drop(self, user_id: int) -> None:
        entry = self._entries.pop(user_id, None)
        if entry is not None:
            self._bytes -= len(entry[1].body)


def grid_posts(user: User) -> tuple[list[Post], list[Post]]:
    """Upcoming posts (last to go out first) and the newest published ones that
    the cached Instagram feed does not show yet."""
    upcoming = db.session.scalars(
        select(Post)
        .where(
            Post.user_id == user.id,
            # Drafts are not going to Instagram: they sit on the calendar's shelf.
            Post.status.not_in((PostStatus.PUBLISHED, PostStatus.DRAFT)),
        )
        .order_by(Post.scheduled_at.desc(), Post.id.desc())
    ).all()
    in_feed = (
        select(FeedItem.id)
        .where(FeedItem.user_id == user.id, FeedItem.ig_media_id == Post.ig_media_id)
        .exists()
    )
    published = db.session.scalars(
        select(Post)
        .where(Post.user_id == user.id, Post.status == PostStatus.PUBLISHED, ~in_feed)
        .order_by(Post.published_at.desc())
        .limit(PUBLISHED_ON_GRID)
    ).all()
    return list(upcoming), list(published)


def feed_posts(user: User) -> list[FeedItem]:
    """The account's Instagram posts as last read, newest first."""
    return list(
        db.session.scalars(
            select(FeedItem)
            .where(FeedItem.user_id == user.id)
            .order_by(FeedItem.posted_at.desc(), FeedItem.id.desc())
        )
    )


def _version_query():
    stamp = cast(Post.updated_at, String)
    unpublished = case((Post.status != PostStatus.PUBLISHED, stamp))
    feed_version = (
        select(InstagramProfile.version)
        .where(InstagramProfile.user_id == bindparam("user_id"))
        .scalar_subquery()
    )
    return select(
        func.count(Post.id),
        func.max(Post.updated_at),
        func.aggregate_strings(unpublished, ","),
        feed_version,
    ).where(Post.user_id == bindparam("user_id"))


# Built once: constructing the statement cost more than running it.
_VERSION_QUERY = _version_query()


def grid_version(user: User) -> tuple:
    """What the user's grid looks like depends on, as one comparable value.

    Every write to a post sets its ``updated_at`` (ORM and Core updates alike).
    Posts that are not published yet are listed one by one (their
    ``updated_at``, to the microsecond), so any change to one of them changes
    the value whatever the clocks do. Published posts no longer change, only
    get removed, so their count and newest ``updated_at`` are enough and the
    query stays small for long histories. The feed part changes only through
    a refresh, which bumps the profile's ``version``.
    """
    row = db.session.execute(_VERSION_QUERY, {"user_id": user.id}).one()
    return (
        tuple(row),
        user.timezone,
        user.token_expires_at,
        request.script_root,
    )


def home_grid(user: User) -> Grid:
    """The user's tiles, from this worker's cache when nothing changed."""
    cache: GridCache = current_app.extensions["grid_cache"]
    version = grid_version(user)
    grid = cache.get(user.id, version)
    if grid is None:
        upcoming, published = grid_posts(user)
        row = db.session.get(InstagramProfile, user.id)
        feed = feed_posts(user) if row is not None else []
        profile = Profile.of(row, len(feed)) if row is not None else None
        html = render_template(
            "home/_grid.html", upcoming=upcoming, published=published
        ) + render_template("home/_feed.html", feed=feed, profile=profile)
        grid = Grid(html.encode(), len(upcoming), len(published), profile)
        # Each statement sees the latest commit: if a post changed between
        # reading the version and reading the posts, this rendering belongs to
        # no version, so it is shown but not kept.
        if grid_version(user) == version:
            cache.put(user.id, version, grid)
    return grid


def render_home(grid: Grid, **context) -> Response:
    """The home page with ``grid``'s tiles put in place."""
    page = render_template(
        "home/index.html", grid=grid, grid_slot=Markup(SLOT), **context
    )
    head, slot, tail = page.partition(SLOT)
    if not slot:
        raise RuntimeError("home/index.html lost its {{ grid_slot }}")
    return Response(
        b"".join((head.encode(), grid.body, tail.encode())), mimetype="text/html"
    )
