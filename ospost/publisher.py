"""The publishing engine: every due post goes to Instagram once, on time.

The posts table is the source of truth. APScheduler date jobs are only wake-up
calls; each wake-up claims the post with a conditional UPDATE (so only one thread
in one process of one host works on it), does one step of the Graph API sequence,
saves what it learned at once, and schedules its next wake-up instead of sleeping:

    claim → stage image → create container → (status check ...) → media_publish
          → permalink (best effort) → clean up files

A periodic sweep catches any due post no job is handling (a crash, another
worker's restart), and start-up re-creates jobs from the database.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import hmac
import logging
import os
import random
import secrets
import socket
import threading
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from types import SimpleNamespace

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from models import Post
from models import PostStatus
from models import User
from models import db
from models import now_utc
from ospost import feed
from ospost.graph import ErrorKind
from ospost.graph import GraphClient
from ospost.graph import GraphError
from ospost.graph import GraphNetworkError
from ospost.storage import MediaStore

log = logging.getLogger(__name__)
POSTS = Post.__table__
USERS = User.__table__
# Meta suggests checking a container about once a minute at most.
MAX_CHECK_GAP = timedelta(seconds=60)

ACTIVE = (PostStatus.SCHEDULED, PostStatus.PUBLISHING)
REAUTH_REASON = (
    "Instagram disconnected Ospost from this account. Log in again to reconnect, "
    "then retry the post."
)


# -- statements ----------------------------------------------------------------
# Built once, as plain table statements run on pooled connections (not the ORM
# session): in a burst, building statements and the ORM's bookkeeping cost more
# CPU than the database did. Every UPDATE of a post also sets its updated_at
# (the column's onupdate), which is how the home grid notices engine changes.


def _claimable_now():
    """Due, not finished, and nobody holds a live lease (at ``:now``)."""
    now = bindparam("now", type_=POSTS.c.next_attempt_at.type)
    return (
        POSTS.c.status.in_(ACTIVE),
        POSTS.c.next_attempt_at <= now,
        or_(POSTS.c.lease_until.is_(None), POSTS.c.lease_until < now),
    )


_DUE = (
    select(POSTS.c.id)
    .where(*_claimable_now())
    .order_by(POSTS.c.next_attempt_at)
    .limit(500)
)
_IS_CLAIMABLE = select(POSTS.c.id).where(
    POSTS.c.id == bindparam("post_id"), *_claimable_now()
)
# RETURNING hands back the post as it is at the claim, in the same statement.
_CLAIM = (
    update(POSTS)
    .where(POSTS.c.id == bindparam("post_id"), *_claimable_now())
    .values(
        status=PostStatus.PUBLISHING,
        lease_until=bindparam("new_lease_until", type_=POSTS.c.lease_until.type),
        lease_owner=bindparam("new_lease_owner"),
    )
    .returning(*POSTS.c)
)
_USER = select(*USERS.c).where(USERS.c.id == bindparam("user_id"))
# The columns to set come with each call's parameters.
_SAVE = update(POSTS).where(
    POSTS.c.id == bindparam("where_post_id"),
    POSTS.c.lease_owner == bindparam("where_owner"),
    POSTS.c.status == PostStatus.PUBLISHING,
)
_RELEASE = (
    update(POSTS)
    .where(
        POSTS.c.id == bindparam("where_post_id"),
        POSTS.c.lease_owner == bindparam("where_owner"),
    )
    .values(lease_until=None, lease_owner=None)
)
_CLAIM_QUOTA_CHECK = (
    update(USERS)
    .where(
        USERS.c.id == bindparam("user_id"),
        or_(
            USERS.c.quota_checked_at.is_(None),
            USERS.c.quota_checked_at
            < bindparam("cutoff", type_=USERS.c.quota_checked_at.type),
        ),
    )
    .values(
        quota_checked_at=bindparam("checked_at", type_=USERS.c.quota_checked_at.type)
    )
)
_SET_QUOTA = (
    update(USERS)
    .where(USERS.c.id == bindparam("user_id"))
    .values(quota_usage=bindparam("usage"), quota_total=bindparam("total"))
)
_NEEDS_REAUTH = (
    update(USERS).where(USERS.c.id == bindparam("user_id")).values(needs_reauth=True)
)
_BUMP_QUOTA = (
    update(USERS)
    .where(USERS.c.id == bindparam("user_id"), USERS.c.quota_usage.is_not(None))
    .values(quota_usage=USERS.c.quota_usage + 1)
)


class Snapshot(SimpleNamespace):
    """A post's or user's columns as read when the post was claimed.

    Never flushed: every write goes through the lease-guarded ``_SAVE``.
    """


def _connect():
    """A pooled connection for one short transaction.

    The engine bypasses the ORM session: its begin/commit bookkeeping cost
    more CPU per step than the statements themselves.
    """
    return db.engine.connect()


@dataclass(frozen=True)
class Settings:
    """Timing knobs, read from the app config (defaults live in app.py; tests
    shrink them)."""

    lease: timedelta
    first_check: timedelta
    check_interval: timedelta
    check_timeout: timedelta
    backoff_base: float
    backoff_cap: float
    max_attempts: int
    max_graph_calls: int
    quota_wait: timedelta
    missed_window: timedelta
    sweep_interval: float
    threads: int
    call_timeout: timedelta
    # Not a setting: how long an account's quota reading is trusted.
    quota_cache: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if self.lease <= self.call_timeout:
            raise ValueError(
                "PUBLISH_LEASE_SECONDS must be longer than one Graph API call "
                f"can take ({self.call_timeout.total_seconds():g} s with GRAPH_TIMEOUT)"
            )

    @classmethod
    def from_config(cls, cfg) -> Settings:
        seconds = timedelta(seconds=1)
        timeout = cfg["GRAPH_TIMEOUT"]
        parts = timeout if isinstance(timeout, list | tuple) else [timeout]
        return cls(
            call_timeout=(sum(float(t) for t in parts) + 1) * seconds,
            lease=cfg["PUBLISH_LEASE_SECONDS"] * seconds,
            first_check=cfg["PUBLISH_FIRST_CHECK_SECONDS"] * seconds,
            check_interval=cfg["PUBLISH_CHECK_INTERVAL_SECONDS"] * seconds,
            check_timeout=cfg["PUBLISH_CHECK_TIMEOUT_SECONDS"] * seconds,
            backoff_base=float(cfg["PUBLISH_BACKOFF_BASE_SECONDS"]),
            backoff_cap=float(cfg["PUBLISH_BACKOFF_CAP_SECONDS"]),
            max_attempts=int(cfg["PUBLISH_MAX_ATTEMPTS"]),
            max_graph_calls=int(cfg["PUBLISH_MAX_GRAPH_CALLS"]),
            quota_wait=cfg["PUBLISH_QUOTA_WAIT_SECONDS"] * seconds,
            missed_window=cfg["PUBLISH_MISSED_WINDOW_HOURS"] * timedelta(hours=1),
            sweep_interval=float(cfg["PUBLISH_SWEEP_SECONDS"]),
            threads=int(cfg["PUBLISH_THREADS"]),
        )


class LostLease(Exception):
    """Another worker took the post over; stop touching it."""


class BudgetExhausted(Exception):
    """The post used every Graph call it is allowed."""


@dataclass
class Step:
    """What one wake-up knows while it holds the lease on a post."""

    post: Snapshot
    user: Snapshot
    token: str
    now: datetime
    calls: int = 0
    released: bool = False
    changes: dict = field(default_factory=dict)
    # Statements to commit together with the next save.
    pending: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.base_calls = self.post.graph_calls


class Publisher:
    """Owns the scheduler and moves posts through the publishing states."""

    def __init__(self) -> None:
        self.app = None
        self.scheduler: BackgroundScheduler | None = None
        self.owner = _owner_id()
        self.settings: Settings | None = None  # set by init_app
        self._lock = threading.Lock()
        self._local = threading.local()
        self._stopping = threading.Event()

    # -- wiring -----------------------------------------------------------------

    def init_app(self, app) -> None:
        self.app = app
        self.settings = Settings.from_config(app.config)
        app.extensions["publisher"] = self

    @property
    def store(self) -> MediaStore:
        return self.app.extensions["media_store"]

    def client(self) -> GraphClient:
        """This thread's Graph client; its HTTP session keeps connections open."""
        cfg = self.app.config
        timeout = cfg["GRAPH_TIMEOUT"]
        # (connect, read); a list when it came from OSPOST_GRAPH_TIMEOUT JSON.
        timeout = tuple(timeout) if isinstance(timeout, list) else timeout
        key = (cfg["FB_ENDPOINT"], cfg["FB_APP_ID"], cfg["FB_APP_SECRET"], timeout)
        clients = self._local.__dict__.setdefault("clients", {})
        if key not in clients:
            clients[key] = GraphClient(*key[:3], timeout=timeout)
        return clients[key]

    @property
    def running(self) -> bool:
        return self.scheduler is not None and self.scheduler.running

    def start(self) -> None:
        """Start the in-process scheduler and give every pending post its job back."""
        with self._lock:
            if self.running:
                return
            self.owner = _owner_id()
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
                .values(
                    Post.failed_values(
                        "Missed while the server was down. Reschedule it."
                    )
                )
            ).rowcount
            db.session.commit()
            if missed:
                log.warning("marked %d long-overdue posts as missed", missed)
            rows = db.session.execute(
                select(Post.id, Post.next_attempt_at).where(Post.status.in_(ACTIVE))
            ).all()
        for post_id, when in rows:
            self.wake(post_id, max(when or now, now))
        log.info("publisher %s started with %d pending posts", self.owner, len(rows))

    def sweep(self) -> None:
        """Wake up any due post that nothing in this process is handling."""
        with self.app.app_context():
            with _connect() as conn:
                due = conn.execute(_DUE, {"now": now_utc()}).scalars().all()
        for post_id in due:
            if not self.has_job(post_id):
                self.wake(post_id)

    # -- the engine -----------------------------------------------------------

    def publish_post(self, post_id: int) -> str | None:
        """Wake-up entry point: advance ``post_id`` one step if it is due.

        Returns the post's status afterwards, or None when another worker (or
        nobody: removed, edited to later, already done) owns it.
        """
        if self._stopping.is_set():
            return None
        with self.app.app_context():
            try:
                return self._advance(post_id)
            except LostLease:
                log.warning(
                    "post %s: lease lost to another worker",
                    post_id,
                    extra={"post_id": post_id},
                )
            except Exception:
                log.exception(
                    "post %s: unexpected error while publishing",
                    post_id,
                    extra={"post_id": post_id},
                )
        return None

    def _claim(self, post_id: int, now: datetime) -> tuple[Snapshot, Snapshot] | None:
        """Take the lease on ``post_id`` if it is due; returns the post and its user."""
        params = {"post_id": post_id, "now": now}
        with _connect() as conn:  # leaving it without commit() rolls back
            # A read first: on SQLite even an UPDATE that matches nothing takes
            # the write lock, and every worker wakes every post after a restart.
            if conn.execute(_IS_CLAIMABLE, params).first() is None:
                return None
            params.update(new_lease_until=now + self.settings.lease)
            params.update(new_lease_owner=self.owner)
            post = conn.execute(_CLAIM, params).first()
            if post is None:
                return None
            user = conn.execute(_USER, {"user_id": post.user_id}).first()
            conn.commit()  # hold no transaction while Meta answers
        return Snapshot(**post._mapping), Snapshot(**user._mapping)

    def _advance(self, post_id: int) -> str | None:
        now = now_utc()
        claimed = self._claim(post_id, now)
        if claimed is None:
            return None
        post, user = claimed
        step = Step(post=post, user=user, token=user.access_token or "", now=now)
        try:
            if user.needs_reauth or not user.access_token:
                self._finish_failed(step, REAUTH_REASON, code=190)
            else:
                self._run(step)
        except GraphError as exc:
            self._on_graph_error(step, exc)
        except BudgetExhausted:
            self._finish_failed(
                step, "Instagram kept failing; Ospost stopped after too many tries."
            )
        except FileNotFoundError:
            self._finish_failed(step, "The image file for this post is missing.")
        self._release(step)
        return step.changes.get("status", PostStatus.PUBLISHING)

    def _run(self, step: Step) -> None:
        post = step.post
        if post.ig_media_id:
            self._finalize(step, post.ig_media_id)
        elif post.container_id and self._known_ready(post):
            self._publish(step)
        elif post.container_id:
            self._check_container(step)
        else:
            self._create_container(step)

    @staticmethod
    def _known_ready(post: Post) -> bool:
        """Meta said the container is ready and no publish may be under way."""
        return (
            post.container_ready
            and post.publish_requested_at is None
            and not post.container_stale
        )

    # -- steps ----------------------------------------------------------------

    def _create_container(self, step: Step) -> None:
        post, user = step.post, step.user
        if self._quota_full(step):
            wait_until = step.now + self.settings.quota_wait
            self._save(
                step,
                final=True,
                next_attempt_at=wait_until,
                waiting_reason="Instagram's 24-hour publishing limit is reached; "
                "Ospost will try again automatically.",
            )
            return
        staged = self.store.stage(
            user.ig_account_id, post.filename, self.staged_name(post)
        )
        image_url = f"{self.app.config['APP_URL'].rstrip('/')}/static/tmp/{staged}"
        container_id = self._call(
            step,
            "create_container",
            user.ig_account_id,
            step.token,
            image_url=image_url,
            caption=post.caption,
            alt_text=post.alt_text,
        )
        self._save(
            step,
            final=True,
            staged_name=staged,
            container_id=container_id,
            container_created_at=now_utc(),
            containers_created=post.containers_created + 1,
            container_stale=False,
            container_ready=False,
            status_checks=0,
            publish_requested_at=None,
            next_attempt_at=now_utc() + self.settings.first_check,
            waiting_reason=None,
        )

    def staged_name(self, post: Post) -> str:
        """The public copy's name: unguessable, yet the same on every retry, so
        it need not be saved before the container is created."""
        if post.staged_name:
            return post.staged_name
        key = self.app.config["SECRET_KEY"].encode()
        msg = f"{post.id}:{post.filename}".encode()
        digest = hmac.new(key, msg, hashlib.sha256).digest()[:24]
        return base64.urlsafe_b64encode(digest).decode() + ".jpg"

    def _check_container(self, step: Step) -> None:
        post = step.post
        try:
            status, detail = self._call(
                step, "container_status", post.container_id, step.token
            )
        except GraphError as exc:
            if exc.kind is ErrorKind.TRANSIENT and self._may_try_publish(step):
                # Every call counts against the post's budget: rather than
                # check again, let media_publish say whether it is ready (9007).
                self._publish(step)
                return
            raise
        if status == "PUBLISHED":
            self._recover_published(step)
        elif post.container_stale:
            # Not live, but made for content the person has since changed.
            self._save(
                step,
                final=True,
                container_id=None,
                container_stale=False,
                next_attempt_at=now_utc(),
            )
        elif status == "FINISHED":
            self._publish(step)
        elif status == "IN_PROGRESS":
            # Waiting for Meta is not failing: these checks back off and are
            # bounded by check_timeout, not by the post's call budget.
            step.calls -= 1
            self._check_again(step, counted_check=True)
        else:
            why = " ".join(filter(None, [status, detail]))
            self._recreate_or_fail(
                step, f"Instagram could not process the image ({why})."
            )

    def _may_try_publish(self, step: Step) -> bool:
        post = step.post
        age = step.now - (post.container_created_at or step.now)
        return (
            post.publish_requested_at is None
            and not post.container_stale
            and age >= self.settings.first_check
        )

    def _check_again(self, step: Step, *, counted_check: bool = False) -> None:
        post = step.post
        age = step.now - (post.container_created_at or step.now)
        if age > self.settings.check_timeout:
            self._recreate_or_fail(
                step, "Instagram took too long to process the image."
            )
            return
        checks = post.status_checks + (1 if counted_check else 0)
        delay = min(self.settings.check_interval * 2 ** min(checks, 6), MAX_CHECK_GAP)
        self._save(
            step,
            final=True,
            status_checks=checks,
            next_attempt_at=now_utc() + delay,
        )

    def _recreate_or_fail(self, step: Step, reason: str) -> None:
        if step.post.containers_created < 2:
            self._save(step, final=True, container_id=None, next_attempt_at=now_utc())
        else:
            self._finish_failed(step, reason)

    def _publish(self, step: Step) -> None:
        post, user = step.post, step.user
        # Renew the lease first: nobody may claim the post while Meta decides.
        self._save(
            step,
            lease_until=now_utc() + self.settings.lease,
            publish_requested_at=now_utc(),
        )
        try:
            media_id = self._call(
                step, "publish", user.ig_account_id, step.token, post.container_id
            )
        except GraphError as exc:
            if exc.code is not None and not isinstance(exc, GraphNetworkError):
                # Meta answered with an error, so nothing went live: the next
                # attempt may publish again without checking the status first.
                self._save(
                    step,
                    publish_requested_at=None,
                    container_ready=exc.kind is not ErrorKind.NOT_READY,
                )
            raise
        # The quota count goes up in the same commit as the media id.
        step.pending.append((_BUMP_QUOTA, {"user_id": user.id}))
        self._save(step, ig_media_id=media_id)
        self._finalize(step, media_id)

    def _recover_published(self, step: Step) -> None:
        """The container is live though we never heard back: find it, never repost."""
        post, user = step.post, step.user
        media_id = None
        try:
            recent = self._call(step, "recent_media", user.ig_account_id, step.token)
            media_id = _match_media(recent, post)
        except (GraphError, BudgetExhausted):
            log.warning(
                "post %s: live, but its media id could not be found",
                post.id,
                extra={"post_id": post.id},
            )
        if media_id:
            self._save(step, ig_media_id=media_id)
        self._finalize(step, media_id)

    def _finalize(self, step: Step, media_id: str | None) -> None:
        post, user = step.post, step.user
        permalink = post.permalink
        if media_id and not permalink:
            try:
                body = self._call(step, "media", media_id, step.token)
                permalink = body.get("permalink")
            except (GraphError, BudgetExhausted) as exc:
                # The post is live; a missing link never makes it a failure.
                log.warning(
                    "post %s: permalink not read: %s",
                    post.id,
                    exc,
                    extra={"post_id": post.id},
                )
        self.store.unstage(self.staged_name(post))
        self.store.delete(user.ig_account_id, post.filename)
        self._save(
            step,
            final=True,
            **Post.published_values(now_utc()),
            permalink=permalink,
            filename=None,
            staged_name=None,
        )
        log.info(
            "post %s published as media %s",
            post.id,
            media_id,
            extra={"post_id": post.id, "ig_media_id": media_id},
        )
        feed.after_publish(user.id)  # the profile preview shows it from Instagram

    # -- errors -----------------------------------------------------------------

    def _on_graph_error(self, step: Step, exc: GraphError) -> None:
        kind = exc.kind
        post = step.post
        log.warning(
            "post %s: graph error kind=%s code=%s subcode=%s fbtrace_id=%s",
            post.id,
            kind,
            exc.code,
            exc.subcode,
            exc.fbtrace_id,
            extra={
                "post_id": post.id,
                "error_kind": str(kind),
                "meta_code": exc.code,
                "meta_subcode": exc.subcode,
                "fbtrace_id": exc.fbtrace_id,
            },
        )
        if kind is ErrorKind.REAUTH:
            step.pending.append((_NEEDS_REAUTH, {"user_id": step.user.id}))
            self._finish_failed(step, REAUTH_REASON, exc)
        elif kind is ErrorKind.QUOTA:
            self._save(
                step,
                final=True,
                next_attempt_at=now_utc() + self.settings.quota_wait,
                waiting_reason="Instagram's 24-hour publishing limit is reached; "
                "Ospost will try again automatically.",
            )
        elif kind is ErrorKind.NOT_READY:
            self._check_again(step)
        elif kind is ErrorKind.RECREATE:
            self._recreate_or_fail(step, exc.user_message())
        elif kind is ErrorKind.TRANSIENT:
            self._retry_later(step, exc)
        else:
            self._finish_failed(step, exc.user_message(), exc)

    def _retry_later(self, step: Step, exc: GraphError) -> None:
        attempts = step.post.attempts + 1
        if attempts >= self.settings.max_attempts:
            self._finish_failed(
                step, f"Instagram kept failing: {exc.user_message()}", exc
            )
            return
        delay = min(
            self.settings.backoff_cap,
            self.settings.backoff_base * 2 ** (attempts - 1),
        )
        delay *= random.uniform(0.5, 1.5)  # jitter spreads a burst of retries
        self._save(
            step,
            final=True,
            attempts=attempts,
            next_attempt_at=now_utc() + timedelta(seconds=delay),
            waiting_reason=f"Instagram had a problem; retry {attempts} is queued.",
        )

    def _finish_failed(
        self,
        step: Step,
        reason: str,
        exc: GraphError | None = None,
        *,
        code: int | None = None,
    ) -> None:
        # The public copy goes; the upload stays so the person can retry.
        self.store.unstage(self.staged_name(step.post))
        meta = (
            {"code": exc.code, "subcode": exc.subcode, "fbtrace_id": exc.fbtrace_id}
            if exc
            else {"code": code}
        )
        self._save(
            step, final=True, **Post.failed_values(reason, **meta), staged_name=None
        )

    # -- persistence ----------------------------------------------------------

    def _call(self, step: Step, method: str, *args, **kwargs):
        if step.base_calls + step.calls >= self.settings.max_graph_calls:
            raise BudgetExhausted
        # The lease must outlive the call, or another worker could take over
        # the post while Meta is still answering us.
        if step.post.lease_until < now_utc() + self.settings.call_timeout:
            self._save(step, lease_until=now_utc() + self.settings.lease)
        step.calls += 1
        return getattr(self.client(), method)(*args, **kwargs)

    def _save(self, step: Step, *, final: bool = False, **values) -> None:
        """Persist at once what this step learned, but only while we hold the lease.

        ``final`` marks the step's last write, which also gives the lease back
        (one commit instead of two).
        """
        if final:
            values.update(lease_until=None, lease_owner=None)
            step.released = True
        values["graph_calls"] = step.base_calls + step.calls
        values["updated_at"] = now_utc()
        with _connect() as conn:  # leaving it without commit() rolls back
            done = conn.execute(
                _SAVE,
                {"where_post_id": step.post.id, "where_owner": self.owner, **values},
            ).rowcount
            if done != 1:
                raise LostLease  # and the pending writes are not ours to make
            for statement, params in step.pending:
                conn.execute(statement, params)
            step.pending.clear()
            conn.commit()
        step.changes.update(values)
        for key, value in values.items():
            setattr(step.post, key, value)

    def _release(self, step: Step) -> None:
        """Give the lease back (if the last write did not) and book the next step."""
        if not step.released:
            with _connect() as conn:
                params = {"where_post_id": step.post.id, "where_owner": self.owner}
                conn.execute(_RELEASE, params)
                conn.commit()
        status = step.changes.get("status", PostStatus.PUBLISHING)
        when = step.changes.get("next_attempt_at")
        if status == PostStatus.PUBLISHING and when is not None:
            self.wake(step.post.id, when, followup=True)

    def _quota_full(self, step: Step) -> bool:
        """True when the account used its 24-hour publishing quota (as last read)."""
        user = step.user
        cutoff = step.now - self.settings.quota_cache
        stale = user.quota_checked_at is None or user.quota_checked_at < cutoff
        if stale and self._claim_quota_check(user, cutoff, step.now):
            self._refresh_quota(step)
        total, usage = user.quota_total or 0, user.quota_usage or 0
        return total > 0 and usage >= total

    @staticmethod
    def _claim_quota_check(user: Snapshot, cutoff: datetime, now: datetime) -> bool:
        """One post per account asks Meta; the others use what it stored."""
        params = {"user_id": user.id, "cutoff": cutoff, "checked_at": now}
        with _connect() as conn:
            won = conn.execute(_CLAIM_QUOTA_CHECK, params).rowcount
            conn.commit()
        return won == 1

    def _refresh_quota(self, step: Step) -> None:
        user = step.user
        try:
            usage, total = self._call(
                step, "publishing_limit", user.ig_account_id, step.token
            )
        except GraphError as exc:
            if exc.kind is ErrorKind.REAUTH:
                raise
            return  # Meta enforces the limit at media_publish anyway.
        params = {"user_id": user.id, "usage": usage, "total": total}
        with _connect() as conn:
            conn.execute(_SET_QUOTA, params)
            conn.commit()
        user.quota_usage, user.quota_total = usage, total


def _owner_id() -> str:
    """Names this process in leases, so a fork never shares its parent's name."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _match_media(recent: list[dict], post: Post) -> str | None:
    """Find our post among the account's newest media by caption and time."""
    since = (post.container_created_at or post.scheduled_at) - timedelta(minutes=5)
    for item in recent:
        if (item.get("caption") or "") != post.caption:
            continue
        stamp = _parse_meta_time(item.get("timestamp"))
        if stamp is None or stamp >= since:
            return str(item.get("id"))
    return None


def _parse_meta_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def due_filter(now: datetime):
    """Posts the engine should be working on at ``now`` (used by health checks)."""
    return and_(Post.status.in_(ACTIVE), Post.next_attempt_at <= now)


publisher = Publisher()
