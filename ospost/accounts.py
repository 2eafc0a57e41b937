"""Several Instagram accounts per person: who holds what, decided from Meta's
answer, and what leaving an account removes.

A person holds an account while Meta's ``/me/accounts`` listed it for them at
their last login (``AccountAccess``). Logging in (or "Connect another account",
which is the same Facebook flow) grants every account Meta lists and takes
away the ones it no longer lists. Taking an account away from its last holder
keeps its posts, flagged in their history, until someone logs it in again;
"Disconnect" and deleting one's Ospost account remove the data of every
account nobody else holds.

Models change state here; routes commit, then delete files (``purge_files``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import field

from flask import current_app
from flask import g
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from models import EDITABLE
from models import Post
from models import PostEvent
from models import User
from models import db
from models import now_utc
from ospost.notify import events as notify_events
from ospost.notify.models import PersonNotificationSettings
from ospost.people import AccountAccess
from ospost.people import Person
from ospost.scheduler import publisher
from ospost.sessions import end_person_sessions
from ospost.sessions import end_user_sessions
from ospost.storage import staged_names

log = logging.getLogger(__name__)
UPSERT_DIALECTS = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}
# A Page role that may publish to its Instagram account (Meta's Page tasks).
PUBLISHING_TASKS = {"MANAGE", "CREATE_CONTENT"}
LOST_REASON = (
    "Meta no longer lists this Instagram account for {who}. Someone who still "
    "manages it must log in again before its posts can go out."
)


@dataclass
class Removal:
    """What a disconnection or deletion took away; files go once committed."""

    accounts_deleted: int = 0
    accesses_removed: int = 0
    files: list[tuple[str, list[str]]] = field(default_factory=list)


@dataclass
class Login:
    """Who logged in, the accounts Meta lists for them, and what changed."""

    person: Person
    accounts: list[User]
    added: list[User]
    lost: list[User]
    chosen: User | None


def upsert(model):
    """INSERT ... ON CONFLICT for the database in use (SQLite or PostgreSQL)."""
    return UPSERT_DIALECTS[db.session.get_bind().dialect.name](model)


def person_for(fb_user_id: str, name: str) -> Person:
    """The person row of a Facebook user, made on their first login.

    Two browsers logging one new person in at once both insert with ON CONFLICT
    DO NOTHING, so there is exactly one row and both go on to use it.
    """
    db.session.execute(
        upsert(Person)
        .values(fb_user_id=fb_user_id, name=name, created_at=now_utc())
        .on_conflict_do_nothing(index_elements=[Person.fb_user_id])
    )
    person = db.session.scalars(
        select(Person).where(Person.fb_user_id == fb_user_id)
    ).one()
    person.name = name or person.name
    person.last_login_at = now_utc()
    return person


def accounts_of(person_id: int) -> list[User]:
    """The accounts a person holds, by username."""
    return list(
        db.session.scalars(
            select(User)
            .join(AccountAccess, AccountAccess.user_id == User.id)
            .where(AccountAccess.person_id == person_id)
            .order_by(User.ig_username, User.id)
        )
    )


def held_account(person_id: int, account_id: int) -> User | None:
    """The account if this person holds it, else None (the one access check)."""
    return db.session.scalar(
        select(User)
        .join(AccountAccess, AccountAccess.user_id == User.id)
        .where(AccountAccess.person_id == person_id, User.id == account_id)
    )


def load_current(session) -> None:
    """Set ``g.person`` and ``g.user`` (the account being looked at) for this
    request, checking on the server that the person still holds the account.

    Every request goes through here, so an account taken away (by Meta, by a
    "Disconnect" in another tab) stops working at once: ``g.user`` is None,
    and ``helpers.login_required`` answers 404 or offers the other accounts.
    """
    g.person = g.user = None
    person_id = session.get("person_id")
    if not person_id:
        if session.get("user_id"):  # a session from before people existed
            session.clear()
        return
    g.person = db.session.get(Person, person_id)
    if g.person is None:
        session.clear()
        return
    account_id = session.get("user_id")
    if account_id:
        g.user = held_account(person_id, account_id)
        if g.user is None:
            session.pop("user_id", None)


def holders(account_id: int) -> list[Person]:
    """Everyone who holds the account."""
    return list(
        db.session.scalars(
            select(Person)
            .join(AccountAccess, AccountAccess.person_id == Person.id)
            .where(AccountAccess.user_id == account_id)
            .order_by(Person.id)
        )
    )


def sync_access(person: Person, listed: list[User]) -> tuple[list[User], list[User]]:
    """Make what the person holds exactly what Meta just listed for them.

    Returns (accounts newly granted, accounts taken away).
    """
    before = {a.id: a for a in accounts_of(person.id)}
    listed_ids = {a.id for a in listed}
    added = [a for a in listed if a.id not in before]
    for account in added:
        db.session.execute(
            upsert(AccountAccess)
            .values(person_id=person.id, user_id=account.id, granted_at=now_utc())
            .on_conflict_do_nothing(
                index_elements=[AccountAccess.person_id, AccountAccess.user_id]
            )
        )
    lost = [a for i, a in before.items() if i not in listed_ids]
    for account in lost:
        _flag_posts(account, LOST_REASON.format(who=person.label))
        _remove_access(person, account, LOST_REASON.format(who=person.label))
    return added, lost


def _flag_posts(account: User, message: str) -> None:
    """Note on each post still to go out that its account changed hands."""
    posts = db.session.scalars(
        select(Post.id).where(Post.user_id == account.id, Post.status.in_(EDITABLE))
    )
    for post_id in posts:
        db.session.add(PostEvent(post_id=post_id, message=message))


def _remove_access(person: Person, account: User, reason: str) -> None:
    """Take one account away from one person (its data stays).

    The account's token is this person's when they were the last to log it in:
    it must not be used for them any more, so the account waits for another
    holder to log in again (and says so, by notification too). The person's
    email address and choices for the account go too: they hear nothing more
    about it.
    """
    for model in (AccountAccess, PersonNotificationSettings):
        db.session.execute(
            delete(model).where(
                model.person_id == person.id, model.user_id == account.id
            )
        )
    if account.fb_user_id == person.fb_user_id and account.access_token:
        notify_events.record(db.session, notify_events.needs_reauth(account, reason))
        account.disconnect()


def release(person: Person, account: User, removal: Removal) -> None:
    """ "Disconnect": remove the account's data if nobody else holds it, else
    only this person's access."""
    others = [p for p in holders(account.id) if p.id != person.id]
    if others:
        _remove_access(
            person, account, f"{person.label} disconnected this account from Ospost."
        )
        removal.accesses_removed += 1
        return
    removal.files.append((account.ig_account_id, delete_account(account)))
    removal.accounts_deleted += 1


def delete_person(person: Person) -> Removal:
    """Remove the person, every account only they hold (with all its rows,
    files, jobs and sessions), and their access to shared ones."""
    removal = Removal()
    for account in accounts_of(person.id):
        release(person, account, removal)
    end_person_sessions(person.id)
    db.session.delete(person)
    return removal


def revoke_all(person: Person, reason: str) -> int:
    """Take every account away from the person (they removed the app); their
    data stays for the other holders, or until they log in again."""
    accounts = accounts_of(person.id)
    for account in accounts:
        _flag_posts(account, reason)
        _remove_access(person, account, reason)
    end_person_sessions(person.id)
    return len(accounts)


def delete_account(user: User) -> list[str]:
    """Remove an account, its posts, jobs and sessions; returns staged files to
    delete. The caller commits, then deletes the files (``purge_files``)."""
    staged = []
    for post in user.posts:
        publisher.cancel(post.id)
        filenames = [item.filename for item in post.media]
        staged += staged_names(post, filenames, current_app.config["SECRET_KEY"])
    end_user_sessions(user.id)
    current_app.extensions["grid_cache"].forget(user.id)
    db.session.delete(user)
    return staged


def purge_files(ig_account_id: str, staged: list[str]) -> None:
    """Delete every file of a deleted account (after the commit)."""
    current_app.extensions["media_store"].delete_user(ig_account_id, staged)


def purge_removed(removal: Removal) -> None:
    for ig_account_id, staged in removal.files:
        purge_files(ig_account_id, staged)


def holder_counts(account_ids: list[int]) -> dict[int, int]:
    """How many people hold each account (the switcher says "shared")."""
    rows = db.session.execute(
        select(AccountAccess.user_id, func.count())
        .where(AccountAccess.user_id.in_(account_ids))
        .group_by(AccountAccess.user_id)
    )
    return {account_id: n for account_id, n in rows}


# -- what a login changed ------------------------------------------------------


def publishable_pages(pages, info: dict) -> list:
    """The Pages with an Instagram account this login may publish to.

    ``/me/accounts`` lists every Page the person manages; when the person
    unticked some accounts in Facebook's dialog, ``debug_token``'s granular
    scopes name only the ones they left ticked.
    """
    allowed = None
    for grant in info.get("granular_scopes") or []:
        if grant.get("scope") == "instagram_content_publish" and isinstance(
            grant.get("target_ids"), list
        ):
            allowed = {str(t) for t in grant["target_ids"]}
    return [
        p
        for p in pages
        if p.ig_user_id
        and (allowed is None or str(p.ig_user_id) in allowed)
        and (p.tasks is None or PUBLISHING_TASKS & set(p.tasks))
    ]


def current_after_login(login: Login, previous_id: int | None) -> User:
    """The account to show after a login: the one the person asked for, else a
    newly connected one, else the one they were looking at, else the first."""
    if login.chosen is not None:
        return login.chosen
    if previous_id is not None and login.added:
        return login.added[0]
    for account in login.accounts:
        if account.id == previous_id:
            return account
    return login.accounts[0]


def login_message(login: Login, *, connecting: bool) -> str | None:
    """What the login changed, for the page it lands on (a first login needs
    no words: the page shows the accounts)."""
    said = []
    if login.added and connecting:
        names = ", ".join("@" + (a.ig_username or a.ig_account_id) for a in login.added)
        said.append(f"Connected {names}.")
    if login.lost:
        names = ", ".join("@" + (a.ig_username or a.ig_account_id) for a in login.lost)
        said.append(
            f"Facebook no longer lists {names} for you, so Ospost disconnected "
            "it for you; its posts are kept."
        )
    return " ".join(said) or None
