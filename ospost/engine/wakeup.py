"""One wake-up of one post: claim it, run its step, book the next wake-up."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from models import PostStatus
from models import now_utc
from ospost.blobstore import BlobError
from ospost.engine.carousel import item_videos
from ospost.engine.lease import Leases
from ospost.engine.lease import LostLease
from ospost.engine.policy import ErrorPolicy
from ospost.engine.quota import Quota
from ospost.engine.settings import Settings
from ospost.engine.state import BudgetExhausted
from ospost.engine.state import Step
from ospost.engine.steps import Steps
from ospost.engine.steps import call_budget
from ospost.engine.steps import next_step
from ospost.graph import GraphError
from ospost.graph import client_for

log = logging.getLogger(__name__)


class Engine:
    """Advances a post one step each time the scheduler wakes it."""

    def __init__(
        self,
        app,
        settings: Settings,
        wake: Callable[..., None],
    ) -> None:
        self.app = app
        self.settings = settings
        # The scheduler's wake(post_id, when, followup=True): books the next step.
        self._wake = wake
        self.leases = Leases(settings)
        self.quota = Quota(settings, self.leases)
        self.policy = ErrorPolicy(app, settings, self.leases)
        self.steps = Steps(app, settings, self.leases, self.quota, self.policy)

    def publish_post(self, post_id: int) -> str | None:
        """Advance ``post_id`` one step if it is due.

        Returns the post's status afterwards, or None when another worker (or
        nobody: removed, edited to later, already done) owns it.
        """
        with self.app.app_context():
            try:
                return self.advance(post_id)
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

    def advance(self, post_id: int) -> str | None:
        """Claim the post, run the step the table picks for it (``steps.STEPS``),
        give the lease back and book the next wake-up."""
        now = now_utc()
        claimed = self.leases.claim(post_id, now)
        if claimed is None:
            return None
        post, user, items = claimed
        step = Step(
            post=post,
            user=user,
            token=user.access_token or "",
            now=now,
            client=client_for(self.app.config),
            budget=call_budget(self.settings, post, items),
            items=items,
        )
        if post.post_type != "feed":
            step.video = self.leases.video(post.id)
        elif step.is_carousel:
            step.item_videos = item_videos(post.id)
        rule = next_step(post, user, items)
        log.debug("post %s: %s", post.id, rule.name, extra={"post_id": post.id})
        try:
            rule.action(self.steps, step)
        except GraphError as exc:
            self.policy.on_graph_error(step, exc)
        except BudgetExhausted:
            self.policy.fail(
                step, "Instagram kept failing; Ospost stopped after too many tries."
            )
        except FileNotFoundError:
            what = "video" if step.video is not None else "image"
            self.policy.fail(step, f"The {what} file for this post is missing.")
        except BlobError as exc:
            self.policy.storage_failed(step, exc)
        self.leases.release(step)
        self._book_next(step)
        return step.changes.get("status", PostStatus.PUBLISHING)

    def _book_next(self, step: Step) -> None:
        """Wake the post again when the step saved a time for its next step."""
        status = step.changes.get("status", PostStatus.PUBLISHING)
        when: datetime | None = step.changes.get("next_attempt_at")
        if status == PostStatus.PUBLISHING and when is not None:
            self._wake(step.post.id, when, followup=True)
