"""Every due post is looked at on time, in whichever worker is running.

The posts table is the source of truth. APScheduler date jobs are only wake-up
calls, handed to the engine (``ospost.engine``), which claims the post, does one
step and books its next wake-up here. A periodic sweep catches any due post no
job is handling (a crash, another worker's restart).

Jobs are kept only for posts due within the horizon (``PUBLISH_HORIZON_SECONDS``,
an hour by default): start-up gives those their jobs back, and a periodic
horizon step gives later posts theirs as they come near. So a worker's start-up
time and memory follow how many posts are due soon, not the whole backlog.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from datetime import datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import and_
from sqlalchemy import bindparam
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

log = logging.getLogger(__name__)

# The sweep asks for the same posts a claim would take.
_DUE = (
    select(POSTS.c.id)
    .where(*claimable_now())
    .order_by(POSTS.c.next_attempt_at)
    .limit(500)
)
# Pending posts and when they are due. Range conditions on (status,
# next_attempt_at), which ix_posts_status_next_attempt_at answers without
# reading a post outside the range.
_PENDING = select(POSTS.c.id, POSTS.c.next_attempt_at, POSTS.c.status).where(
    POSTS.c.status.in_(ACTIVE)
)
_AT = POSTS.c.next_attempt_at.type
# Start-up: everything due before the horizon's end, overdue posts included.
_WITHIN_HORIZON = _PENDING.where(POSTS.c.next_attempt_at <= bindparam("until", _AT))
# The horizon step: what came within the horizon since the last step (due
# posts without a job are the sweep's).
_ENTERING_HORIZON = _WITHIN_HORIZON.where(
    POSTS.c.next_attempt_at > bindparam("since", _AT)
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
            if self.settings.horizon_step is not None:
                self.scheduler.add_job(
                    self.advance_horizon,
                    "interval",
                    seconds=self.settings.horizon_step.total_seconds(),
                    id="horizon",
                    replace_existing=True,
                    executor="sweep",
                    max_instances=1,
                )
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
        """Make sure this process looks at ``post_id`` at ``when`` (now if None).

        A post due beyond the horizon gets no job now: the horizon step gives it
        one when it comes near, and any job it had here goes (it would only wake
        the post at a time that no longer holds).
        """
        if not self.running:
            return
        when = when or now_utc()
        if self.beyond_horizon(when):
            self.cancel(post_id)
            return
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

    def beyond_horizon(self, when: datetime) -> bool:
        """True for a time too far ahead to hold a wake-up job for yet."""
        horizon = self.settings.horizon
        return horizon is not None and when > now_utc() + horizon

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
        """After a start: fail posts missed too long ago, and give every post due
        within the horizon its wake-up back (later ones wait for the horizon step).

        Two bounded statements, whatever the backlog: posts outside the horizon
        are never read.
        """
        started = time.perf_counter()
        with self.app.app_context():
            now = now_utc()
            missed = db.session.execute(
                update(Post)
                .where(
                    Post.status == PostStatus.SCHEDULED,
                    Post.next_attempt_at < now - self.settings.missed_window,
                )
                .values(
                    Post.failed_values(
                        "Missed while the server was down. Reschedule it."
                    )
                )
            ).rowcount
            db.session.commit()
            if missed:
                log.warning("marked %d long-overdue posts as missed", missed)
            horizon = self.settings.horizon
            with connect() as conn:
                if horizon is None:
                    rows = conn.execute(_PENDING).all()
                else:
                    rows = conn.execute(_WITHIN_HORIZON, {"until": now + horizon}).all()
        self._wake_rows(rows, now)
        log.info(
            "publisher %s started in %.3f s with %d wake-ups (posts due %s)",
            self.owner,
            time.perf_counter() - started,
            len(rows),
            "at any time" if horizon is None else f"within {horizon}",
        )

    def advance_horizon(self) -> None:
        """Give a wake-up to each post that came within the horizon since the
        last step, unless this process already has one for it."""
        now = now_utc()
        with self.app.app_context():
            with connect() as conn:
                rows = conn.execute(
                    _ENTERING_HORIZON,
                    {"since": now, "until": now + self.settings.horizon},
                ).all()
        self._wake_rows([row for row in rows if not self.has_job(row.id)], now)

    def _wake_rows(self, rows, now: datetime) -> None:
        for post_id, when, status in rows:
            # A post between steps (status check, publish) is a follow-up: it
            # must not queue behind new containers.
            followup = status == PostStatus.PUBLISHING
            self.wake(post_id, max(when or now, now), followup=followup)

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
