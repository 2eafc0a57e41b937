"""The live profile: the account's Instagram header and feed, cached.

``refresh.py`` reads the profile and the newest posts from Meta into
``ig_profiles`` and ``feed_items`` (thumbnails through ``MediaStore``), within
Meta's rate limits; ``background.py`` does it periodically on the publishing
scheduler; ``views.py`` has the Refresh button's route and serves thumbnails.
The home grid (``ospost.grid``) renders the cached feed; it never calls Meta.

Wiring: ``init_app(app)`` in ``create_app()``, ``start(app)`` once the
publishing scheduler runs, and ``after_publish(user_id)`` when a post goes live.
"""

from __future__ import annotations

from ospost.feed import views
from ospost.feed.background import FeedSchedule
from ospost.feed.refresh import refresher
from ospost.feed.refresh import request_refresh

schedule = FeedSchedule(refresher)

__all__ = ["after_publish", "init_app", "refresher", "schedule", "start"]


def init_app(app) -> None:
    """Give the app the feed's settings, routes and template filter."""
    refresher.init_app(app)
    app.register_blueprint(views.bp)
    app.add_template_filter(views.compact_count, "compact_count")


def start(app) -> None:
    """Refresh feeds in the background (the publishing scheduler must run)."""
    schedule.start(app)


def after_publish(user_id: int) -> None:
    """A post of ``user_id`` went live: read the account's feed again soon."""
    request_refresh(user_id)
    schedule.wake()
