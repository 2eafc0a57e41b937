"""Converting a post's videos in the background, and restarting them.

A post has one video (a Reel's or Story's) or one per video item of a
carousel, each converted to what Instagram takes for it: 9:16 for Reels and
Stories, the carousel's shape (its first item's, which Instagram crops every
item to) for a carousel's, padded or cropped as the person chose. A post's
videos are converted one after another in the thread started for it.

The upload request stores the file and the rows (``ospost.reel_upload``) and
starts a conversion here; the request never waits for it. A conversion runs
in a thread of this process, which hands the work to the limited child
process of ``ospost.media.jobs`` (bounded slots, memory and time), in a work
folder of this host: ``ospost.media.workspace`` fetches the upload from the
media store (local folders or S3) and puts the MP4 back. Each is
claimed with a lease on its ``post_videos`` row, renewed with each progress
report, so a server that dies mid-conversion leaves a lease that runs out and
another process (or this one after a restart) starts it again: the periodic
``resume`` job looks for those.

When it ends, the video is ready (the post's cover pictures are made from the
chosen frame unless the person uploaded one) or failed with a sentence to
show, and the publisher is woken: a post due meanwhile has been waiting for it.

When the media storage cannot be read or written, the conversion is tried
again after the publishing engine's growing, jittered delay
(``Settings.retry_delay``), and after ``PUBLISH_MAX_ATTEMPTS`` tries the video
fails, and with it the post (the owner is told, as for any failed post).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction

from flask import current_app
from sqlalchemy import and_
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from models import Post
from models import PostStatus
from models import db
from models import now_utc
from ospost.blobstore import BlobNotFound
from ospost.engine.lease import ACTIVE
from ospost.engine.lease import new_owner
from ospost.engine.settings import Settings
from ospost.media import jobs
from ospost.media import workspace
from ospost.media.jobs import Prepared
from ospost.media.specs import VideoRejected
from ospost.notify import events as notify
from ospost.reel_models import PostVideo
from ospost.reel_models import VideoStatus

log = logging.getLogger(__name__)

VIDEOS = PostVideo.__table__
LEASE = timedelta(minutes=2)
# Progress is written at most this often (each write also renews the lease).
PROGRESS_EVERY = 1.0
RESUME_SECONDS = 30
CRASHED = "The conversion stopped unexpectedly. Upload the video again."
STORAGE_RETRY = (
    "Ospost's media storage did not answer; converting again shortly "
    "(try {tries} of {limit})."
)
STORAGE_GAVE_UP = (
    "Ospost's media storage kept failing ({tries} tries), so the video could "
    "not be kept. Upload the video again."
)
VIDEO_FAILED = "The video could not be converted: {error}"


class Superseded(Exception):
    """The video was replaced (or its cover changed) while it converted: this
    run's result is no longer wanted, and a new run has the row."""


@dataclass(frozen=True)
class Run:
    """One conversion of one video, claimed under its own ``name``.

    Each run holds the row under a name of its own (``job_owner``): an edit
    that replaces the video clears it, so a run still going for the old video
    can neither report progress nor save its result over the new one, even
    in this same process.
    """

    post_id: int
    video_id: int
    name: str

    def holds(self):
        """The condition that this run still holds its video's row."""
        return and_(VIDEOS.c.id == self.video_id, VIDEOS.c.job_owner == self.name)


class Conversions:
    """Starts, tracks and resumes this process's video conversions."""

    def __init__(self) -> None:
        self.owner = new_owner()
        self.app = None
        self._running: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def init_app(self, app) -> None:
        self.app = app
        app.extensions["video_conversions"] = self
        from ospost.scheduler import publisher

        publisher.jobs["video-resume"] = self.schedule

    def schedule(self, scheduler) -> None:
        """Look for conversions a dead process left behind, now and every 30 s."""
        scheduler.add_job(
            self.resume,
            "interval",
            seconds=RESUME_SECONDS,
            id="video-resume",
            replace_existing=True,
            executor="sweep",
            max_instances=1,
            next_run_time=now_utc(),
        )

    def start(self, post_id: int) -> threading.Thread:
        """Convert ``post_id``'s videos in a background thread."""
        thread = threading.Thread(
            target=self._run_tracked,
            args=(post_id,),
            name=f"video-{post_id}",
            daemon=True,
        )
        with self._lock:
            self._running.add(thread)
        thread.start()
        return thread

    def _run_tracked(self, post_id: int) -> None:
        try:
            self.run(post_id)
        finally:
            with self._lock:
                self._running.discard(threading.current_thread())

    def wait(self, timeout: float = 30.0) -> None:
        """Let running conversions finish (a shutdown, or the end of a test,
        before the database they write to goes away)."""
        with self._lock:
            running = list(self._running)
        for thread in running:
            thread.join(timeout)

    def resume(self) -> list[int]:
        """Start every conversion nobody holds (a crash, a restart)."""
        with self.app.app_context():
            now = now_utc()
            rows = db.session.execute(
                select(VIDEOS.c.post_id)
                .where(
                    VIDEOS.c.status == VideoStatus.CONVERTING,
                    or_(VIDEOS.c.job_until.is_(None), VIDEOS.c.job_until < now),
                )
                .distinct()
            ).all()
            db.session.remove()
        post_ids = [row.post_id for row in rows]
        for post_id in post_ids:
            log.info("post %s: resuming its video conversion", post_id)
            self.start(post_id)
        return post_ids

    def run(self, post_id: int) -> None:
        """Claim and convert the post's videos nobody is converting, one after
        another; never raises."""
        with self.app.app_context():
            try:
                for video_id in self._waiting(post_id):
                    self._run_one(post_id, video_id)
            finally:
                db.session.remove()

    def _waiting(self, post_id: int) -> list[int]:
        video_ids = db.session.scalars(
            select(VIDEOS.c.id)
            .where(
                VIDEOS.c.post_id == post_id, VIDEOS.c.status == VideoStatus.CONVERTING
            )
            .order_by(VIDEOS.c.id)
        ).all()
        db.session.rollback()
        return list(video_ids)

    def _run_one(self, post_id: int, video_id: int) -> None:
        run = Run(post_id, video_id, f"{self.owner}:{secrets.token_hex(4)}"[-64:])
        try:
            if self._claim(run):
                self._convert(run)
        except Superseded:
            log.info("post %s: conversion superseded by an edit", post_id)
        except Exception:
            log.exception("post %s: video conversion crashed", post_id)
            self._finish(run, status=VideoStatus.FAILED, error=CRASHED)

    # -- one conversion ----------------------------------------------------------

    def _claim(self, run: Run) -> bool:
        now = now_utc()
        done = db.session.execute(
            update(VIDEOS)
            .where(
                VIDEOS.c.id == run.video_id,
                VIDEOS.c.status == VideoStatus.CONVERTING,
                or_(VIDEOS.c.job_until.is_(None), VIDEOS.c.job_until < now),
            )
            .values(job_owner=run.name, job_until=now + LEASE)
        ).rowcount
        db.session.commit()
        return done == 1

    def _convert(self, run: Run) -> None:
        video = db.session.get(PostVideo, run.video_id)
        post = db.session.get(Post, run.post_id)
        store = current_app.extensions["media_store"]
        account = post.user.ig_account_id
        options = {
            "fit": video.fit,
            "cover_ms": None if video.cover_uploaded else (video.thumb_offset_ms or 0),
        }
        kind = post.post_type
        if video.post_media_id is not None:  # a carousel item: the carousel's shape
            kind, options["ratio"] = "carousel", carousel_ratio(post)
        source = video.source
        if not source:
            raise FileNotFoundError("the upload is gone")
        name = f"{secrets.token_hex(16)}.mp4"
        db.session.commit()  # hold no transaction while converting
        prepared = self._make(run, (account, source, name), kind, **options)
        if prepared is None:
            return
        cover_files: list[str] = []
        if prepared.cover is not None:
            try:
                cover = prepared.cover
                cover_files = list(store.save(account, cover.poster, cover.tile))
            except OSError as exc:
                store.delete(account, name)
                self._storage_failed(run, exc)
                return
        out = prepared.output
        values = {
            "filename": name,
            "source": None,
            "status": VideoStatus.READY,
            "progress": 1.0,
            "error": None,
            "changes": list(prepared.changes),
            "duration_ms": round(out.duration * 1000),
            "width": out.width,
            "height": out.height,
        }
        if prepared.cover is not None:
            values["thumb_offset_ms"] = prepared.cover.offset_ms
        if not self._finish(run, cover_files=cover_files, **values):
            store.delete(account, name, *cover_files)  # the post went away
            return
        store.delete(account, source)  # the converted video replaces it
        log.info(
            "post %s: video ready in %.1f s (%s)",
            run.post_id,
            prepared.seconds,
            "; ".join(prepared.changes) or "no changes",
        )

    def _make(
        self, run: Run, files: tuple[str, str, str], kind: str, **options
    ) -> Prepared | None:
        """Convert the stored upload in a work folder of this host and store
        the MP4 as ``name``. None when the video was refused (the post's video
        has failed, with the reason) or the storage could not be read or
        written (tried again later, a bounded number of times)."""
        store = current_app.extensions["media_store"]
        account, source, name = files
        with workspace.workspace() as folder:
            try:
                src = workspace.fetch(store, account, source, folder)
            except BlobNotFound:
                raise FileNotFoundError("the upload is gone") from None
            except OSError as exc:
                self._storage_failed(run, exc)
                return None
            try:
                report = self._reporter(run)
                prepared = jobs.prepare_video(
                    src, folder / name, kind, **options, progress=report
                )
            except VideoRejected as exc:
                log.info("post %s: video refused: %s", run.post_id, exc.reason)
                self._finish(run, status=VideoStatus.FAILED, error=exc.message)
                return None
            try:
                workspace.keep(store, account, name, prepared.path)
            except OSError as exc:
                store.delete(account, name)
                self._storage_failed(run, exc)
                return None
        return prepared

    def _reporter(self, run: Run):
        """A progress callback that writes at most once a second, renewing the
        lease each time; it stops the conversion (``Superseded``) once an edit
        took the row from this run, and never fails it otherwise."""
        last = [0.0]

        def report(fraction: float) -> None:
            if time.monotonic() - last[0] < PROGRESS_EVERY:
                return
            last[0] = time.monotonic()
            try:
                with db.engine.begin() as conn:
                    done = conn.execute(
                        update(VIDEOS)
                        .where(run.holds())
                        .values(
                            progress=min(max(fraction, 0.0), 0.99),
                            job_until=now_utc() + LEASE,
                        )
                    ).rowcount
            except Exception:
                log.warning("video %s: progress not saved", run.video_id, exc_info=True)
                return
            if done == 0:
                raise Superseded(run.video_id)

        return report

    def _storage_failed(self, run: Run, exc: OSError) -> None:
        """The media storage could not be read or written: give the claim
        back until a growing, jittered delay has passed (the engine's
        ``retry_delay``; ``resume`` starts it then), or after the engine's
        ``PUBLISH_MAX_ATTEMPTS`` tries fail the video and its post."""
        settings = Settings.from_config(self.app.config)
        db.session.rollback()
        tries = 1 + (
            db.session.scalar(
                select(VIDEOS.c.storage_failures).where(VIDEOS.c.id == run.video_id)
            )
            or 0
        )
        log.warning(
            "video %s: media storage failed during its conversion (try %d of %d): %s",
            run.video_id,
            tries,
            settings.max_attempts,
            exc,
        )
        if tries >= settings.max_attempts:
            reason = STORAGE_GAVE_UP.format(tries=tries)
            self._finish(
                run,
                fail_post=VIDEO_FAILED.format(error=reason),
                status=VideoStatus.FAILED,
                error=reason,
                storage_failures=tries,
            )
            return
        note = STORAGE_RETRY.format(tries=tries + 1, limit=settings.max_attempts)
        db.session.execute(
            update(VIDEOS)
            .where(run.holds())
            .values(
                job_owner=None,
                job_until=now_utc() + settings.retry_delay(tries),
                storage_failures=tries,
                error=note,
            )
        )
        db.session.commit()

    def _finish(
        self,
        run: Run,
        *,
        cover_files: list[str] | None = None,
        fail_post: str | None = None,
        **values,
    ) -> bool:
        """Record the end of a conversion we hold (with the new cover pictures,
        already stored: the post's, or its carousel item's) and wake the post;
        False when the post, the item or our claim is gone. ``fail_post``: also
        fail the scheduled post with this reason (and tell its owner) unless a
        publishing step holds it, which then finds the failed video and fails
        the post itself."""
        db.session.rollback()
        video = db.session.get(PostVideo, run.video_id)
        if video is None:
            return False
        post, post_id = video.post, video.post_id
        old_files: list[str | None] = []
        store = current_app.extensions["media_store"]
        account = post.user.ig_account_id
        try:
            if cover_files:
                item = video.item or post.writable_cover()
                old_files = [item.filename, item.thumbnail]
                item.filename, item.thumbnail = cover_files
                if video.item is not None:  # the poster has the video's size
                    item.width, item.height = values["width"], values["height"]
                post.updated_at = now_utc()  # the grid's cache sees the new tile
            done = db.session.execute(
                update(VIDEOS)
                .where(run.holds())
                .values(job_owner=None, job_until=None, **values)
            ).rowcount
            if done != 1:
                raise LookupError("conversion claim lost")
            if fail_post:
                _fail_post(post_id, fail_post)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.warning("post %s: conversion result not saved", post_id, exc_info=True)
            return False
        store.delete(account, *old_files)
        # Read the post's time only now, just before waking it: a "Post now"
        # made while the old files were being deleted must not be moved back
        # to the time read before the commit (or cancelled, beyond the horizon).
        wake_at = db.session.scalar(
            select(Post.next_attempt_at).where(
                Post.id == post_id, Post.status == PostStatus.SCHEDULED
            )
        )
        db.session.rollback()
        if wake_at is not None:
            from ospost.scheduler import publisher

            publisher.wake(post_id, max(wake_at, now_utc()))
        return True


def carousel_ratio(post: Post) -> Fraction:
    """The shape of a carousel's videos: its first item's (Instagram crops
    every item to it; a video item's poster was made in that shape)."""
    first = post.media[0]
    return Fraction(first.width, first.height)


conversions = Conversions()


def _fail_post(post_id: int, reason: str) -> None:
    """Fail a post that is scheduled (or claimed and waiting for its video),
    has asked Meta for nothing and is held by no publishing step now,
    recording its owner's "post failed" notice in the same transaction."""
    now = now_utc()
    rows = db.session.execute(
        update(Post)
        .where(
            Post.id == post_id,
            Post.status.in_(ACTIVE),
            Post.container_id.is_(None),
            Post.publish_requested_at.is_(None),
            or_(Post.lease_until.is_(None), Post.lease_until < now),
        )
        .values(Post.failed_values(reason))
        .returning(Post.id, Post.user_id, Post.caption, Post.scheduled_at)
    ).all()
    notify.record(
        db.session,
        *(
            notify.post_failed(row, reason, occurrence=f"video:{now.isoformat()}")
            for row in rows
        ),
    )
