"""The person's Instagram accounts: the list ("Switch account"), switching,
"Connect another account" and "Disconnect".

Which accounts a person may use is decided by ``ospost.accounts`` from Meta's
last answer; every route here looks an account id up among the person's own
(``held_or_404``), so another person's account id is a 404.
"""

from __future__ import annotations

from flask import Blueprint
from flask import abort
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import session
from flask import url_for

import helpers
from models import User
from models import db
from ospost import accounts
from ospost import ratelimit

bp = Blueprint("accounts", __name__)


def held_or_404(account_id: int) -> User:
    """One of the person's accounts, or 404 (also for anyone else's)."""
    account = accounts.held_account(g.person.id, account_id)
    if account is None:
        abort(404)
    return account


def handle(account: User) -> str:
    return "@" + (account.ig_username or account.ig_account_id)


@bp.app_context_processor
def _switcher() -> dict:
    """The accounts the navigation bar's switcher lists (only when logged in)."""
    person = g.get("person")
    if person is None:
        return {"current_person": None, "my_accounts": []}
    return {"current_person": person, "my_accounts": accounts.accounts_of(person.id)}


@bp.get("/accounts")
@helpers.person_required
def index():
    """The person's Instagram accounts: switch to one, connect or disconnect."""
    mine = accounts.accounts_of(g.person.id)
    shared = accounts.holder_counts([a.id for a in mine])
    return render_template("accounts/index.html", accounts=mine, shared=shared)


@bp.post("/accounts/<int(max=2147483647):account_id>/switch")
@ratelimit.mutations
@helpers.person_required
def switch(account_id: int):
    """Look at (and schedule for) another of the person's accounts."""
    account = held_or_404(account_id)
    session["user_id"] = account.id
    flash(f"Now working on {handle(account)}.", "success")
    return redirect(url_for("posts.index"))


@bp.post("/accounts/<int(max=2147483647):account_id>/disconnect")
@ratelimit.mutations
@helpers.person_required
def disconnect(account_id: int):
    """Remove one account from Ospost: all its data when nobody else holds it,
    otherwise only this person's access."""
    account = held_or_404(account_id)
    name = handle(account)
    removal = accounts.Removal()
    accounts.release(g.person, account, removal)
    db.session.commit()
    accounts.purge_removed(removal)
    if removal.accounts_deleted:
        flash(f"{name} was disconnected and its posts and files deleted.", "success")
    else:
        flash(
            f"{name} was disconnected for you; the others who manage it keep it "
            "and its posts.",
            "success",
        )
    remaining = accounts.accounts_of(g.person.id)
    if session.get("user_id") == account_id or not remaining:
        session["user_id"] = remaining[0].id if remaining else None
    return redirect(url_for("accounts.index"))
