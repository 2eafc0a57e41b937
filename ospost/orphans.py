"""The orphan sweep: media files no row refers to any more are removed.

Deleting a post, an account or a data-deletion request removes its files at
once, but a step can be cut short between the database and the storage (a
process killed, S3 unreachable for a moment, an upload whose row never
committed). Every ``MEDIA_SWEEP_HOURS`` each process lists the storage (the
local folders or the bucket) and removes what is older than
``MEDIA_ORPHAN_HOURS`` and belongs to nothing:

- ``uploads/<ig>/<name>``: no post item has it as its image or thumbnail,
  and no post's video (``post_videos``) as its upload or converted MP4;
- ``uploads/<ig>/feed/<name>``: no feed item of that account shows it;
- ``tmp/<staged>``: no post being published right now uses that public copy
  (published and failed posts have had theirs removed already);
- ``VIDEO_WORK_FOLDER``'s job folders a killed process left behind (this
  host's own disk).

The age keeps a file safe while its request is still writing the row. Several
processes sweeping at once only remove the same files twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from flask import Flask
from sqlalchemy import or_
from sqlalchemy import select

from models import Post
from models import PostMedia
from models import PostStatus
from models import User
from models import db
from models import now_utc
from ospost.account_models import FeedItem
from ospost.blobstore import BlobInfo
from ospost.media import workspace
from ospost.reel_models import PostVideo
from ospost.storage import staged_names

log = logging.getLogger(__name__)
BATCH = 500


def schedule(app: Flask):
    """The ``publisher.jobs`` entry: adds the sweep to a starting scheduler."""

    def add_jobs(scheduler) -> None:
        hours = app.config["MEDIA_SWEEP_HOURS"]
        if not hours:
            return
        scheduler.add_job(
            sweep,
            "interval",
            args=(app,),
            hours=hours,
            jitter=600,  # hosts started together don't sweep together
            id="media-sweep",
            replace_existing=True,
            executor="sweep",
            max_instances=1,
        )

    return add_jobs


def sweep(app: Flask) -> int:
    """Remove every orphaned media file older than ``MEDIA_ORPHAN_HOURS``;
    returns how many went."""
    store = app.extensions["media_store"]
    cutoff = now_utc() - timedelta(hours=app.config["MEDIA_ORPHAN_HOURS"])
    removed = 0
    with app.app_context():
        try:
            for area, judge in (
                ("uploads/", _unused_uploads),
                ("tmp/", _unused_staged),
            ):
                old = (b for b in store.blobs.list(area) if b.modified < cutoff)
                for batch in _batches(old):
                    gone = judge(app, batch)
                    store.blobs.delete(*gone)
                    removed += len(gone)
        except OSError as exc:
            log.warning("media sweep stopped: %s (next round retries)", exc)
        finally:
            db.session.remove()
    workspace.sweep_leftovers(
        app.config["VIDEO_WORK_FOLDER"], app.config["MEDIA_ORPHAN_HOURS"] * 3600
    )
    if removed:
        log.info("media sweep removed %d orphaned files", removed)
    return removed


def _batches(blobs: Iterable[BlobInfo]):
    batch: list[BlobInfo] = []
    for blob in blobs:
        batch.append(blob)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _unused_uploads(app: Flask, batch: list[BlobInfo]) -> list[str]:
    """The keys in ``batch`` (``uploads/...``) that no row refers to."""
    owners: dict[str, tuple[str, str]] = {}  # key -> (ig account, name)
    feed: dict[str, tuple[str, str]] = {}
    stray = []
    for blob in batch:
        parts = blob.key.split("/")
        if len(parts) == 3:
            owners[blob.key] = (parts[1], parts[2])
        elif len(parts) == 4 and parts[2] == "feed":
            feed[blob.key] = (parts[1], parts[3])
        else:
            stray.append(blob.key)  # nothing of ours lives elsewhere
    used: set[tuple[str, str]] = set()
    names = [name for _, name in owners.values()]
    if names:
        rows = db.session.execute(
            select(User.ig_account_id, PostMedia.filename, PostMedia.thumbnail)
            .join(Post, Post.user_id == User.id)
            .join(PostMedia, PostMedia.post_id == Post.id)
            .where(or_(PostMedia.filename.in_(names), PostMedia.thumbnail.in_(names)))
        )
        for ig, filename, thumbnail in rows:
            used.update({(ig, filename), (ig, thumbnail)})
        rows = db.session.execute(
            select(User.ig_account_id, PostVideo.source, PostVideo.filename)
            .join(Post, Post.user_id == User.id)
            .join(PostVideo, PostVideo.post_id == Post.id)
            .where(or_(PostVideo.source.in_(names), PostVideo.filename.in_(names)))
        )
        for ig, source, filename in rows:
            used.update({(ig, source), (ig, filename)})
    shown: set[tuple[str, str]] = set()
    names = [name for _, name in feed.values()]
    if names:
        rows = db.session.execute(
            select(User.ig_account_id, FeedItem.thumbnail)
            .join(FeedItem, FeedItem.user_id == User.id)
            .where(FeedItem.thumbnail.in_(names))
        )
        shown = {(ig, name) for ig, name in rows}
    return (
        stray
        + [key for key, owner in owners.items() if owner not in used]
        + [key for key, owner in feed.items() if owner not in shown]
    )


def _unused_staged(app: Flask, batch: list[BlobInfo]) -> list[str]:
    """The public copies in ``batch`` no post being published uses."""
    secret = app.config["SECRET_KEY"]
    in_use = set()
    for post in db.session.scalars(
        select(Post).where(Post.status == PostStatus.PUBLISHING)
    ):
        in_use.update(staged_names(post, [m.filename for m in post.media], secret))
    return [b.key for b in batch if b.key.removeprefix("tmp/") not in in_use]
