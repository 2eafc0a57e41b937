"""Reading an account's Instagram profile and feed into the database.

One refresh makes at most ``1 + FEED_MAX_ITEMS / FEED_PAGE_SIZE`` Graph calls
(the profile, then pages of ``/{ig-user-id}/media``), keeps the pictures as our
own thumbnails (Meta's URLs expire), and stores everything in one transaction.
It never runs on the home page's request path: the background job
(``background.py``) and the Refresh button call it.

Meta's rate limits come first (graph-api.md §5.2, §5.4): when an answer says a
limit is 80% used or gives a time to regain access, the refresh stops calling
and the account waits (``backoff_until``); a rate-limit error (4, 17, 32, 613,
80002) does the same. The cached feed stays on the page either way, with a
sentence saying why it may be out of date.

This module is the refresh's order of work and its lease on the account; the
parts live beside it: ``meta.py`` (reading Meta's pages), ``pictures.py``
(thumbnails), ``rows.py`` (storing the rows) and ``pacing.py`` (back-off).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

import helpers
from models import db
from models import now_utc
from ospost.feed import rows
from ospost.feed.meta import Fetched
from ospost.feed.meta import fetch
from ospost.feed.pacing import DISCONNECTED
from ospost.feed.pacing import SLOW_DOWN  # noqa: F401 (tests import it from here)
from ospost.feed.pacing import Backoff
from ospost.feed.pacing import later
from ospost.feed.pictures import with_thumbnails
from ospost.feed.rows import PROFILES
from ospost.feed.rows import USERS
from ospost.feed.rows import request_refresh  # noqa: F401 (ospost.feed imports it)
from ospost.graph import GraphClient
from ospost.graph import GraphError
from ospost.storage import MediaStore

log = logging.getLogger(__name__)

# Settings (``OSPOST_<NAME>`` or the test config override them).
DEFAULTS = {
    "FEED_REFRESH_MINUTES": 30,  # background refresh of each account
    "FEED_SWEEP_SECONDS": 60,  # how often the background job looks
    "FEED_SWEEP_BATCH": 10,  # accounts per look, one after the other
    "FEED_MAX_ITEMS": 120,  # newest posts kept per account
    "FEED_PAGE_SIZE": 50,
    "FEED_MANUAL_MIN_SECONDS": 60,  # the Refresh button's pace
    "FEED_BACKOFF_MINUTES": 15,  # pause after a rate limit (longer if Meta says)
    "FEED_RETRY_MINUTES": 5,  # pause after Meta could not be reached
    "FEED_ERROR_MINUTES": 60,  # pause after Meta refused for another reason
    "FEED_LEASE_SECONDS": 180,
    "FEED_DOWNLOAD_SECONDS": 10,  # picture budget of a Refresh click
    "FEED_BACKGROUND_DOWNLOAD_SECONDS": 60,
}


@dataclass(frozen=True)
class Outcome:
    """What a refresh did, as a sentence for the person and an HTTP status."""

    ok: bool
    message: str
    status: int = 200


class FeedRefresher:
    """Refreshes accounts' profiles and feeds; one per process (``refresher``)."""

    def __init__(self) -> None:
        self.app = None
        self._local = threading.local()
        self.backoff = Backoff()

    def init_app(self, app) -> None:
        for name, value in DEFAULTS.items():
            app.config.setdefault(name, value)
        self.app = app
        app.extensions["feed_refresher"] = self

    @property
    def config(self):
        return self.app.config

    @property
    def app_paused_until(self) -> datetime | None:
        """X-App-Usage is the whole app's: when it is high, every account waits."""
        return self.backoff.app_paused_until

    @app_paused_until.setter
    def app_paused_until(self, value: datetime | None) -> None:
        self.backoff.app_paused_until = value

    @property
    def store(self) -> MediaStore:
        return self.app.extensions["media_store"]

    def client(self) -> GraphClient:
        """This thread's Graph client (it keeps its connections open)."""
        cfg = self.config
        timeout = cfg["GRAPH_TIMEOUT"]
        timeout = tuple(timeout) if isinstance(timeout, list) else timeout
        key = (cfg["FB_ENDPOINT"], cfg["FB_APP_ID"], cfg["FB_APP_SECRET"], timeout)
        clients = self._local.__dict__.setdefault("clients", {})
        if key not in clients:
            clients[key] = GraphClient(*key[:3], timeout=timeout)
        return clients[key]

    def seconds(self, name: str) -> timedelta:
        return timedelta(seconds=float(self.config[name]))

    def _fetch(self, user) -> Fetched:
        """The profile, then pages of posts (see ``meta.fetch``)."""
        client = self.client()
        limit = int(self.config["FEED_MAX_ITEMS"])
        page_size = max(1, min(int(self.config["FEED_PAGE_SIZE"]), 100))
        return fetch(client, user, limit=limit, page_size=page_size)

    # -- one account ------------------------------------------------------------

    def refresh(self, user_id: int, *, manual: bool) -> Outcome:
        """Read the account's profile and newest posts from Meta into the database.

        ``manual`` is a click on Refresh: it is refused while Meta asks us to
        wait or within FEED_MANUAL_MIN_SECONDS of the last refresh, and it
        spends less time on pictures. Needs an app context.
        """
        now = now_utc()
        user = db.session.execute(select(*USERS.c).where(USERS.c.id == user_id)).first()
        if user is None:
            return Outcome(False, "That account no longer exists.", 404)
        refusal = self._claim(user, now, manual=manual)
        if refusal is not None:
            return refusal
        try:
            return self._refresh_claimed(user, now, manual=manual)
        except Exception:
            self._release(user_id)
            raise

    def _claim(self, user, now: datetime, *, manual: bool) -> Outcome | None:
        """Take the account's refresh lease; an Outcome says why not."""
        rows.ensure_profile(user.id)
        row = db.session.execute(
            select(PROFILES).where(PROFILES.c.user_id == user.id)
        ).one()
        tz = user.timezone
        if row.lease_until is not None and row.lease_until > now:
            return Outcome(False, "The feed is being refreshed right now.", 409)
        if manual:
            waiting = later(row.backoff_until, self.app_paused_until)
            if waiting is not None and waiting > now:
                when = helpers.format_local(waiting, tz, "%H:%M")
                return Outcome(
                    False,
                    "Instagram asked Ospost to slow down. Your feed refreshes again "
                    f"after {when}; until then it shows what Ospost last read.",
                    429,
                )
            pace = self.seconds("FEED_MANUAL_MIN_SECONDS")
            if row.attempted_at is not None and row.attempted_at > now - pace:
                when = helpers.format_local(row.attempted_at + pace, tz, "%H:%M:%S")
                return Outcome(
                    False,
                    "The feed was refreshed a moment ago. To keep Ospost's calls to "
                    f"Instagram low, refresh again after {when}.",
                    429,
                )
        lease = now + self.seconds("FEED_LEASE_SECONDS")
        claimed = db.session.execute(
            update(PROFILES)
            .where(
                PROFILES.c.user_id == user.id,
                or_(PROFILES.c.lease_until.is_(None), PROFILES.c.lease_until <= now),
            )
            .values(lease_until=lease, requested_at=None)
        ).rowcount
        db.session.commit()
        if claimed != 1:
            return Outcome(False, "The feed is being refreshed right now.", 409)
        return None

    def _release(self, user_id: int) -> None:
        try:
            db.session.rollback()
            db.session.execute(
                update(PROFILES)
                .where(PROFILES.c.user_id == user_id)
                .values(lease_until=None)
            )
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("feed of user %s: lease not released", user_id)

    def _refresh_claimed(self, user, now: datetime, *, manual: bool) -> Outcome:
        if user.needs_reauth or not user.access_token:
            rows.save_failure(user, now, DISCONNECTED, None)
            return Outcome(False, DISCONNECTED, 409)
        fetched = self._fetch(user)
        if fetched.error is not None and not fetched.profile:
            return self._fail(user, now, fetched.error)
        budget = self.seconds(
            "FEED_DOWNLOAD_SECONDS" if manual else "FEED_BACKGROUND_DOWNLOAD_SECONDS"
        )
        items, out_of_time = with_thumbnails(
            self.store, self.client(), user, fetched.items, budget
        )
        pause, problem = self._pause_after(user, fetched, now)
        rows.save(self.store, user, now, fetched, items, pause=pause, problem=problem)
        if out_of_time and pause is None:
            rows.request_again(user.id)
        log.info(
            "feed of user %s refreshed: %d posts read%s",
            user.id,
            len(items),
            f", Meta left alone until {pause.isoformat()}" if pause else "",
        )
        if problem:
            return Outcome(True, f"Feed refreshed. {problem}")
        count = fetched.profile.get("media_count")
        return Outcome(True, "Feed refreshed from Instagram" + _posts_note(count) + ".")

    # -- after Meta answered ------------------------------------------------------

    def _pause_after(
        self, user, fetched: Fetched, now: datetime
    ) -> tuple[datetime | None, str | None]:
        """How long to leave Meta alone after a refresh that got a profile, and
        the sentence to show meanwhile (None, None: carry on as usual)."""
        if fetched.error is not None:  # a page of posts failed
            pause, problem, status = self.backoff.judge(
                self.config, fetched.error, fetched.usage, now
            )
            if status == 409:  # committed with the rest by rows.save
                rows.mark_needs_reauth(user.id)
            return pause, problem
        return self.backoff.after_usage(self.config, fetched.usage, now)

    def _fail(self, user, now: datetime, error: GraphError) -> Outcome:
        """Meta gave no profile: keep the cached feed, say why, wait a while."""
        pause, problem, status = self.backoff.judge(
            self.config, error, error.usage, now
        )
        log.warning(
            "feed of user %s not refreshed: code=%s subcode=%s fbtrace_id=%s",
            user.id,
            error.code,
            error.subcode,
            error.fbtrace_id,
        )
        rows.save_failure(user, now, problem, pause, reauth=status == 409)
        if pause is not None:
            when = helpers.format_local(pause, user.timezone, "%H:%M")
            problem += f" Ospost tries again after {when}."
        return Outcome(False, problem, status)


def _posts_note(count) -> str:
    return f" ({count:,} posts on the profile)" if isinstance(count, int) else ""


refresher = FeedRefresher()
