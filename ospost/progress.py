"""What the post page shows of a post's way to Instagram, step by step.

The engine's state lives in the post's and its items' columns; this turns it
into the list a person reads while a post publishes ("Image 2: processing",
"Carousel: ready", "First comment: failed") and the status JSON the page polls.
"""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass

from models import CommentStatus
from models import Post
from models import PostStatus

DONE = "done"
ACTIVE = "active"
WAITING = "waiting"
FAILED = "failed"


@dataclass(frozen=True)
class StepView:
    """One line of the publishing progress: what, where it stands, details."""

    label: str
    state: str  # done, active, waiting or failed
    detail: str = ""


def publishing_steps(post: Post) -> list[StepView]:
    """The steps of this post's publishing, in order, with where each stands."""
    live = bool(post.ig_media_id) or post.status == PostStatus.PUBLISHED
    steps = []
    if post.is_carousel:
        steps += [_item_step(post, n, item, live) for n, item in enumerate(post.media)]
    label = "Carousel container" if post.is_carousel else "Image container"
    if post.post_type != "feed":
        label = "Reel container" if post.post_type == "reel" else "Story container"
    steps.append(_container_step(post, label, live))
    steps.append(
        StepView("Published on Instagram", DONE if live else WAITING)
        if live or post.status != PostStatus.FAILED
        else StepView("Published on Instagram", FAILED, post.error_message or "")
    )
    if post.comment_status is not None:
        steps.append(_comment_step(post, live))
    return steps


def _item_step(post: Post, number: int, item, live: bool) -> StepView:
    video = getattr(item, "video", None)  # a carousel's video item
    label = f"{'Video' if video else 'Image'} {number + 1}"
    if live or item.container_status == "FINISHED":
        return StepView(label, DONE, "ready")
    if item.container_id:
        return StepView(label, ACTIVE, "Instagram is processing it")
    if video is not None and not video.ready:
        return StepView(label, ACTIVE, f"converting ({video.progress:.0%})")
    return StepView(label, WAITING)


def _container_step(post: Post, label: str, live: bool) -> StepView:
    if live or post.container_ready:
        return StepView(label, DONE, "ready")
    if post.container_id:
        return StepView(label, ACTIVE, "Instagram is processing it")
    return StepView(label, WAITING)


def _comment_step(post: Post, live: bool) -> StepView:
    label = "First comment"
    if post.comment_status == CommentStatus.POSTED:
        return StepView(label, DONE, "posted")
    if post.comment_status == CommentStatus.FAILED:
        return StepView(label, FAILED, post.comment_error or "")
    if live:
        return StepView(label, ACTIVE, post.waiting_reason or "posting")
    return StepView(label, WAITING, "after the post is live")


def steps_payload(post: Post) -> list[dict]:
    return [asdict(step) for step in publishing_steps(post)]
