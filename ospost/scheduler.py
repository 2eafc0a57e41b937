"""Every due post is looked at on time, in whichever worker is running.

The posts table is the source of truth. APScheduler date jobs are only wake-up
calls, handed to the engine (``ospost.engine``), which claims the post, does one
step and books its next wake-up here. A periodic sweep catches any due post no
job is handling (a crash, another worker's restart), and start-up re-creates
jobs from the database.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import and_
from sqlalchemy import select
from sqlalchemy import update

from models import Post
from models import PostStatus
from models import db
from models import now_utc
from ospost.engine import Engine
from ospost.engine import Settings
from ospost.engine.lease import ACTIVE
from ospost.engine.lease import POSTS
from ospost.engine.lease import claimable_now
from ospost.engine.lease import connect
from ospost.notify import events as notify_events

log = logging.getLogger(__name__)
MISSED_REASON = "Missed while the server was down. Reschedule it."

# The sweep asks for the same posts a claim would take.
_DUE = (
    select(POSTS.c.id)
    .where(*claimable_now())
    .order_by(POSTS.c.next_attempt_at)
    .limit(500)
)


class Scheduler:
    """Owns this process's APScheduler and wakes posts for the engine."""

    def __init__(self) -> None:
        self.app = None
        self.scheduler: BackgroundScheduler | None = None
        self.settings: Settings | None = None  # set by init_app
        self.engine: Engine | None = None  # set by init_app
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # Other periodic work (name -> add_jobs(scheduler)), added at each start.
        self.jobs: dict[str, Callable[[BackgroundScheduler], None]] = {}

    # -- wiring -----------------------------------------------------------------

    def init_app(self, app) -> None:
        self.app = app
        self.settings = Settings.from_config(app.config)
        self.engine = Engine(app, self.settings, wake=self.wake)
        app.extensions["publisher"] = self

    @property
    def owner(self) -> str:
        """This process's name in the leases it takes."""
        return self.engine.leases.owner

    @property
    def running(self) -> bool:
        return self.scheduler is not None and self.scheduler.running

    def start(self) -> None:
        """Start the in-process scheduler and give every pending post its job back."""
        with self._lock:
            if self.running:
                return
            self.engine.leases.rename()
            self._stopping.clear()
            self.scheduler = BackgroundScheduler(
                timezone="UTC",
                # Follow-up steps (status check, publish) get their own threads so
                # a burst of due posts never queues them behind new containers.
                executors={
                    "default": ThreadPoolExecutor(self.settings.threads),
                    "followup": ThreadPoolExecutor(self.settings.threads),
                    "sweep": ThreadPoolExecutor(1),
                },
                # Never drop a late job: the database decides, a job only wakes us.
                job_defaults={
                    "misfire_grace_time": None,
                    "coalesce": True,
                    "max_instances": 4,
                },
            )
            self.scheduler.add_job(
                self.sweep,
                "interval",
                seconds=self.settings.sweep_interval,
                id="sweep",
                replace_existing=True,
                executor="sweep",  # never queued behind busy publishing threads
                max_instances=1,
            )
            for add_jobs in self.jobs.values():
                add_jobs(self.scheduler)
            self.scheduler.start()
            atexit.register(self.shutdown, wait=False)
        self.recover()

    def shutdown(self, wait: bool = True) -> None:
        """Stop waking posts; queued wake-ups return at once, leases expire."""
        self._stopping.set()
        with self._lock:
            if self.running:
                self.scheduler.shutdown(wait=wait)
            self.scheduler = None

    # -- wake-ups -------------------------------------------------------------

    def wake(
        self, post_id: int, when: datetime | None = None, *, followup: bool = False
    ) -> None:
        """Make sure this process looks at ``post_id`` at ``when`` (now if None)."""
        if not self.running:
            return
        when = when or now_utc()
        executor = "followup" if followup else "default"
        job_id = f"post-{post_id}"
        try:
            # Moving an existing job is several times cheaper than replacing
            # it, which matters when a reorder moves 200 of them.
            self.scheduler.modify_job(job_id, next_run_time=when, executor=executor)
        except JobLookupError:
            self.scheduler.add_job(
                self.publish_post,
                "date",
                run_date=when,
                args=[post_id],
                id=job_id,
                replace_existing=True,
                executor=executor,
            )

    def cancel(self, post_id: int) -> None:
        """Forget this process's wake-up for a removed or rescheduled post."""
        if not self.running:
            return
        try:
            self.scheduler.remove_job(f"post-{post_id}")
        except JobLookupError:
            pass

    def has_job(self, post_id: int) -> bool:
        return self.running and self.scheduler.get_job(f"post-{post_id}") is not None

    def publish_post(self, post_id: int) -> str | None:
        """Wake-up job: let the engine advance ``post_id`` one step if it is due.

        Returns the post's status afterwards, or None when another worker (or
        nobody: removed, edited to later, already done) owns it.
        """
        if self._stopping.is_set():
            return None
        return self.engine.publish_post(post_id)

    def recover(self) -> None:
        """After a start: fail posts missed too long ago, wake up all the others."""
        with self.app.app_context():
            now = now_utc()
            missed = db.session.execute(
                update(Post)
                .where(
                    Post.status == PostStatus.SCHEDULED,
                    Post.next_attempt_at < now - self.settings.missed_window,
                )
                .values(Post.failed_values(MISSED_REASON))
                .returning(Post.id, Post.user_id, Post.caption, Post.scheduled_at)
            ).all()
            # The failure notices commit with the failures (notification outbox).
            notify_events.record(
                db.session,
                *(
                    notify_events.post_failed(
                        row, MISSED_REASON, occurrence=f"missed:{row.scheduled_at}"
                    )
                    for row in missed
                ),
            )
            db.session.commit()
            if missed:
                log.warning("marked %d long-overdue posts as missed", len(missed))
            rows = db.session.execute(
                select(Post.id, Post.next_attempt_at).where(Post.status.in_(ACTIVE))
            ).all()
        for post_id, when in rows:
            self.wake(post_id, max(when or now, now))
        log.info("publisher %s started with %d pending posts", self.owner, len(rows))

    def sweep(self) -> None:
        """Wake up any due post that nothing in this process is handling."""
        with self.app.app_context():
            with connect() as conn:
                due = conn.execute(_DUE, {"now": now_utc()}).scalars().all()
        for post_id in due:
            if not self.has_job(post_id):
                self.wake(post_id)


def due_filter(now: datetime):
    """Posts the engine should be working on at ``now`` (used by health checks)."""
    return and_(Post.status.in_(ACTIVE), Post.next_attempt_at <= now)


# The app's one scheduler: routes wake and cancel posts through it.
publisher = Scheduler()
