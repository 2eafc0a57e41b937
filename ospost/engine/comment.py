"""The first comment: posted once the media is live, never twice, never fatal.

``POST /{media-id}/comments`` (shared/docs/graph-api.md §7.5). Before the
request the step saves ``comment_requested_at``; while it is set, a later
attempt first reads the media's comments and takes ours (same text, our
account) instead of commenting again, so a lost answer or a crash never
doubles the comment. A comment that cannot be posted leaves the post
published: the post page says why and offers "Retry comment".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import bindparam
from sqlalchemy import update

from models import CommentStatus
from models import User
from models import now_utc
from ospost.engine.state import BudgetExhausted
from ospost.engine.state import Step
from ospost.graph import ErrorKind
from ospost.graph import GraphError
from ospost.graph import GraphNetworkError

if TYPE_CHECKING:
    from ospost.engine.steps import Steps

USERS = User.__table__
# Transient failures are retried this many times (with backoff) before the
# comment is given up: the post is live and should not wait long.
MAX_COMMENT_ATTEMPTS = 4
COMMENT_REAUTH_REASON = (
    "Instagram disconnected Ospost from this account. Log in again to "
    "reconnect, then use Retry comment."
)
_NEEDS_REAUTH = (
    update(USERS).where(USERS.c.id == bindparam("user_id")).values(needs_reauth=True)
)


class CommentStep:
    """Posts a live post's first comment exactly once, or says why it could not."""

    def __init__(self, steps: Steps) -> None:
        self.steps = steps
        self.leases = steps.leases
        self.settings = steps.settings

    def post(self, step: Step) -> None:
        """Comment (after looking for ours when a request may have reached
        Meta), then finalize the post; errors end in a retry or a failed
        comment, never a failed post."""
        try:
            if not self._find_ours(step):
                self._comment(step)
        except BudgetExhausted:
            self.give_up(step, "Instagram kept failing; Ospost stopped trying.")
        except GraphError as exc:
            if self._retry_later(step, exc):
                return
            self.give_up(step, self._reason(step, exc))
        self.steps.finalize(step)

    def give_up(self, step: Step, reason: str) -> None:
        """Mark the comment failed with ``reason`` (saved with the next write)."""
        self.leases.note(step, f"The first comment was not posted: {reason}")
        self.leases.save(
            step,
            comment_status=CommentStatus.FAILED,
            comment_error=reason,
            waiting_reason=None,
        )

    def _find_ours(self, step: Step) -> bool:
        """After a request that may have reached Meta: is our comment there?"""
        post = step.post
        if post.comment_requested_at is None:
            return False
        self.leases.keep(step)
        comments = step.call("comments", post.ig_media_id, step.token)
        found = match_comment(comments, post.first_comment, step.user.ig_username)
        if found is None:
            return False
        self.leases.note(
            step,
            "The first comment was found on Instagram (posted by an "
            "earlier attempt whose answer was lost).",
        )
        self._posted(step, found)
        return True

    def _comment(self, step: Step) -> None:
        post = step.post
        # Saved before the request: from here on, a crash or a lost answer
        # means looking for the comment before posting it again.
        self.leases.keep(step, comment_requested_at=now_utc())
        try:
            comment_id = step.call(
                "post_comment", post.ig_media_id, step.token, post.first_comment
            )
        except GraphError as exc:
            if exc.code is not None and not isinstance(exc, GraphNetworkError):
                # Meta answered with an error: no comment was made.
                self.leases.save(step, comment_requested_at=None)
            raise
        self._posted(step, comment_id)

    def _posted(self, step: Step, comment_id: str) -> None:
        self.leases.save(
            step,
            comment_id=comment_id,
            comment_status=CommentStatus.POSTED,
            comment_requested_at=None,
            comment_error=None,
        )

    def _retry_later(self, step: Step, exc: GraphError) -> bool:
        """Book another try for a transient error while tries are left."""
        attempts = step.post.comment_attempts + 1
        if exc.kind is not ErrorKind.TRANSIENT or attempts >= MAX_COMMENT_ATTEMPTS:
            self.leases.save(step, comment_attempts=attempts)
            return False
        self.leases.save(
            step,
            final=True,
            comment_attempts=attempts,
            next_attempt_at=now_utc() + self.settings.retry_delay(attempts),
            waiting_reason=(
                "Published. Instagram had a problem with the first comment; "
                f"retry {attempts} is queued."
            ),
        )
        return True

    def _reason(self, step: Step, exc: GraphError) -> str:
        if exc.kind is ErrorKind.REAUTH:
            step.pending.append((_NEEDS_REAUTH, {"user_id": step.user.id}))
            return COMMENT_REAUTH_REASON
        if exc.code == 10 or (exc.code or 0) in range(200, 300):
            return (
                "Instagram did not let Ospost comment "
                f"({exc.user_message()}). Log in again and allow Ospost to "
                "manage comments, then use Retry comment."
            )
        return exc.user_message()


def match_comment(comments: list[dict], text: str, username: str) -> str | None:
    """Our comment among a post's comments: the same text, by our account."""
    for comment in comments:
        if (comment.get("text") or "").strip() != text.strip():
            continue
        if username and comment.get("username") not in (None, username):
            continue
        return str(comment.get("id"))
    return None
