"""The steps that take a claimed post to Instagram, and which one runs when.

A wake-up runs one step: the first row of ``STEPS`` whose "applies when" holds
for the post, account and media items as claimed. Each step calls Meta a few
times at most, keeping its lease before each call, and ends with a save that
gives the lease back and sets ``next_attempt_at`` for the next wake-up:

    step                  applies when (first match runs)      does
    account disconnected  needs_reauth, or no access token     fail: log in again
                                                               (a live post ends)
    first comment         ig_media_id known, comment pending   look, then comment
    finalize              ig_media_id is known                 permalink, clean up
    publish               container ready, no publish request  media_publish
                          possibly under way, not stale
    check container       container_id is set                  status_code, then go on
    create reel or story  a Reel or Story (video ready, or a   stage video/image,
                          Story photo); else wait for it       POST /media REELS/STORIES
    create carousel items a carousel, an item has no container POST /media per item
    check carousel items  a carousel, an item not FINISHED     status_code per item
    create carousel       a carousel (every item FINISHED)     POST /media CAROUSEL
    create container      anything else                        stage image, POST /media

For a carousel, ``container_id`` is the carousel (parent) container: once it
exists the single-image rows check and publish it. Item containers live on the
items (``post_media``); every container id is saved the moment Meta returns it.

How a post moves. Double lines go on in the same wake-up; single lines between
steps wait for the next one, booked by the step's last save:

    SCHEDULED ─claim─► PUBLISHING ─(account disconnected)─► FAILED
                           │
          ┌────────────────┴─────────────┐ a carousel
          ▼                              ▼
   create container        create carousel items ◄─┐ expired (24 h) or
          │                              │         │ errored: only those
          │                              ▼         │
          │      ┌──► check carousel items ────────┘
          │      └IN_PROGRESS─╢ all FINISHED
          │                   ▼
          │ wait first_check  create carousel
          ▼                   │ wait first_check
           ┌──────► check container ◄──── errored or expired: a new one
           │ backoff    ║      ║ FINISHED, or the check failed transiently;
           └IN_PROGRESS─╢      ▼ ready at the claim: publish with no check
                        ║    publish ══(media id)══► first comment ══► finalize
         PUBLISHED: a   ║                 ▲ (when there is one)       ║
         publish answer ▼                 ║                           ▼
         was lost    find media id ═══════╝                       PUBLISHED

A Meta error in any step goes to ``policy.py`` (retry later, wait for the
quota, new container, or FAILED). While a publish request may have reached
Meta (``PostSnapshot.may_be_live``), no error decides: the post waits in
"checking with Instagram" until a container status answers the question. A
first comment's errors never fail the post (``comment.py``); "Retry comment"
makes a live post claimable again for the first-comment step alone. Carousel
steps live in ``carousel.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from models import CommentStatus
from models import MediaType
from models import Post
from models import now_utc
from ospost import feed
from ospost import library
from ospost.engine.carousel import CarouselSteps
from ospost.engine.comment import COMMENT_REAUTH_REASON
from ospost.engine.comment import CommentStep
from ospost.engine.lease import Leases
from ospost.engine.lease import connect
from ospost.engine.policy import REAUTH_REASON
from ospost.engine.policy import ErrorPolicy
from ospost.engine.quota import Quota
from ospost.engine.reels import ReelSteps
from ospost.engine.settings import Settings
from ospost.engine.state import BudgetExhausted
from ospost.engine.state import ItemSnapshot
from ospost.engine.state import PostSnapshot
from ospost.engine.state import Step
from ospost.engine.state import UserSnapshot
from ospost.graph import ErrorKind
from ospost.graph import GraphError
from ospost.graph import GraphNetworkError
from ospost.notify import events as notify
from ospost.reel_models import PostType
from ospost.storage import MediaStore
from ospost.storage import staged_name
from ospost.storage import staged_names

log = logging.getLogger(__name__)


class Steps:
    """Each step makes at most a few Graph calls and saves what it learned."""

    def __init__(
        self,
        app,
        settings: Settings,
        leases: Leases,
        quota: Quota,
        policy: ErrorPolicy,
    ) -> None:
        self.app = app
        self.settings = settings
        self.leases = leases
        self.quota = quota
        self.policy = policy
        self.carousel = CarouselSteps(self)
        self.reels = ReelSteps(self)
        self.comment = CommentStep(self)

    @property
    def store(self) -> MediaStore:
        return self.app.extensions["media_store"]

    @property
    def secret(self) -> str:
        return self.app.config["SECRET_KEY"]

    def image_url(self, staged: str) -> str:
        """Where Meta's crawler fetches a staged copy (a presigned URL with S3)."""
        return self.store.crawler_url(staged, self.app.config["APP_URL"])

    def fail_disconnected(self, step: Step) -> None:
        if step.post.ig_media_id:
            # Live already: the post is published, only its comment cannot be.
            if step.post.comment_status == CommentStatus.PENDING:
                self.comment.give_up(step, COMMENT_REAUTH_REASON)
            self.finalize(step, read_link=False)
            return
        self.policy.fail(step, REAUTH_REASON, code=190)

    def create_container(self, step: Step) -> None:
        post, user, image = step.post, step.user, step.cover
        if self.quota.full(step):
            self.policy.wait_for_quota(step, step.now + self.settings.quota_wait)
            return
        if image is None or not image.filename:
            raise FileNotFoundError("post has no image")
        staged = self.store.stage(
            user.ig_account_id,
            image.filename,
            post.staged_name or staged_name(post, image.filename, self.secret),
        )
        self.leases.keep(step)
        image_url = self.image_url(staged)
        try:
            container_id = step.call(
                "create_container",
                user.ig_account_id,
                step.token,
                image_url=image_url,
                caption=post.caption,
                alt_text=image.alt_text,
                user_tags=image.user_tags,
                collaborators=post.collaborators,
            )
        except GraphError as exc:
            exc.media_url = image_url  # named in the reason if Meta could not fetch it
            raise
        self.leases.save_new_container(step, container_id, staged_name=staged)

    def check_container(self, step: Step) -> None:
        post = step.post
        self.leases.keep(step)
        try:
            status, detail = step.call(
                "container_status",
                post.container_id,
                step.token,
                counted=not post.may_be_live(),
            )
        except GraphError as exc:
            if exc.kind is ErrorKind.TRANSIENT and self._may_try_publish(step):
                # Every call counts against the post's budget: rather than
                # check again, let media_publish say whether it is ready (9007).
                self.publish(step)
                return
            raise
        if status == "PUBLISHED":
            self.recover_published(step)
        elif post.container_stale:
            # Not live, but made for content the person has since changed.
            self.leases.save(
                step,
                final=True,
                container_id=None,
                container_stale=False,
                next_attempt_at=now_utc(),
            )
        elif status == "FINISHED":
            self.publish(step)
        elif status == "IN_PROGRESS":
            # Waiting for Meta is not failing: these checks back off and are
            # bounded by check_timeout, not by the post's call budget.
            step.calls -= 1
            self.policy.check_again(step, counted_check=True)
        elif status == "ERROR" and post.post_type != "feed":
            self.reels.processing_failed(step, detail)
        else:
            why = " ".join(filter(None, [status, detail]))
            what = "the carousel" if step.is_carousel else "the image"
            if post.post_type != "feed":
                what = "the Reel" if post.post_type == "reel" else "the Story"
            self.policy.recreate_or_fail(
                step, f"Instagram could not process {what} ({why})."
            )

    def _may_try_publish(self, step: Step) -> bool:
        post = step.post
        age = step.now - (post.container_created_at or step.now)
        return (
            post.publish_requested_at is None
            and not post.container_stale
            and age >= self.settings.first_check
        )

    def publish(self, step: Step) -> None:
        post, user = step.post, step.user
        # Renew the lease in the write that records the request: nobody may
        # claim the post while Meta decides, and a crash from here on means
        # checking the container before anything is sent again.
        self.leases.keep(step, publish_requested_at=now_utc())
        try:
            media_id = step.call(
                "publish", user.ig_account_id, step.token, post.container_id
            )
        except GraphError as exc:
            if exc.code is not None and not isinstance(exc, GraphNetworkError):
                # Meta answered with an error, so nothing went live: the next
                # attempt may publish again without checking the status first.
                self.leases.save(
                    step,
                    publish_requested_at=None,
                    container_ready=exc.kind is not ErrorKind.NOT_READY,
                )
            raise
        # The quota count goes up in the same commit as the media id.
        self.quota.count_publish(step)
        self.leases.save(step, ig_media_id=media_id, published_at=now_utc())
        self.after_media(step)

    def recover_published(self, step: Step) -> None:
        """The container is live though we never heard back: find it, never repost."""
        post, user = step.post, step.user
        media_id = None
        self.leases.keep(step)
        try:
            # Stories are not on the /media edge: they have their own.
            story = post.post_type == PostType.STORY
            method = "recent_stories" if story else "recent_media"
            recent = step.call(method, user.ig_account_id, step.token)
            media_id = match_media(recent, post)
        except (GraphError, BudgetExhausted):
            log.warning(
                "post %s: live, but its media id could not be found",
                post.id,
                extra={"post_id": post.id},
            )
        if media_id:
            self.leases.save(step, ig_media_id=media_id, published_at=now_utc())
            self.after_media(step)
        else:
            self.finalize(step)

    def after_media(self, step: Step) -> None:
        """The post is live: its first comment (if any), then finalize."""
        if step.post.comment_status == CommentStatus.PENDING:
            self.comment.post(step)
        else:
            self.finalize(step)

    def first_comment(self, step: Step) -> None:
        self.comment.post(step)

    def finalize(self, step: Step, *, read_link: bool = True) -> None:
        """The post is live: read its link, delete its files, mark it published."""
        post, user = step.post, step.user
        media_id = post.ig_media_id
        permalink = post.permalink
        if media_id and not permalink and read_link:
            self.leases.keep(step)
            try:
                body = step.call("media", media_id, step.token)
                permalink = body.get("permalink")
            except (GraphError, BudgetExhausted) as exc:
                # The post is live; a missing link never makes it a failure.
                log.warning(
                    "post %s: permalink not read: %s",
                    post.id,
                    exc,
                    extra={"post_id": post.id},
                )
        if post.comment_status == CommentStatus.PENDING:
            self.comment.give_up(
                step, "Ospost could not find the live post to comment on."
            )
        filenames = step.file_names()
        for name in staged_names(post, filenames, self.secret):
            self.store.unstage(name)
        with connect(autocommit=True) as conn:  # a library image still in use stays
            shared = library.shared_elsewhere(conn, user.id, post.id, filenames)
        self.store.delete(
            user.ig_account_id, *(n for n in filenames if n not in shared)
        )
        self.leases.forget_files(step)
        when = post.published_at or now_utc()
        # The announcement commits with the status, or neither does.
        step.pending.append(
            notify.pending(notify.post_published(post, permalink=permalink, when=when))
        )
        self.leases.save(
            step,
            final=True,
            **Post.published_values(when),
            permalink=permalink,
            staged_name=None,
        )
        log.info(
            "post %s published as media %s",
            post.id,
            media_id,
            extra={"post_id": post.id, "ig_media_id": media_id},
        )
        feed.after_publish(user.id)  # the profile preview shows it from Instagram


Applies = Callable[[PostSnapshot, UserSnapshot, Sequence[ItemSnapshot]], bool]


@dataclass(frozen=True)
class Rule:
    """One row of the step table."""

    name: str
    applies: Applies
    action: Callable[[Steps, Step], None]


def _carousel(post: PostSnapshot) -> bool:
    return post.media_type == MediaType.CAROUSEL and not post.container_id


STEPS: tuple[Rule, ...] = (
    Rule(
        "account disconnected",
        lambda post, user, items: user.needs_reauth or not user.access_token,
        Steps.fail_disconnected,
    ),
    Rule(
        "first comment",
        lambda post, user, items: (
            bool(post.ig_media_id) and post.comment_status == CommentStatus.PENDING
        ),
        Steps.first_comment,
    ),
    Rule("finalize", lambda post, user, items: bool(post.ig_media_id), Steps.finalize),
    Rule(
        "publish",
        lambda post, user, items: bool(post.container_id) and known_ready(post),
        Steps.publish,
    ),
    Rule(
        "check container",
        lambda post, user, items: bool(post.container_id),
        Steps.check_container,
    ),
    Rule(
        "create reel or story",
        lambda post, user, items: post.post_type in (PostType.REEL, PostType.STORY),
        lambda steps, step: steps.reels.create(step),
    ),
    Rule(
        "create carousel items",
        lambda post, user, items: (
            _carousel(post) and any(not item.container_id for item in items)
        ),
        lambda steps, step: steps.carousel.create_items(step),
    ),
    Rule(
        "check carousel items",
        lambda post, user, items: (
            _carousel(post)
            and any(item.container_status != "FINISHED" for item in items)
        ),
        lambda steps, step: steps.carousel.check_items(step),
    ),
    Rule(
        "create carousel",
        lambda post, user, items: _carousel(post),
        lambda steps, step: steps.carousel.create_parent(step),
    ),
    Rule(
        "create container",
        lambda post, user, items: True,
        Steps.create_container,
    ),
)


def next_step(
    post: PostSnapshot, user: UserSnapshot, items: Sequence[ItemSnapshot] = ()
) -> Rule:
    """The step a wake-up runs for this post, account and items as claimed."""
    return next(rule for rule in STEPS if rule.applies(post, user, items))


def call_budget(settings: Settings, post: PostSnapshot, items: list) -> int:
    """Graph calls a post may make in all its wake-ups: the configured budget,
    plus room for each carousel item (create, check) and the first comment
    (look, post)."""
    budget = settings.max_graph_calls
    if post.media_type == MediaType.CAROUSEL:
        budget += CALLS_PER_ITEM * len(items)
    if post.comment_status == CommentStatus.PENDING:
        budget += CALLS_FOR_COMMENT
    return budget


CALLS_PER_ITEM = 3
CALLS_FOR_COMMENT = 3


def known_ready(post: PostSnapshot) -> bool:
    """Meta said the container is ready and no publish may be under way."""
    return (
        post.container_ready
        and post.publish_requested_at is None
        and not post.container_stale
    )


def match_media(recent: list[dict], post: PostSnapshot) -> str | None:
    """Find our post among the account's newest media by caption and time."""
    since = (post.container_created_at or post.scheduled_at) - timedelta(minutes=5)
    for item in recent:
        if (item.get("caption") or "") != post.caption:
            continue
        stamp = parse_meta_time(item.get("timestamp"))
        if stamp is None or stamp >= since:
            return str(item.get("id"))
    return None


def parse_meta_time(value: str | None) -> datetime | None:
    """Meta's ``2026-12-01T09:30:00+0000`` as an aware datetime (None if odd)."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
