"""What one wake-up knows about the post it is publishing."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from types import SimpleNamespace


class Snapshot(SimpleNamespace):
    """A post's or user's columns as read when the post was claimed.

    Never flushed: every write goes through the lease-guarded ``save``.
    """


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
