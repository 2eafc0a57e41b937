"""The delivery worker: turns recorded events into emails, webhooks and pushes.

It runs as an interval job in every process's scheduler (``publisher.jobs``).
Each tick it

1. fans out new events: one transaction per event marks it done with a
   conditional UPDATE (one winner across workers) and inserts its deliveries,
   one per channel and target (unique, so a second try adds nothing);
2. claims due deliveries with a lease, the way the engine claims posts (a
   conditional UPDATE: one winner), sends each (``senders.py``, one function
   per channel), and records the outcome in the very next write. A worker
   killed between sending and that write leaves a lease that runs out, and
   the delivery is sent again, carrying the same ``Message-ID`` or
   ``Idempotency-Key``, so the receiver can tell;
3. now and then records the events that come from time passing (a login about
   to expire, the daily summary) and prunes what is older than a month.

In demo mode nothing leaves: deliveries are kept as "demo" for the Outbox page.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from models import User
from models import db
from models import now_utc
from ospost.engine.lease import new_owner
from ospost.notify import events
from ospost.notify import mailer
from ospost.notify import push
from ospost.notify import render
from ospost.notify import senders
from ospost.notify.models import Delivery
from ospost.notify.models import DeliveryStatus
from ospost.notify.models import NotificationEvent
from ospost.notify.models import PersonNotificationSettings as Prefs
from ospost.notify.models import PushSubscription
from ospost.notify.models import settings_for
from ospost.notify.senders import Outcome
from ospost.notify.senders import detach as _detach
from ospost.people import AccountAccess

log = logging.getLogger(__name__)
EVENTS = NotificationEvent.__table__
DELIVERIES = Delivery.__table__
_INSERTS = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}

_CLAIM = (
    update(DELIVERIES)
    .where(
        DELIVERIES.c.id == bindparam("delivery_id"),
        DELIVERIES.c.status == DeliveryStatus.PENDING,
        DELIVERIES.c.next_attempt_at <= bindparam("now"),
        or_(
            DELIVERIES.c.lease_until.is_(None),
            DELIVERIES.c.lease_until < bindparam("now"),
        ),
    )
    .values(
        lease_owner=bindparam("owner"),
        lease_until=bindparam("until"),
        attempts=DELIVERIES.c.attempts + 1,
    )
)


@dataclass(frozen=True)
class Settings:
    """The worker's knobs (``NOTIFY_*``; defaults in ``ospost.notify.DEFAULTS``)."""

    interval: float
    lease: timedelta
    batch: int
    backoff_base: float
    backoff_cap: float
    retry_window: timedelta
    scan_interval: float
    summary_hour: int
    keep: timedelta

    @classmethod
    def from_config(cls, cfg) -> Settings:
        return cls(
            interval=float(cfg["NOTIFY_INTERVAL_SECONDS"]),
            lease=timedelta(seconds=float(cfg["NOTIFY_LEASE_SECONDS"])),
            batch=int(cfg["NOTIFY_BATCH"]),
            backoff_base=float(cfg["NOTIFY_BACKOFF_BASE_SECONDS"]),
            backoff_cap=float(cfg["NOTIFY_BACKOFF_CAP_SECONDS"]),
            retry_window=timedelta(hours=float(cfg["NOTIFY_RETRY_HOURS"])),
            scan_interval=float(cfg["NOTIFY_SCAN_SECONDS"]),
            summary_hour=int(cfg["NOTIFY_SUMMARY_HOUR"]),
            keep=timedelta(days=float(cfg["NOTIFY_KEEP_DAYS"])),
        )


class Outbox:
    """This process's delivery worker."""

    def __init__(self) -> None:
        self.app = None
        self.settings: Settings | None = None
        self.owner = new_owner()
        self._last_scan = 0.0

    def init_app(self, app) -> None:
        self.app = app
        self.settings = Settings.from_config(app.config)

    # -- wiring into the scheduler -------------------------------------------

    def schedule(self, scheduler) -> None:
        """Add the delivery job to a starting scheduler (``publisher.jobs``)."""
        if not self.app.config["NOTIFY_ENABLED"]:
            return
        self.owner = new_owner()  # a forked worker never shares its parent's name
        self._last_scan = 0.0
        # Its own thread: a slow SMTP server never holds up publishing.
        scheduler.add_executor(ThreadPoolExecutor(1), "notify")
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.settings.interval,
            id="notify",
            replace_existing=True,
            executor="notify",
            max_instances=1,
        )

    def tick(self) -> None:
        """One round: fan out new events, send what is due, scan now and then."""
        with self.app.app_context():
            try:
                self.fan_out()
                self.deliver_due()
                if time.monotonic() - self._last_scan >= self.settings.scan_interval:
                    self._last_scan = time.monotonic()
                    self.scan()
            except SQLAlchemyError:
                db.session.rollback()
                log.exception("notifications: database error; trying again next tick")

    # -- 1. fan-out ----------------------------------------------------------

    def fan_out(self) -> int:
        """Make the deliveries of every event that has none yet; returns how many
        events this worker fanned out."""
        session = db.session
        ids = session.scalars(
            select(NotificationEvent.id)
            .where(NotificationEvent.fanned_out_at.is_(None))
            .order_by(NotificationEvent.id)
            .limit(100)
        ).all()
        done = 0
        postgres = db.engine.dialect.name == "postgresql"
        for event_id in ids:
            claim = update(EVENTS).where(
                EVENTS.c.id == event_id, EVENTS.c.fanned_out_at.is_(None)
            )
            if postgres:
                # An event another worker is fanning out is skipped, not waited
                # for only to match nothing once it commits: in a burst both
                # workers walk the same events in step (bench/publish_burst.py).
                mine = select(EVENTS.c.id).where(EVENTS.c.id == event_id)
                claim = claim.where(
                    EVENTS.c.id
                    == mine.with_for_update(skip_locked=True).scalar_subquery()
                )
            won = session.execute(claim.values(fanned_out_at=now_utc())).rowcount
            if won != 1:
                session.rollback()  # another worker did it
                continue
            event = session.get(NotificationEvent, event_id)
            insert = _INSERTS[db.engine.dialect.name](
                DELIVERIES
            ).on_conflict_do_nothing()
            for channel, target, person_id in self.routes(event):
                session.execute(
                    insert,
                    {
                        "event_id": event.id,
                        "user_id": event.user_id,
                        "person_id": person_id,
                        "channel": channel,
                        "target": target,
                        "status": DeliveryStatus.PENDING,
                        "attempts": 0,
                        "next_attempt_at": now_utc(),
                        "created_at": now_utc(),
                    },
                )
            session.commit()
            done += 1
        return done

    def routes(self, event: NotificationEvent) -> list[tuple[str, str, int | None]]:
        """(channel, target, person) for everyone who asked to hear about this
        kind of event: each person holding the account by email and in their
        browsers, and the account's webhook."""
        session = db.session
        demo = self.app.config["DEMO"]
        out: list[tuple[str, str, int | None]] = []
        email_pref = render.EMAIL_PREFS.get(event.kind)
        if email_pref and (demo or mailer.SmtpSettings.from_config(self.app.config)):
            out.extend(
                ("email", address, person_id)
                for person_id, address in session.execute(
                    select(Prefs.person_id, Prefs.email)
                    .join(AccountAccess, _holds(Prefs.person_id, event.user_id))
                    .where(
                        Prefs.user_id == event.user_id,
                        Prefs.email.is_not(None),
                        getattr(Prefs, email_pref).is_(True),
                    )
                    .order_by(Prefs.person_id)
                )
            )
        prefs = settings_for(session, event.user_id)
        if event.kind in render.WEBHOOK_KINDS and prefs.webhook_url:
            out.append(("webhook", prefs.webhook_url, None))
        push_pref = render.PUSH_PREFS.get(event.kind)
        if push_pref and (demo or push.VapidSettings.from_config(self.app.config)):
            wanted = getattr(Prefs, push_pref)
            subs = session.execute(
                select(PushSubscription.id, PushSubscription.person_id)
                .join(AccountAccess, _holds(PushSubscription.person_id, event.user_id))
                .outerjoin(
                    Prefs,
                    and_(
                        Prefs.person_id == PushSubscription.person_id,
                        Prefs.user_id == event.user_id,
                    ),
                )
                # No saved choices yet: the defaults (pushes on).
                .where(or_(wanted.is_(None), wanted.is_(True)))
                .order_by(PushSubscription.id)
            )
            out.extend(("push", str(sub_id), person_id) for sub_id, person_id in subs)
        return out

    # -- 2. delivery ---------------------------------------------------------

    def deliver_due(self) -> int:
        """Claim and send the due deliveries, up to a batch; returns how many."""
        session = db.session
        now = now_utc()
        ids = session.scalars(
            select(Delivery.id)
            .where(
                Delivery.status == DeliveryStatus.PENDING,
                Delivery.next_attempt_at <= now,
                or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(self.settings.batch)
        ).all()
        session.rollback()  # hold no transaction between claims
        sent = 0
        for delivery_id in ids:
            if self.claim(delivery_id):
                self.deliver(delivery_id)
                sent += 1
        return sent

    def claim(self, delivery_id: int) -> bool:
        """Take the lease on a due delivery; False when another worker has it."""
        now = now_utc()
        won = db.session.execute(
            _CLAIM,
            {
                "delivery_id": delivery_id,
                "now": now,
                "owner": self.owner,
                "until": now + self.settings.lease,
            },
        ).rowcount
        db.session.commit()
        return won == 1

    def deliver(self, delivery_id: int) -> None:
        """Send one claimed delivery and record how it went, in one write."""
        session = db.session
        delivery = session.get(Delivery, delivery_id)
        event = session.get(NotificationEvent, delivery.event_id)
        user = session.get(User, delivery.user_id)
        _detach(session, delivery, event, user)  # no transaction while sending
        try:
            outcome = self.send(delivery, event, user)
        except Exception:  # a bug in a sender must not stall the whole outbox
            log.exception("notification %s: unexpected error", delivery_id)
            outcome = Outcome(None, "unexpected error in Ospost")
        self.finish(delivery, event, outcome)

    def send(self, delivery: Delivery, event: NotificationEvent, user: User) -> Outcome:
        return senders.send(self.app.config, delivery, event, user)

    def finish(self, delivery: Delivery, event: NotificationEvent, outcome: Outcome):
        """Record the outcome under our lease, or schedule the next try."""
        now = now_utc()
        values = {
            "lease_owner": None,
            "lease_until": None,
            "response_code": outcome.code,
            "last_error": (outcome.note or None) and outcome.note[:300],
        }
        if outcome.status is None:
            delay = min(
                self.settings.backoff_cap,
                self.settings.backoff_base * 2 ** max(delivery.attempts - 1, 0),
            ) * random.uniform(0.8, 1.2)
            retry_at = now + timedelta(seconds=delay)
            if retry_at > event.created_at + self.settings.retry_window:
                values["status"] = DeliveryStatus.FAILED
                values["last_error"] = f"Gave up after retrying: {outcome.note}"[:300]
            else:
                values["next_attempt_at"] = retry_at
        else:
            values["status"] = outcome.status
            if outcome.status in (DeliveryStatus.SENT, DeliveryStatus.DEMO):
                values["sent_at"] = now
        done = db.session.execute(
            update(DELIVERIES)
            .where(
                DELIVERIES.c.id == delivery.id, DELIVERIES.c.lease_owner == self.owner
            )
            .values(**values)
        ).rowcount
        db.session.commit()
        if done != 1:
            log.warning("notification %s: lease lost while sending", delivery.id)
        log.info(
            "notification %s (%s, %s): %s",
            delivery.id,
            event.kind,
            delivery.channel,
            values.get("status", "retry later"),
        )

    # -- 3. time-based events and housekeeping -------------------------------

    def scan(self) -> None:
        """Record expiring-login notices and due summaries; prune old rows."""
        session = db.session
        now = now_utc()
        events.scan_expiring(session, now)
        session.commit()
        events.scan_summaries(session, now, self.settings.summary_hour)
        session.commit()
        cutoff = now - self.settings.keep
        old = select(EVENTS.c.id).where(
            EVENTS.c.created_at < cutoff, EVENTS.c.fanned_out_at.is_not(None)
        )
        session.execute(
            delete(DELIVERIES).where(
                DELIVERIES.c.event_id.in_(old),
                DELIVERIES.c.status != DeliveryStatus.PENDING,
            )
        )
        session.execute(
            delete(EVENTS).where(
                EVENTS.c.id.in_(old),
                ~EVENTS.c.id.in_(select(DELIVERIES.c.event_id)),
            )
        )
        session.commit()


def _holds(person_column, user_id: int):
    """Join condition: the person still holds the account (access lost: nothing)."""
    return and_(
        AccountAccess.person_id == person_column, AccountAccess.user_id == user_id
    )


# The app's one delivery worker (like ``publisher``).
outbox = Outbox()
