"""Instagram's 24-hour publishing limit, per account.

Before making a new container the engine checks the account's last known
usage; one post per account re-reads it from Meta when the reading is stale,
and each post that goes live counts itself, so a full quota waits for the
window instead of spending calls on refusals.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy import or_
from sqlalchemy import update

from models import User
from ospost.engine.lease import Leases
from ospost.engine.lease import connect
from ospost.engine.settings import Settings
from ospost.engine.state import Step
from ospost.engine.state import UserSnapshot
from ospost.graph import ErrorKind
from ospost.graph import GraphError

USERS = User.__table__

_CLAIM_QUOTA_CHECK = (
    update(USERS)
    .where(
        USERS.c.id == bindparam("user_id"),
        or_(
            USERS.c.quota_checked_at.is_(None),
            USERS.c.quota_checked_at
            < bindparam("cutoff", type_=USERS.c.quota_checked_at.type),
        ),
    )
    .values(
        quota_checked_at=bindparam("checked_at", type_=USERS.c.quota_checked_at.type)
    )
)
_SET_QUOTA = (
    update(USERS)
    .where(USERS.c.id == bindparam("user_id"))
    .values(quota_usage=bindparam("usage"), quota_total=bindparam("total"))
)
# One more post used; an account whose usage was never read stays unknown.
BUMP_QUOTA = (
    update(USERS)
    .where(USERS.c.id == bindparam("user_id"), USERS.c.quota_usage.is_not(None))
    .values(quota_usage=USERS.c.quota_usage + 1)
)


class Quota:
    """Knows whether an account may publish now, and counts what it published."""

    def __init__(self, settings: Settings, leases: Leases) -> None:
        self.settings = settings
        self.leases = leases

    def full(self, step: Step) -> bool:
        """True when the account used its 24-hour publishing quota (as last read)."""
        user = step.user
        cutoff = step.now - self.settings.quota_cache
        stale = user.quota_checked_at is None or user.quota_checked_at < cutoff
        if stale and self._claim_check(user, cutoff, step.now):
            self._refresh(step)
        total, usage = user.quota_total or 0, user.quota_usage or 0
        return total > 0 and usage >= total

    @staticmethod
    def count_publish(step: Step) -> None:
        """Count the post against its account's quota in the step's next save
        (the one that records the media id)."""
        step.pending.append((BUMP_QUOTA, {"user_id": step.user.id}))

    @staticmethod
    def _claim_check(user: UserSnapshot, cutoff: datetime, now: datetime) -> bool:
        """One post per account asks Meta; the others use what it stored."""
        params = {"user_id": user.id, "cutoff": cutoff, "checked_at": now}
        with connect(autocommit=True) as conn:
            won = conn.execute(_CLAIM_QUOTA_CHECK, params).rowcount
            conn.commit()
        return won == 1

    def _refresh(self, step: Step) -> None:
        user = step.user
        self.leases.keep(step)
        try:
            usage, total = step.call("publishing_limit", user.ig_account_id, step.token)
        except GraphError as exc:
            if exc.kind is ErrorKind.REAUTH:
                raise
            return  # Meta enforces the limit at media_publish anyway.
        params = {"user_id": user.id, "usage": usage, "total": total}
        with connect(autocommit=True) as conn:
            conn.execute(_SET_QUOTA, params)
            conn.commit()
        user.quota_usage, user.quota_total = usage, total
