"""Keeping every connected account's feed fresh, away from any request.

A job on the publishing scheduler (``app.extensions["publisher"].scheduler``)
looks every FEED_SWEEP_SECONDS for accounts that are due: never read, not read
for FEED_REFRESH_MINUTES, or asked for (a post just went live). It refreshes a
few of them one after the other, which spreads the calls out as Meta asks,
and skips any account Meta asked us to leave alone (``backoff_until``). Leases
(``ig_profiles.lease_until``) keep two workers off the same account.
"""

from __future__ import annotations

import logging
from datetime import datetime
from datetime import timedelta

from sqlalchemy import or_
from sqlalchemy import select

from models import InstagramProfile
from models import User
from models import db
from models import now_utc
from ospost.feed.refresh import FeedRefresher

log = logging.getLogger(__name__)

JOB_ID = "feed-sweep"
SOON_JOB_ID = "feed-sweep-soon"


def due_accounts(now: datetime, every: timedelta, batch: int) -> list[int]:
    """Ids of the connected accounts whose feed should be read now, most
    overdue first."""
    profile = InstagramProfile
    rows = db.session.scalars(
        select(User.id)
        .outerjoin(profile, profile.user_id == User.id)
        .where(
            User.access_token.is_not(None),
            User.needs_reauth.is_(False),
            or_(
                profile.user_id.is_(None),
                profile.attempted_at.is_(None),
                profile.requested_at.is_not(None),
                profile.attempted_at < now - every,
            ),
            or_(profile.backoff_until.is_(None), profile.backoff_until <= now),
            or_(profile.lease_until.is_(None), profile.lease_until <= now),
        )
        .order_by(profile.attempted_at.asc().nulls_first(), User.id)
        .limit(batch)
    ).all()
    return list(rows)


class FeedSchedule:
    """The background refresh job of one process."""

    def __init__(self, refresher: FeedRefresher) -> None:
        self.refresher = refresher
        self.app = None

    def _scheduler(self):
        publisher = self.app.extensions.get("publisher") if self.app else None
        scheduler = getattr(publisher, "scheduler", None)
        return scheduler if scheduler is not None and scheduler.running else None

    def start(self, app) -> None:
        """Add the periodic job to the running publishing scheduler."""
        self.app = app
        scheduler = self._scheduler()
        if scheduler is None:
            log.warning("feed refresh not scheduled: the scheduler is not running")
            return
        scheduler.add_job(
            self.sweep,
            "interval",
            seconds=float(app.config["FEED_SWEEP_SECONDS"]),
            id=JOB_ID,
            replace_existing=True,
            max_instances=1,
            # Soon after start-up, but not in the middle of it.
            next_run_time=now_utc() + timedelta(seconds=5),
        )

    def wake(self, delay: float = 3.0) -> None:
        """Look for due accounts in ``delay`` seconds (after a post went live,
        Meta lists it within moments)."""
        scheduler = self._scheduler()
        if scheduler is None:
            return
        scheduler.add_job(
            self.sweep,
            "date",
            run_date=now_utc() + timedelta(seconds=delay),
            id=SOON_JOB_ID,
            replace_existing=True,
        )

    def sweep(self) -> int:
        """Refresh the accounts that are due; returns how many were refreshed."""
        if self.app is None:
            return 0
        done = 0
        with self.app.app_context():
            cfg = self.app.config
            now = now_utc()
            paused = self.refresher.app_paused_until
            if paused is not None and paused > now:
                return 0
            every = timedelta(minutes=float(cfg["FEED_REFRESH_MINUTES"]))
            for user_id in due_accounts(now, every, int(cfg["FEED_SWEEP_BATCH"])):
                paused = self.refresher.app_paused_until
                if paused is not None and paused > now_utc():
                    break  # the whole app is near Meta's limit
                try:
                    self.refresher.refresh(user_id, manual=False)
                    done += 1
                except Exception:
                    db.session.rollback()
                    log.exception("feed of user %s: refresh failed", user_id)
        return done
