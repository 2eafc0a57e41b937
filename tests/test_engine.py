"""The publishing engine's pieces that need no server: its snapshots of a
claimed post and account, which step a wake-up runs, and how a step counts its
Graph calls."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC
from datetime import datetime

import pytest

from models import Post
from models import PostMedia
from models import User
from ospost.engine.state import BudgetExhausted
from ospost.engine.state import ItemSnapshot
from ospost.engine.state import LeaseNotKept
from ospost.engine.state import PostSnapshot
from ospost.engine.state import Step
from ospost.engine.state import UserSnapshot
from ospost.engine.steps import STEPS
from ospost.engine.steps import next_step


def blank(snapshot, **values):
    return snapshot(**{f.name: None for f in fields(snapshot)} | values)


class FakeClient:
    def __init__(self):
        self.calls = []

    def media(self, media_id, token):
        self.calls.append(media_id)
        return {"id": media_id}


def a_step(graph_calls=0, budget=3) -> Step:
    return Step(
        post=blank(PostSnapshot, graph_calls=graph_calls),
        user=blank(UserSnapshot),
        token="t",
        now=datetime.now(UTC),
        client=FakeClient(),
        budget=budget,
    )


@pytest.mark.parametrize(
    ("snapshot", "model"),
    [(PostSnapshot, Post), (UserSnapshot, User), (ItemSnapshot, PostMedia)],
)
def test_snapshots_carry_exactly_the_tables_columns(snapshot, model):
    """A new column must be added to the engine's snapshot too (or this fails),
    and the claim never sees a field the table lacks."""
    columns = {column.name for column in model.__table__.columns}
    assert {f.name for f in fields(snapshot)} == columns


def test_a_snapshot_refuses_a_column_it_does_not_know():
    post = blank(PostSnapshot)
    with pytest.raises(AttributeError):
        post.not_a_column = 1


CONNECTED = {"needs_reauth": False, "access_token": "token"}
NEW = {"ig_media_id": None, "container_id": None, "container_ready": False}
MADE = {**NEW, "container_id": "c1", "container_stale": False}
READY = {**MADE, "container_ready": True, "publish_requested_at": None}


@pytest.mark.parametrize(
    ("post", "user", "expected"),
    [
        (NEW, CONNECTED, "create container"),
        (MADE, CONNECTED, "check container"),
        (READY, CONNECTED, "publish"),
        # A publish may have reached Meta: check before anything is sent again.
        (
            {**READY, "publish_requested_at": datetime.now(UTC)},
            CONNECTED,
            "check container",
        ),
        ({**READY, "container_stale": True}, CONNECTED, "check container"),
        ({**READY, "ig_media_id": "m1"}, CONNECTED, "finalize"),
        (READY, {**CONNECTED, "needs_reauth": True}, "account disconnected"),
        (
            {**NEW, "ig_media_id": "m1"},
            {**CONNECTED, "access_token": None},
            "account disconnected",
        ),
    ],
)
def test_a_wake_up_runs_the_first_step_that_applies(post, user, expected):
    rule = next_step(blank(PostSnapshot, **post), blank(UserSnapshot, **user))
    assert rule.name == expected


def test_the_last_step_applies_to_any_post():
    assert STEPS[-1].applies(blank(PostSnapshot), blank(UserSnapshot), [])


CAROUSEL = {**NEW, "media_type": "CAROUSEL", "comment_status": None}


def items(*states):
    """Carousel items: None (no container yet), "made" or a status_code."""
    return [
        blank(
            ItemSnapshot,
            container_id=None if state is None else f"c{i}",
            container_status=state if state != "made" else None,
        )
        for i, state in enumerate(states)
    ]


@pytest.mark.parametrize(
    ("post", "media", "expected"),
    [
        (CAROUSEL, items(None, None, None), "create carousel items"),
        # A crash between two item containers: only the missing one is made.
        (CAROUSEL, items("FINISHED", None, "made"), "create carousel items"),
        (CAROUSEL, items("FINISHED", "made", "IN_PROGRESS"), "check carousel items"),
        (CAROUSEL, items("FINISHED", "FINISHED"), "create carousel"),
        # The carousel container exists: check and publish it like an image.
        ({**CAROUSEL, "container_id": "p1"}, items("FINISHED"), "check container"),
        ({**READY, "media_type": "CAROUSEL"}, items("FINISHED"), "publish"),
        # Live with a first comment to post: the comment before finalizing.
        (
            {**READY, "ig_media_id": "m1", "comment_status": "pending"},
            items(None),
            "first comment",
        ),
        (
            {**READY, "ig_media_id": "m1", "comment_status": "failed"},
            items(None),
            "finalize",
        ),
        # A single image never takes the carousel rows.
        ({**NEW, "media_type": "IMAGE"}, items(None), "create container"),
    ],
)
def test_carousels_and_comments_take_their_rows(post, media, expected):
    rule = next_step(
        blank(PostSnapshot, **post), blank(UserSnapshot, **CONNECTED), media
    )
    assert rule.name == expected


def test_a_step_calls_meta_only_right_after_keeping_its_lease():
    step = a_step()
    with pytest.raises(LeaseNotKept):
        step.call("media", "1", "t")
    step.lease_kept = True  # what Leases.keep does once the lease is long enough
    assert step.call("media", "1", "t") == {"id": "1"}
    with pytest.raises(LeaseNotKept):  # one keep, one call
        step.call("media", "2", "t")
    assert step.client.calls == ["1"] and step.calls == 1


def test_a_step_stops_at_the_posts_call_budget():
    """Calls of earlier wake-ups count: 2 made before, 3 allowed, 1 left."""
    step = a_step(graph_calls=2, budget=3)
    step.lease_kept = True
    step.call("media", "1", "t")
    step.lease_kept = True
    with pytest.raises(BudgetExhausted):
        step.call("media", "2", "t")
    assert step.client.calls == ["1"]
