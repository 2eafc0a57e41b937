"""Converting a Reel's or Story's video in the background, and restarting it.

The upload request stores the file and the rows (``ospost.reel_upload``) and
starts a conversion here; the request never waits for it. A conversion runs
in a thread of this process, which hands the work to the limited child
process of ``ospost.media.jobs`` (bounded slots, memory and time), in a work
folder of this host: ``ospost.media.workspace`` fetches the upload from the
media store (local folders or S3) and puts the MP4 back. It is
claimed with a lease on its ``post_videos`` row, renewed with each progress
report, so a server that dies mid-conversion leaves a lease that runs out and
another process (or this one after a restart) starts it again: the periodic
``resume`` job looks for those.

When it ends, the video is ready (the post's cover pictures are made from the
chosen frame unless the person uploaded one) or failed with a sentence to
show, and the publisher is woken: a post due meanwhile has been waiting for it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import timedelta

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
from ospost.engine.lease import new_owner
from ospost.media import jobs
from ospost.media import workspace
from ospost.media.covers import Cover
from ospost.media.jobs import Prepared
from ospost.media.specs import VideoRejected
from ospost.reel_models import PostVideo
from ospost.reel_models import VideoStatus

log = logging.getLogger(__name__)

VIDEOS = PostVideo.__table__
LEASE = timedelta(minutes=2)
# Progress is written at most this often (each write also renews the lease).
PROGRESS_EVERY = 1.0
RESUME_SECONDS = 30
CRASHED = "The conversion stopped unexpectedly. Upload the video again."


class Superseded(Exception):
    """The video was replaced (or its cover changed) while it converted: this
    run's result is no longer wanted, and a new run has the row."""


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
        """Convert ``post_id``'s video in a background thread."""
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
                select(VIDEOS.c.post_id).where(
                    VIDEOS.c.status == VideoStatus.CONVERTING,
                    or_(VIDEOS.c.job_until.is_(None), VIDEOS.c.job_until < now),
                )
            ).all()
            db.session.remove()
        post_ids = [row.post_id for row in rows]
        for post_id in post_ids:
            log.info("post %s: resuming its video conversion", post_id)
            self.start(post_id)
        return post_ids

    def run(self, post_id: int) -> None:
        """Claim and convert one video; never raises.

        Each run claims the row under its own name (``job_owner``): an edit
        that replaces the video clears it, so a run still going for the old
        video can neither report progress nor save its result over the new
        one, even in this same process.
        """
        run = f"{self.owner}:{secrets.token_hex(4)}"[-64:]  # the column's size
        with self.app.app_context():
            try:
                if self._claim(post_id, run):
                    self._convert(post_id, run)
            except Superseded:
                log.info("post %s: conversion superseded by an edit", post_id)
            except Exception:
                log.exception("post %s: video conversion crashed", post_id)
                self._finish(post_id, run, status=VideoStatus.FAILED, error=CRASHED)
            finally:
                db.session.remove()

    # -- one conversion ----------------------------------------------------------

    def _claim(self, post_id: int, run: str) -> bool:
        now = now_utc()
        done = db.session.execute(
            update(VIDEOS)
            .where(
                VIDEOS.c.post_id == post_id,
                VIDEOS.c.status == VideoStatus.CONVERTING,
                or_(VIDEOS.c.job_until.is_(None), VIDEOS.c.job_until < now),
            )
            .values(job_owner=run, job_until=now + LEASE)
        ).rowcount
        db.session.commit()
        return done == 1

    def _convert(self, post_id: int, run: str) -> None:
        video = db.session.execute(
            select(PostVideo).where(PostVideo.post_id == post_id)
        ).scalar_one()
        post = db.session.get(Post, post_id)
        store = current_app.extensions["media_store"]
        account = post.user.ig_account_id
        kind, fit = post.post_type, video.fit
        cover_ms = None if video.cover_uploaded else (video.thumb_offset_ms or 0)
        source = video.source
        if not source:
            raise FileNotFoundError("the upload is gone")
        name = f"{secrets.token_hex(16)}.mp4"
        db.session.commit()  # hold no transaction while converting
        prepared = self._make(
            post_id, run, (account, source, name), kind, fit=fit, cover_ms=cover_ms
        )
        if prepared is None:
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
        if not self._finish(post_id, run, cover=prepared.cover, **values):
            store.delete(account, name)  # the post went away meanwhile
            return
        store.delete(account, source)  # the converted video replaces it
        log.info(
            "post %s: video ready in %.1f s (%s)",
            post_id,
            prepared.seconds,
            "; ".join(prepared.changes) or "no changes",
        )

    def _make(
        self, post_id: int, run: str, files: tuple[str, str, str], kind: str, **options
    ) -> Prepared | None:
        """Convert the stored upload in a work folder of this host and store
        the MP4 as ``name``. None when the video was refused (the post's video
        has failed, with the reason) or the storage could not be read or
        written (our lease runs out and ``resume`` starts it again)."""
        store = current_app.extensions["media_store"]
        account, source, name = files
        with workspace.workspace() as folder:
            try:
                src = workspace.fetch(store, account, source, folder)
            except BlobNotFound:
                raise FileNotFoundError("the upload is gone") from None
            except OSError as exc:
                log.warning("post %s: upload not fetched (retried): %s", post_id, exc)
                return None
            try:
                report = self._reporter(post_id, run)
                prepared = jobs.prepare_video(
                    src, folder / name, kind, **options, progress=report
                )
            except VideoRejected as exc:
                log.info("post %s: video refused: %s", post_id, exc.reason)
                self._finish(post_id, run, status=VideoStatus.FAILED, error=exc.message)
                return None
            try:
                workspace.keep(store, account, name, prepared.path)
            except OSError as exc:
                store.delete(account, name)
                log.warning("post %s: video not stored (retried): %s", post_id, exc)
                return None
        return prepared

    def _reporter(self, post_id: int, run: str):
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
                        .where(VIDEOS.c.post_id == post_id, VIDEOS.c.job_owner == run)
                        .values(
                            progress=min(max(fraction, 0.0), 0.99),
                            job_until=now_utc() + LEASE,
                        )
                    ).rowcount
            except Exception:
                log.warning("post %s: progress not saved", post_id, exc_info=True)
                return
            if done == 0:
                raise Superseded(post_id)

        return report

    def _finish(
        self, post_id: int, run: str, *, cover: Cover | None = None, **values
    ) -> bool:
        """Record the end of a conversion we hold (with the new cover pictures)
        and wake the post; False when the post or our claim is gone."""
        db.session.rollback()
        post = db.session.get(Post, post_id)
        if post is None:
            return False
        old_files: list[str | None] = []
        new_files: list[str] = []
        store = current_app.extensions["media_store"]
        account = post.user.ig_account_id
        try:
            if cover is not None:
                new_files = list(store.save(account, cover.poster, cover.tile))
                item = post.writable_cover()
                old_files = [item.filename, item.thumbnail]
                item.filename, item.thumbnail = new_files
                post.updated_at = now_utc()  # the grid's cache sees the new tile
            done = db.session.execute(
                update(VIDEOS)
                .where(and_(VIDEOS.c.post_id == post_id, VIDEOS.c.job_owner == run))
                .values(job_owner=None, job_until=None, **values)
            ).rowcount
            if done != 1:
                raise LookupError("conversion claim lost")
            db.session.commit()
        except Exception:
            db.session.rollback()
            store.delete(account, *new_files)
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


conversions = Conversions()
