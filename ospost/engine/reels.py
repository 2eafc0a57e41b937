"""The Reel and Story step: one container from a video (or a Story's photo).

Meta's order (shared/docs/graph-api.md §7.1, §7.2): ``POST /{ig-user-id}/media``
with ``media_type=REELS`` (``video_url``, caption, ``share_to_feed``,
``cover_url`` or ``thumb_offset``, collaborators) or ``media_type=STORIES``
(``image_url`` or ``video_url``, nothing else). From there the container is
checked and published like any other (``steps.py``); video containers are
checked with growing gaps for up to Meta's 24-hour expiry
(``policy.ErrorPolicy.check_again``).

A video that is still being converted (``ospost.reels``) cannot be sent:
the post waits, says so, and the conversion wakes it when it is done. A
conversion that failed fails the post with its reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from models import now_utc
from ospost.engine.state import Step
from ospost.graph import GraphError
from ospost.reel_models import PostType
from ospost.reel_models import VideoStatus
from ospost.storage import staged_name

if TYPE_CHECKING:
    from ospost.engine.steps import Steps


def converting_reason(progress: float) -> str:
    """What the post page says while its video is still being converted."""
    return (
        f"Waiting for the video to finish converting ({progress:.0%}); "
        "it is sent to Instagram as soon as it is ready."
    )


class ReelSteps:
    """Makes the REELS or STORIES container of a post."""

    def __init__(self, steps: Steps) -> None:
        self.steps = steps
        self.leases = steps.leases
        self.policy = steps.policy
        self.settings = steps.settings

    def create(self, step: Step) -> None:
        """Stage the video (or photo) and ask Meta for the container, saving
        its id at once; or wait for a video still converting."""
        video = step.video
        if video is not None and video.status != VideoStatus.READY:
            self._not_ready(step)
            return
        if self.steps.quota.full(step):
            self.policy.wait_for_quota(step, step.now + self.settings.quota_wait)
            return
        if video is not None:
            if not video.filename:
                raise FileNotFoundError("post has no video")
            staged = self._stage(step, video.filename, ".mp4", step.post.staged_name)
            media_url = self.steps.image_url(staged)
            self.leases.keep(step)
            container_id = self._call(step, media_url, video_url=media_url)
        else:
            cover = step.cover
            if cover is None or not cover.filename:
                raise FileNotFoundError("post has no image")
            staged = self._stage(step, cover.filename, ".jpg", step.post.staged_name)
            media_url = self.steps.image_url(staged)
            self.leases.keep(step)
            container_id = self._call(step, media_url, image_url=media_url)
        self.leases.save_new_container(step, container_id, staged_name=staged)

    def _call(self, step: Step, media_url: str, **urls) -> str:
        """The create call for this post's type; Meta's fetch failures name
        the URL it could not get."""
        post, user, video = step.post, step.user, step.video
        try:
            if post.post_type == PostType.REEL and video is not None:
                cover_url = None
                if video.cover_uploaded and step.cover and step.cover.filename:
                    name = self._stage(step, step.cover.filename, ".jpg")
                    cover_url = self.steps.image_url(name)
                return step.call(
                    "create_reel",
                    user.ig_account_id,
                    step.token,
                    video_url=urls["video_url"],
                    caption=post.caption,
                    share_to_feed=video.share_to_feed,
                    cover_url=cover_url,
                    thumb_offset_ms=video.thumb_offset_ms,
                    collaborators=post.collaborators,
                )
            return step.call("create_story", user.ig_account_id, step.token, **urls)
        except GraphError as exc:
            exc.media_url = media_url
            raise

    def _stage(
        self, step: Step, filename: str, suffix: str, saved: str | None = None
    ) -> str:
        """Copy an upload to the public folder under its stable name."""
        secret = self.steps.secret
        name = saved or staged_name(step.post, filename, secret, suffix)
        return self.steps.store.stage(step.user.ig_account_id, filename, name)

    def _not_ready(self, step: Step) -> None:
        video = step.video
        assert video is not None
        if video.status == VideoStatus.FAILED:
            self.policy.fail(
                step, f"The video could not be converted: {video.error or 'unknown'}"
            )
            return
        # The conversion wakes the post when it ends; this is the fallback.
        self.leases.save(
            step,
            final=True,
            next_attempt_at=now_utc() + self.settings.video_check_interval,
            waiting_reason=converting_reason(video.progress),
        )

    def processing_failed(self, step: Step, detail: str | None) -> None:
        """Meta could not use the video (status ERROR): a new container of the
        same file would fail the same way, so the post fails with Meta's words."""
        what = "Reel" if step.post.post_type == PostType.REEL else "Story"
        why = detail or "no reason given"
        self.policy.fail(step, f"Instagram could not process the {what}: {why}.")
