"""Logging in with Facebook, the account page, and Meta's data callbacks.

The browser only hands us a short-lived Facebook token. Which Instagram account
that token may post to is decided here, by asking Meta (``debug_token`` and
``/me/accounts``); an Instagram id sent by the browser is only a choice among the
accounts Meta lists for that token.
"""

from __future__ import annotations

import logging
from datetime import datetime
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from flask import Blueprint
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from sqlalchemy import func
from sqlalchemy import select

import helpers
from models import DeletionRequest
from models import User
from models import db
from models import now_utc
from ospost import accounts
from ospost import ratelimit
from ospost import schemas
from ospost import signed_requests
from ospost.graph import GraphError
from ospost.graph import GraphNetworkError
from ospost.graph import client_for
from ospost.people import Person
from ospost.posts import FormError
from ospost.posts import check_publish_time
from ospost.posts import post_label
from ospost.scheduler import publisher

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
DEAUTHORIZED = "Ospost was removed from your Facebook settings."
NO_ACCOUNTS = (
    "None of your Facebook Pages is linked to an Instagram business or "
    "creator account that you may publish to. Link one in the Instagram app "
    "(Settings → Account type and tools) or in Meta Business Suite, or ask the "
    "Page's owner for full control or content access, then log in again."
)


class LoginError(Exception):
    """A login attempt that must be refused, with the sentence to show."""

    def __init__(self, message: str, status: int = 400, *, keep: bool = False):
        super().__init__(message)
        self.message = message
        self.status = status
        # Commit what the login learnt anyway (accounts Meta stopped listing).
        self.keep = keep


# -- services ----------------------------------------------------------------


def login_with_token(short_token: str, chosen_ig_id: str | None, tz: str | None):
    """Verify a browser token with Meta and connect every Instagram account it
    lists for this person (see ``ospost.accounts``)."""
    client = client_for(current_app.config)
    try:
        info = client.debug_token(short_token)
        _check_token_info(info)
        exchanged = client.exchange_token(short_token)
        pages = accounts.publishable_pages(client.pages(exchanged.token), info)
        _check_choice(pages, chosen_ig_id)
        me = client.request(
            "GET", "me", token=exchanged.token, params={"fields": "id,name"}
        )
        profiles = [client.ig_profile(p.ig_user_id, exchanged.token) for p in pages]
    except GraphNetworkError as exc:
        raise LoginError("Facebook could not be reached. Try again.", 502) from exc
    except GraphError as exc:
        raise LoginError(
            f"Facebook refused the login: {exc.user_message()}", 401
        ) from exc
    fb_user_id = str(info.get("user_id"))
    if not pages:
        _forget_all(fb_user_id)
    person = accounts.person_for(fb_user_id, str(me.get("name") or ""))
    expires_at = (
        now_utc() + timedelta(seconds=exchanged.expires_in)
        if exchanged.expires_in
        else None
    )
    listed = []
    for page, profile in zip(pages, profiles, strict=True):
        user = _user_for_account(page.ig_user_id, tz)
        user.connect(
            token=exchanged.token,
            expires_at=expires_at,
            profile={
                "username": profile.get("username"),
                "profile_picture_url": profile.get("profile_picture_url"),
                "page_name": page.name,
                "fb_user_id": fb_user_id,
            },
        )
        listed.append(user)
    added, lost = accounts.sync_access(person, listed)
    chosen = next((u for u in listed if u.ig_account_id == chosen_ig_id), None)
    return accounts.Login(person, listed, added, lost, chosen)


def _user_for_account(ig_account_id: str, tz: str | None) -> User:
    """The row of an Instagram account, created (in the person's zone) on first login.

    Several browsers may log the same new account in at once. Each inserts with
    ON CONFLICT DO NOTHING, so the database keeps exactly one row and every
    request goes on to update it, instead of all but one failing on the UNIQUE
    ``ig_account_id``. SQLite and PostgreSQL both speak this dialect of upsert.
    """
    zone = helpers.valid_timezone(tz) or "UTC"
    db.session.execute(
        accounts.upsert(User)
        .values(ig_account_id=ig_account_id, timezone=zone)
        .on_conflict_do_nothing(index_elements=[User.ig_account_id])
    )
    return db.session.scalars(
        select(User).where(User.ig_account_id == ig_account_id)
    ).one()


def _forget_all(fb_user_id: str):
    """Meta lists no account for this person any more: take theirs away, then
    refuse the login with the reason."""
    person = db.session.scalar(select(Person).where(Person.fb_user_id == fb_user_id))
    if person is not None:
        accounts.sync_access(person, [])
    raise LoginError(NO_ACCOUNTS, 400, keep=person is not None)


def _check_token_info(info: dict) -> None:
    if not info.get("is_valid"):
        raise LoginError(
            "Your Facebook login has expired or is no longer valid. Log in again.", 401
        )
    if str(info.get("app_id")) != str(current_app.config["FB_APP_ID"]):
        raise LoginError("This Facebook login was issued to a different app.", 403)
    if info.get("type", "USER") != "USER" or not info.get("user_id"):
        raise LoginError("Log in with a personal Facebook account.", 403)


def _check_choice(pages, chosen_ig_id: str | None) -> None:
    if chosen_ig_id and all(p.ig_user_id != str(chosen_ig_id) for p in pages):
        raise LoginError(
            "That Instagram account is not managed by this Facebook login.", 403
        )


def schedule_overview(user: User) -> tuple[int, datetime | None]:
    """How many posts are scheduled and when the next one is due: what the
    time zone choice on the account page is about."""
    posts = user.scheduled_posts().subquery()
    count, first = db.session.execute(
        select(func.count(), func.min(posts.c.scheduled_at))
    ).one()
    return count, first


def change_timezone(
    user: User, tz: str, *, keep_clock: bool, now: datetime
) -> tuple[list[tuple[int, datetime]], list[str]]:
    """Read and show the user's times in ``tz`` from now on.

    Scheduled posts keep their moments, or with ``keep_clock`` their clock
    times: a post due at 09:00 stays due at 09:00, in the new zone. Returns the
    (post id, new time) of each post that moved, and a sentence for each whose
    clock time the new zone skips for daylight saving (it moves past the jump).
    Raises FormError, leaving the caller to roll back, when a post would land
    in the past or later than it may be scheduled.
    """
    old = user.timezone
    user.timezone = tz
    if not keep_clock or tz == old:
        return [], []
    moved, notes, refused = [], [], []
    for post in db.session.scalars(user.scheduled_posts().with_for_update()):
        when, shifted = helpers.same_clock_time(post.scheduled_at, old, tz)
        try:
            check_publish_time(when, user, now)
        except FormError as exc:
            refused.append(
                f"{post_label(post)}, at {helpers.format_local(when, tz)}: {exc}"
            )
            continue
        if shifted:
            notes.append(
                f"{post_label(post)} was due at "
                f"{helpers.format_local(post.scheduled_at, old, '%b %d %H:%M')}, "
                f"a time {tz} skips for daylight saving; it is now due at "
                f"{helpers.format_local(when, tz, '%b %d %H:%M')}."
            )
        if when != post.scheduled_at:
            post.schedule(when, content_changed=False)
            moved.append((post.id, when))
    if refused:
        raise FormError(
            "Nothing was changed: keeping the clock times in "
            f"{tz} would move {len(refused)} post{'s' if len(refused) > 1 else ''} "
            "out of reach: " + " ".join(refused) + " Keep the same moments "
            "instead, or reschedule those posts first."
        )
    return moved, notes


def timezone_message(tz: str, keep: str, moved: list, notes: list[str]) -> str:
    """What changing the zone did, for the account page."""
    said = [f"Times are now shown in {tz}."]
    if keep == "clock" and moved:
        said.append(
            "1 scheduled post keeps its clock time and so goes out at a new moment."
            if len(moved) == 1
            else f"{len(moved)} scheduled posts keep their clock times and so go "
            "out at new moments."
        )
    elif keep == "moments":
        said.append("Scheduled posts go out at the same moments as before.")
    return " ".join(said + notes)


def start_session(person: Person, account: User) -> None:
    """Log ``person`` in, looking at ``account``, under a brand-new session id
    (no session fixation)."""
    session.clear()
    session["person_id"] = person.id
    session["user_id"] = account.id
    session.permanent = True
    current_app.session_interface.regenerate(session)


def end_session(message: str) -> None:
    """Log out this browser, keeping only a goodbye message under a new id."""
    session.clear()
    flash(message, "info")
    current_app.session_interface.regenerate(session)


def _demo_token() -> str:
    """Ask the Graph API simulator to log in its demo user, as the FB SDK would."""
    import simulator

    graph = urlsplit(current_app.config["FB_ENDPOINT"])
    resp = requests.post(
        f"{graph.scheme}://{graph.netloc}/_sim/token",
        json={"fb_user_id": simulator.DEMO_USERS["demo"]},
        timeout=5,
    )
    resp.raise_for_status()
    return resp.json()["accessToken"]


def _accept_signed_request() -> signed_requests.SignedPayload:
    """Meta's callback payload, verified, fresh and first seen (else Refused)."""
    return signed_requests.accept(
        request.form.get("signed_request", ""),
        current_app.config["FB_APP_SECRET"],
        timedelta(seconds=current_app.config["SIGNED_REQUEST_MAX_AGE_SECONDS"]),
    )


def _person_of(fb_user_id: str) -> Person | None:
    return db.session.scalar(select(Person).where(Person.fb_user_id == fb_user_id))


# -- routes ------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
@ratelimit.login
def login():
    """Show the login page, or turn a Facebook token into a session."""
    if request.method in ("GET", "HEAD"):
        # Logged-in people only see this page to reconnect an expired login
        # or to connect another account (the same Facebook flow).
        connect = bool(g.person and request.args.get("connect"))
        if g.user and not (
            g.user.needs_reauth or request.args.get("reconnect") or connect
        ):
            return redirect(url_for("posts.index"))
        return render_template(
            "login/index.html", next=request.args.get("next", ""), connect=connect
        )
    data = _login_request()
    token = data.token
    if token is None or not 10 <= len(token) <= 4096:
        return {"ok": False, "error": "The Facebook login response had no token."}, 400
    return _finish_login(token, data)


@bp.post("/login/demo")
@ratelimit.login
def demo_login():
    """Demo mode: log in as the simulator's demo user through the real login code."""
    if not current_app.config["DEMO"]:
        return {"ok": False, "error": "Demo mode is off."}, 404
    data = _login_request()
    try:
        token = _demo_token()
    except (requests.RequestException, KeyError, ValueError):
        log.exception("demo simulator unavailable")
        return {
            "ok": False,
            "error": "The demo Instagram simulator is not running.",
        }, 502
    return _finish_login(token, data)


def _login_request() -> schemas.LoginRequest:
    return schemas.parse_json(
        schemas.LoginRequest,
        what="the Facebook login response",
        max_bytes=schemas.LOGIN_MAX_BYTES,
    )


def _finish_login(token: str, data: schemas.LoginRequest):
    ig_id = None if data.ig_id is None else str(data.ig_id)
    try:
        login = login_with_token(token, ig_id, data.timezone)
    except LoginError as exc:
        if exc.keep:
            db.session.commit()
        else:
            db.session.rollback()
        return {"ok": False, "error": exc.message}, exc.status
    same_person = g.get("person") is not None and g.person.id == login.person.id
    current = accounts.current_after_login(
        login, session.get("user_id") if same_person else None
    )
    message = accounts.login_message(login, connecting=same_person)
    db.session.commit()
    start_session(login.person, current)
    if message:
        flash(message, "warning" if login.lost else "success")
    target = data.next
    if not (target and helpers.is_safe_next(target)):
        target = url_for("posts.index")
    return {"ok": True, "redirect": target}


@bp.post("/logout")
def logout():
    """End the session on this browser."""
    end_session("You are logged out.")
    return redirect(url_for("auth.login"))


@bp.get("/account")
@helpers.login_required
def account():
    """Show the connected Instagram account, its login expiry, zone and quota."""
    scheduled, next_due = schedule_overview(g.user)
    return render_template(
        "account/index.html",
        zones=helpers.timezone_choices(),
        now=now_utc(),
        expiring=g.user.token_expires_soon(now_utc()),
        scheduled=scheduled,
        next_due=next_due,
    )


@bp.post("/account/timezone")
@ratelimit.mutations
@helpers.login_required
def update_timezone():
    """Change the zone Ospost uses to read and show times; scheduled posts keep
    their moments, or their clock times when the person chose that."""
    tz = helpers.valid_timezone(request.form.get("timezone"))
    keep = request.form.get("keep", "moments")
    if tz is None or keep not in ("moments", "clock"):
        flash("Choose a time zone from the list, and what your posts keep.", "danger")
        return redirect(url_for("auth.account"))
    try:
        moved, notes = change_timezone(
            g.user, tz, keep_clock=keep == "clock", now=now_utc()
        )
    except FormError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return redirect(url_for("auth.account"))
    db.session.commit()
    for post_id, when in moved:
        publisher.wake(post_id, when)
    flash(timezone_message(tz, keep, moved, notes), "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/delete")
@ratelimit.mutations
@helpers.person_required
def delete():
    """Delete the person's Ospost account: every account only they hold, with
    every post, file and session, and their access to shared ones; log out."""
    removal = accounts.delete_person(g.person)
    db.session.commit()
    accounts.purge_removed(removal)
    end_session("Your Ospost account and all its data were deleted.")
    return redirect(url_for("auth.login"))


@bp.get("/privacy")
def privacy():
    """The privacy policy Facebook Login requires."""
    return render_template("privacy_policy.html")


@bp.post("/facebook/deauthorize")
def deauthorize():
    """Meta says a person removed the app: forget their tokens and sessions."""
    try:
        payload = _accept_signed_request()
    except signed_requests.Refused as exc:
        return {"ok": False, "error": str(exc)}, 400
    person = _person_of(payload.fb_user_id)
    count = accounts.revoke_all(person, DEAUTHORIZED) if person else 0
    db.session.commit()
    return {"ok": True, "disconnected": count}


@bp.post("/facebook/data-deletion")
def data_deletion():
    """Meta asks us to delete a person's data: do it and give a status URL."""
    try:
        payload = _accept_signed_request()
    except signed_requests.Refused as exc:
        return {"ok": False, "error": str(exc)}, 400
    person = _person_of(payload.fb_user_id)
    removal = accounts.delete_person(person) if person else accounts.Removal()
    req = DeletionRequest(
        fb_user_id=payload.fb_user_id,
        accounts_deleted=removal.accounts_deleted,
        completed_at=now_utc(),
    )
    db.session.add(req)
    db.session.commit()
    accounts.purge_removed(removal)
    base = current_app.config["APP_URL"].rstrip("/")
    status_url = base + url_for("auth.deletion_status", code=req.confirmation_code)
    return {"url": status_url, "confirmation_code": req.confirmation_code}


@bp.get("/facebook/deletion/<code>")
def deletion_status(code: str):
    """Public status page for a data-deletion request."""
    req = db.one_or_404(
        select(DeletionRequest).where(DeletionRequest.confirmation_code == code),
        description="No deletion request has that confirmation code.",
    )
    return render_template("deletion_status.html", req=req)
