"""The carousel steps: one container per item, then the carousel container.

Meta's order (shared/docs/graph-api.md §3.2, §7.4): each image becomes an item
container (``is_carousel_item=true``, its image, alt text and people tags), each
video item a video one (``media_type=VIDEO``, its converted MP4 as
``video_url``: nothing is sent before every video of the post is converted,
and the post says it is waiting, as a Reel does);
once every item is FINISHED, the carousel container names them in order
(``media_type=CAROUSEL``, ``children``) with the caption and collaborators,
which Meta refuses on items. From there the carousel container is checked and
published like a single image's (``steps.py``).

Exactly once: an item's container id is saved, under the lease, the moment
Meta returns it, before any other call; an item with a saved container never
gets another unless Meta says it expired (24 h) or failed to process it, and
each such new container is noted in the post's history. A video item takes
Meta minutes: it is checked with the growing gaps of a Reel's container
(``policy.check_again``), and one Meta could not process fails the post with
Meta's words (a new container of the same file would fail the same way).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import bindparam
from sqlalchemy import select

from models import PostVideo
from models import now_utc
from ospost.engine.lease import connect
from ospost.engine.reels import converting_reason
from ospost.engine.state import ItemSnapshot
from ospost.engine.state import Step
from ospost.engine.state import VideoSnapshot
from ospost.graph import ErrorKind
from ospost.graph import GraphError
from ospost.reel_models import VideoStatus
from ospost.storage import staged_name

if TYPE_CHECKING:
    from ospost.engine.steps import Steps

# Meta expires a container 24 hours after it was made (§3.1); one about to
# expire is made again rather than risked inside a carousel.
CONTAINER_TTL = timedelta(hours=24) - timedelta(minutes=10)
# An item Meta failed to process gets one new container, like a single image.
MAX_ITEM_CONTAINERS = 2
# Meta's "media not found" for a child it should know: make the items again.
MEDIA_NOT_FOUND = 2207006
VIDEOS = PostVideo.__table__
_ITEM_VIDEOS = select(*VIDEOS.c).where(
    VIDEOS.c.post_id == bindparam("post_id"), VIDEOS.c.post_media_id.is_not(None)
)
_FORGOTTEN = {
    "container_id": None,
    "container_created_at": None,
    "container_status": None,
}


def item_videos(post_id: int) -> dict[int, VideoSnapshot]:
    """A carousel's video items as they are now, by item (their conversions
    run apart from the engine, so they are read at each wake-up)."""
    with connect() as conn:
        rows = conn.execute(_ITEM_VIDEOS, {"post_id": post_id}).all()
    videos = [VideoSnapshot.from_row(row) for row in rows]
    return {video.post_media_id: video for video in videos}


def _name(step: Step, item: ItemSnapshot) -> str:
    """How the post page names an item: "image 2", "video 3"."""
    kind = "video" if item.id in step.item_videos else "image"
    return f"{kind} {item.position + 1}"


class CarouselSteps:
    """Creates and checks a carousel's item containers, then the carousel."""

    def __init__(self, steps: Steps) -> None:
        self.steps = steps
        self.leases = steps.leases
        self.policy = steps.policy
        self.settings = steps.settings

    def create_items(self, step: Step) -> None:
        """Make a container for each item without one, saving each id at once."""
        post, user = step.post, step.user
        if not self._videos_ready(step):
            return
        first_time = not any(item.container_id for item in step.items)
        # A carousel is one post against the quota: ask before its first item.
        if first_time and self.steps.quota.full(step):
            self.policy.wait_for_quota(step, step.now + self.settings.quota_wait)
            return
        for item in step.items:
            if item.container_id:
                continue
            video = step.item_videos.get(item.id)
            if video is not None:
                self._create_video_item(step, item, video)
                continue
            if not item.filename:
                raise FileNotFoundError(f"item {item.position} has no image")
            staged = self.steps.store.stage(
                user.ig_account_id,
                item.filename,
                staged_name(post, item.filename, self.steps.secret),
            )
            image_url = self.steps.image_url(staged)
            self._item_container(
                step,
                item,
                "create_carousel_item",
                media_url=image_url,
                image_url=image_url,
                alt_text=item.alt_text,
                user_tags=item.user_tags,
            )
        self.leases.save(
            step,
            final=True,
            status_checks=0,
            next_attempt_at=now_utc() + self.settings.first_check,
            waiting_reason=None,
        )

    def _videos_ready(self, step: Step) -> bool:
        """Every video item is converted; else the post waits for them (and
        says so) or, when one could not be converted, fails with the reason."""
        videos = step.item_videos.values()
        waiting = [v for v in videos if v.status != VideoStatus.READY]
        failed = [v for v in waiting if v.status == VideoStatus.FAILED]
        if failed:
            self.policy.fail(
                step,
                "A video of the carousel could not be converted: "
                f"{failed[0].error or 'unknown'}",
            )
            return False
        if waiting:
            # The conversion wakes the post when it ends; this is the fallback.
            progress = min(video.progress for video in waiting)
            self.leases.save(
                step,
                final=True,
                next_attempt_at=now_utc() + self.settings.video_check_interval,
                waiting_reason=converting_reason(progress),
            )
            return False
        return True

    def _create_video_item(
        self, step: Step, item: ItemSnapshot, video: VideoSnapshot
    ) -> None:
        """Stage the item's converted video and ask Meta for its container,
        saving the id at once."""
        post, user = step.post, step.user
        if not video.filename:
            raise FileNotFoundError(f"item {item.position} has no video")
        name = staged_name(post, video.filename, self.steps.secret, ".mp4")
        staged = self.steps.store.stage(user.ig_account_id, video.filename, name)
        video_url = self.steps.image_url(staged)
        self._item_container(
            step,
            item,
            "create_carousel_video_item",
            media_url=video_url,
            video_url=video_url,
        )

    def _item_container(
        self, step: Step, item: ItemSnapshot, call: str, media_url: str, **params
    ) -> None:
        """Ask Meta for an item's container (``call`` with ``params``) and save
        its id under the lease before anything else is asked of Meta."""
        self.leases.keep(step)
        try:
            container_id = step.call(
                call, step.user.ig_account_id, step.token, **params
            )
        except GraphError as exc:
            exc.media_url = media_url  # named in the reason if Meta cannot fetch it
            raise
        self.leases.save_item(
            step,
            item,
            container_id=container_id,
            container_created_at=now_utc(),
            container_status=None,
            containers_created=item.containers_created + 1,
        )

    def check_items(self, step: Step) -> None:
        """Ask Meta how each unfinished item is doing; go on once all are ready."""
        waiting: list[ItemSnapshot] = []
        remade = False
        for item in step.items:
            if item.container_status == "FINISHED":
                continue
            self.leases.keep(step)
            status, detail = step.call(
                "container_status", item.container_id, step.token
            )
            if status == "FINISHED":
                # Saved with the step's last write: losing it costs a check.
                self.leases.stage_item(step, item, container_status="FINISHED")
            elif status == "IN_PROGRESS":
                step.calls -= 1  # waiting for Meta is not failing (steps.py)
                waiting.append(item)
            elif status == "EXPIRED":
                self._remake(step, item, "expired (older than 24 hours)")
                remade = True
            elif status == "ERROR" and item.id in step.item_videos:
                why = detail or "no reason given"
                self.policy.fail(
                    step,
                    f"Instagram could not process {_name(step, item)} of the "
                    f"carousel: {why}.",
                )
                return
            else:
                why = " ".join(filter(None, [status, detail]))
                if not self._remake_or_fail(step, item, f"failed ({why})"):
                    return
                remade = True
        slow = [i for i in waiting if self._too_slow(step, i)]
        for item in slow:
            if not self._remake_or_fail(step, item, "took too long to process"):
                return
        if remade or slow:
            self.leases.save(step, final=True, next_attempt_at=now_utc())
        elif waiting:
            oldest = min(i.container_created_at or step.now for i in waiting)
            video = any(i.id in step.item_videos for i in waiting)
            self.policy.check_again(step, counted_check=True, since=oldest, video=video)
        else:
            self.create_parent(step)

    def create_parent(self, step: Step) -> None:
        """Make the carousel container from the finished items, in order."""
        post, user = step.post, step.user
        now = now_utc()
        old = [
            item
            for item in step.items
            if item.container_created_at is None
            or now - item.container_created_at >= CONTAINER_TTL
        ]
        if old:
            for item in old:
                self._remake(step, item, "expired (older than 24 hours)")
            self.leases.save(step, final=True, next_attempt_at=now)
            return
        self.leases.keep(step)
        try:
            container_id = step.call(
                "create_carousel",
                user.ig_account_id,
                step.token,
                children=[item.container_id for item in step.items],
                caption=post.caption,
                collaborators=post.collaborators,
            )
        except GraphError as exc:
            if not self._items_went_bad(step, exc):
                raise
            return
        self.leases.save_new_container(step, container_id)

    # -- when Meta no longer sees an item the way we saved it -----------------

    def _items_went_bad(self, step: Step, exc: GraphError) -> bool:
        """Handle a carousel refusal caused by its items; False: not ours to fix."""
        if exc.kind is ErrorKind.NOT_READY:
            # An item Meta called FINISHED is not ready after all: check them
            # all again, after the usual wait.
            for item in step.items:
                self.leases.stage_item(step, item, container_status=None)
            self.policy.check_again(step, since=step.now)
            return True
        if exc.kind is ErrorKind.RECREATE or exc.subcode == MEDIA_NOT_FOUND:
            # Expired or unknown to Meta: every item gets a new container,
            # once (a second refusal fails the post with Meta's reason).
            if any(i.containers_created >= MAX_ITEM_CONTAINERS for i in step.items):
                return False
            for item in step.items:
                self._remake(step, item, f"was refused ({exc.user_message()})")
            self.leases.save(step, final=True, next_attempt_at=now_utc())
            return True
        return False

    def _too_slow(self, step: Step, item: ItemSnapshot) -> bool:
        if item.id in step.item_videos:
            return False  # Meta takes its time: checked up to its expiry instead
        created = item.container_created_at or step.now
        return step.now - created > self.settings.check_timeout

    def _remake_or_fail(self, step: Step, item: ItemSnapshot, why: str) -> bool:
        """Forget a failed item container once; the second time fail the post."""
        if item.containers_created < MAX_ITEM_CONTAINERS:
            self._remake(step, item, why)
            return True
        self.policy.fail(
            step, f"Instagram could not process {_name(step, item)}: {why}."
        )
        return False

    def _remake(self, step: Step, item: ItemSnapshot, why: str) -> None:
        """Forget an item's container and say so in the history (both with the
        step's next save)."""
        self.leases.note(
            step,
            f"The container of {_name(step, item)} {why}; Ospost is making a new one.",
        )
        self.leases.stage_item(step, item, **_FORGOTTEN)
