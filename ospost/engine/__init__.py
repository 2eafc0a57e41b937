"""The publishing engine: what one wake-up of a due post does.

The scheduler (``ospost.scheduler``) decides when a post is looked at; the
engine does the looking. Each wake-up claims the post, runs one step of the
Graph API sequence, saves what it learned at once, and tells the scheduler when
to wake the post next. The modules, by concern:

- ``wakeup``: the wake-up itself (claim, one step, release, book the next);
- ``steps``: the steps, and which one a post's saved state calls for;
- ``lease``: claiming a post and saving under the lease (its SQL lives there);
- ``policy``: Meta's errors turned into waits, retries, new containers or
  failures;
- ``quota``: Instagram's 24-hour publishing limit per account;
- ``state`` and ``settings``: what a wake-up knows, and its timing knobs.
"""

from ospost.engine.lease import LostLease
from ospost.engine.settings import Settings
from ospost.engine.state import Step
from ospost.engine.wakeup import Engine

__all__ = ["Engine", "LostLease", "Settings", "Step"]
