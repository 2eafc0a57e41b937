"""What a wake-up does when a post cannot move forward yet, or ever.

Meta's errors are sorted by ``ospost.graph.classify``; this module turns each
kind into the person's experience: wait for the quota window, check a slow
container again, make a new container, retry with backoff, ask for a new
login, or stop with a reason the person can act on.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from sqlalchemy import bindparam
from sqlalchemy import update

from models import Post
from models import User
from models import now_utc
from ospost.engine.lease import Leases
from ospost.engine.settings import Settings
from ospost.engine.state import Step
from ospost.graph import ErrorKind
from ospost.graph import GraphError
from ospost.notify import events as notify
from ospost.storage import MediaStore
from ospost.storage import staged_names

log = logging.getLogger(__name__)
USERS = User.__table__
# Meta suggests checking a container about once a minute at most.
MAX_CHECK_GAP = timedelta(seconds=60)
REAUTH_REASON = (
    "Instagram disconnected Ospost from this account. Log in again to reconnect, "
    "then retry the post."
)
CHECKING_REASON = (
    "Checking with Instagram: the publish request may have gone through, so "
    "Ospost asks Instagram before doing anything else."
)
UNCONFIRMED_REASON = (
    "Instagram never confirmed whether this post went live. Check your profile "
    "before you retry it."
)
VIDEO_EXPIRED_REASON = (
    "Instagram was still processing the video after {hours} hours, when it "
    "discards an unpublished upload. Retry the post to send the video again."
)
QUOTA_REASON = (
    "Instagram's 24-hour publishing limit is reached; "
    "Ospost will try again automatically."
)

_NEEDS_REAUTH = (
    update(USERS).where(USERS.c.id == bindparam("user_id")).values(needs_reauth=True)
)


class ErrorPolicy:
    """Decides a post's next attempt, or its end, when a step cannot go on."""

    def __init__(self, app, settings: Settings, leases: Leases) -> None:
        self.app = app
        self.settings = settings
        self.leases = leases

    @property
    def store(self) -> MediaStore:
        return self.app.extensions["media_store"]

    def on_graph_error(self, step: Step, exc: GraphError) -> None:
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
        if post.may_be_live() and kind is not ErrorKind.REAUTH:
            # An answer that is not Meta's clear word on the container (a
            # malformed 400, a timeout, a rate limit) must not fail a post
            # that may be live.
            self.verify_later(step, exc)
        elif kind is ErrorKind.REAUTH:
            step.pending.append((_NEEDS_REAUTH, {"user_id": step.user.id}))
            step.pending.append(
                notify.pending(notify.needs_reauth(step.user, REAUTH_REASON))
            )
            self.fail(step, REAUTH_REASON, exc)
        elif kind is ErrorKind.QUOTA:
            self.wait_for_quota(step, now_utc() + self.settings.quota_wait)
        elif kind is ErrorKind.NOT_READY:
            self.check_again(step)
        elif kind is ErrorKind.RECREATE:
            self.recreate_or_fail(step, exc.user_message())
        elif kind is ErrorKind.TRANSIENT:
            self.retry_later(step, exc)
        else:
            self.fail(step, exc.user_message(), exc)

    def wait_for_quota(self, step: Step, until) -> None:
        self.leases.save(
            step, final=True, next_attempt_at=until, waiting_reason=QUOTA_REASON
        )

    def check_again(
        self, step: Step, *, counted_check: bool = False, since=None, video=False
    ) -> None:
        """Look at a container Meta is still processing later, backing off.

        ``since``: when the awaited container was made (default: the post's
        container; carousel items pass their own). ``video``: a carousel's
        video item is among those awaited (checked like a Reel's).
        """
        post = step.post
        age = step.now - (since or post.container_created_at or step.now)
        if post.post_type != "feed" or video:
            self._check_video_again(step, age, counted_check)
            return
        if age > self.settings.check_timeout:
            self.recreate_or_fail(step, "Instagram took too long to process the image.")
            return
        checks = post.status_checks + (1 if counted_check else 0)
        delay = min(self.settings.check_interval * 2 ** min(checks, 6), MAX_CHECK_GAP)
        self.leases.save(
            step,
            final=True,
            status_checks=checks,
            next_attempt_at=now_utc() + delay,
        )

    def _check_video_again(self, step: Step, age, counted_check: bool) -> None:
        """Meta takes minutes over a video: check with growing gaps (from
        PUBLISH_VIDEO_CHECK_SECONDS, doubling, at most the max gap) until Meta
        expires the container (24 h), then give up."""
        settings = self.settings
        if age > settings.video_container_ttl:
            hours = settings.video_container_ttl / timedelta(hours=1)
            self.fail(step, VIDEO_EXPIRED_REASON.format(hours=f"{hours:g}"))
            return
        checks = step.post.status_checks + (1 if counted_check else 0)
        gap = settings.video_check_interval * 2 ** min(max(checks - 1, 0), 10)
        self.leases.save(
            step,
            final=True,
            status_checks=checks,
            next_attempt_at=now_utc() + min(gap, settings.video_max_gap),
            waiting_reason="Instagram is processing the video.",
        )

    def recreate_or_fail(self, step: Step, reason: str) -> None:
        if step.post.containers_created < 2:
            self.leases.save(
                step, final=True, container_id=None, next_attempt_at=now_utc()
            )
        else:
            self.fail(step, reason)

    def verify_later(self, step: Step, exc: GraphError) -> None:
        """Ask Meta again, backing off, whether a possibly-published post is live."""
        post = step.post
        if step.now - post.publish_requested_at > self.settings.verify_window:
            self.fail(step, UNCONFIRMED_REASON, exc)
            return
        checks = post.status_checks + 1
        delay = min(self.settings.check_interval * 2 ** min(checks, 6), MAX_CHECK_GAP)
        delay *= random.uniform(0.8, 1.2)  # keep a burst of checks apart
        self.leases.save(
            step,
            final=True,
            status_checks=checks,
            next_attempt_at=now_utc() + delay,
            waiting_reason=CHECKING_REASON,
        )

    def retry_later(self, step: Step, exc: GraphError) -> None:
        what = (
            "Meta could not download the image"
            if exc.media_fetch_failed
            else ("Instagram had a problem")
        )
        self._back_off(step, what, f"Instagram kept failing: {exc.user_message()}", exc)

    def storage_failed(self, step: Step, exc: OSError) -> None:
        """The media storage (an S3 endpoint) did not answer: try again with
        backoff like a transient Meta error, and fail after as many tries."""
        log.warning("post %s: media storage failed: %s", step.post.id, exc)
        self._back_off(
            step,
            "Ospost's media storage did not answer",
            "Ospost's media storage kept failing; try again later.",
        )

    def _back_off(
        self, step: Step, what: str, give_up: str, exc: GraphError | None = None
    ) -> None:
        """Queue retry number ``attempts`` after a growing, jittered delay
        ("<what>; retry N is queued."), or fail with ``give_up`` after the last."""
        attempts = step.post.attempts + 1
        if attempts >= self.settings.max_attempts:
            self.fail(step, give_up, exc)
            return
        self.leases.save(
            step,
            final=True,
            attempts=attempts,
            next_attempt_at=now_utc() + self.settings.retry_delay(attempts),
            waiting_reason=f"{what}; retry {attempts} is queued.",
        )

    def fail(
        self,
        step: Step,
        reason: str,
        exc: GraphError | None = None,
        *,
        code: int | None = None,
    ) -> None:
        """Stop trying and tell the person why."""
        # The public copies go; the uploads stay so the person can retry.
        filenames = step.file_names()
        secret = self.app.config["SECRET_KEY"]
        for name in staged_names(step.post, filenames, secret):
            self.store.unstage(name)
        meta = (
            {"code": exc.code, "subcode": exc.subcode, "fbtrace_id": exc.fbtrace_id}
            if exc
            else {"code": code}
        )
        # The person is told through the outbox, in the commit that fails the post.
        occurrence = step.post.updated_at.isoformat()
        step.pending.append(
            notify.pending(notify.post_failed(step.post, reason, occurrence=occurrence))
        )
        self.leases.save(
            step, final=True, **Post.failed_values(reason, **meta), staged_name=None
        )
