"""The publishing engine's pieces that need no server: its snapshots of a
claimed post and account."""

from __future__ import annotations

from dataclasses import fields

import pytest

from models import Post
from models import User
from ospost.engine.state import PostSnapshot
from ospost.engine.state import UserSnapshot


@pytest.mark.parametrize(
    ("snapshot", "model"), [(PostSnapshot, Post), (UserSnapshot, User)]
)
def test_snapshots_carry_exactly_the_tables_columns(snapshot, model):
    """A new column must be added to the engine's snapshot too (or this fails),
    and the claim never sees a field the table lacks."""
    columns = {column.name for column in model.__table__.columns}
    assert {f.name for f in fields(snapshot)} == columns


def test_a_snapshot_refuses_a_column_it_does_not_know():
    values = {f.name: None for f in fields(PostSnapshot)}
    post = PostSnapshot(**values)
    with pytest.raises(AttributeError):
        post.not_a_column = 1
