"""Logging in with Facebook, the account page, and Meta's data callbacks.

The browser only hands us a short-lived Facebook token. Which Instagram account
that token may post to is decided here, by asking Meta (``debug_token`` and
``/me/accounts``); an Instagram id sent by the browser is only a choice among the
accounts Meta lists for that token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
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
from sqlalchemy import select

import helpers
from models import DeletionRequest
from models import User
from models import db
from models import now_utc
from ospost.graph import GraphError
from ospost.graph import GraphNetworkError
from ospost.graph import client_for
from ospost.scheduler import publisher
from ospost.sessions import end_user_sessions
from ospost.storage import staged_names

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)


class LoginError(Exception):
    """A login attempt that must be refused, with the sentence to show."""

    def __init__(self, message: str, status: int = 400, accounts=None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.accounts = accounts


# -- services ----------------------------------------------------------------


def login_with_token(short_token: str, chosen_ig_id: str | None, tz: str | None):
    """Verify a browser token with Meta and return the (new or updated) user."""
    client = client_for(current_app.config)
    try:
        info = client.debug_token(short_token)
        _check_token_info(info)
        exchanged = client.exchange_token(short_token)
        pages = [p for p in client.pages(exchanged.token) if p.ig_user_id]
        page = _choose_page(pages, chosen_ig_id)
        profile = client.ig_profile(page.ig_user_id, exchanged.token)
    except GraphNetworkError as exc:
        raise LoginError("Facebook could not be reached. Try again.", 502) from exc
    except GraphError as exc:
        raise LoginError(
            f"Facebook refused the login: {exc.user_message()}", 401
        ) from exc
    user = db.session.scalar(select(User).where(User.ig_account_id == page.ig_user_id))
    if user is None:
        user = User(
            ig_account_id=page.ig_user_id, timezone=helpers.valid_timezone(tz) or "UTC"
        )
        db.session.add(user)
    expires_at = (
        now_utc() + timedelta(seconds=exchanged.expires_in)
        if exchanged.expires_in
        else None
    )
    user.connect(
        token=exchanged.token,
        expires_at=expires_at,
        profile={
            "username": profile.get("username"),
            "profile_picture_url": profile.get("profile_picture_url"),
            "page_name": page.name,
            "fb_user_id": str(info.get("user_id")),
        },
    )
    return user


def _check_token_info(info: dict) -> None:
    if not info.get("is_valid"):
        raise LoginError(
            "Your Facebook login has expired or is no longer valid. Log in again.", 401
        )
    if str(info.get("app_id")) != str(current_app.config["FB_APP_ID"]):
        raise LoginError("This Facebook login was issued to a different app.", 403)
    if info.get("type", "USER") != "USER" or not info.get("user_id"):
        raise LoginError("Log in with a personal Facebook account.", 403)


def _choose_page(pages, chosen_ig_id: str | None):
    if not pages:
        raise LoginError(
            "None of your Facebook Pages is linked to an Instagram business or "
            "creator account. Link one in the Instagram app (Settings → Account "
            "type and tools) or in Meta Business Suite, then log in again.",
            400,
        )
    if chosen_ig_id:
        for page in pages:
            if page.ig_user_id == str(chosen_ig_id):
                return page
        raise LoginError(
            "That Instagram account is not managed by this Facebook login.", 403
        )
    if len(pages) > 1:
        raise LoginError(
            "Choose which Instagram account Ospost should post to.",
            409,
            accounts=[{"ig_id": p.ig_user_id, "page": p.name} for p in pages],
        )
    return pages[0]


def start_session(user: User) -> None:
    """Log ``user`` in under a brand-new session id (no session fixation)."""
    session.clear()
    session["user_id"] = user.id
    session.permanent = True
    current_app.session_interface.regenerate(session)


def end_session(message: str) -> None:
    """Log out this browser, keeping only a goodbye message under a new id."""
    session.clear()
    flash(message, "info")
    current_app.session_interface.regenerate(session)


def delete_account(user: User) -> list[str]:
    """Remove the user, their posts, jobs and sessions; returns staged files to delete.

    The caller commits, then deletes the files (``purge_files``).
    """
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
    current_app.extensions["media_store"].delete_user(ig_account_id, staged)


def parse_signed_request(signed_request: str, secret: str) -> dict | None:
    """Decode Meta's ``signed_request``; None unless the HMAC-SHA256 signature holds."""
    try:
        sig_part, payload_part = signed_request.split(".", 1)
        signature = _b64url(sig_part)
        payload = json.loads(_b64url(payload_part))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    if str(payload.get("algorithm", "")).upper() != "HMAC-SHA256":
        return None
    expected = hmac.new(secret.encode(), payload_part.encode(), hashlib.sha256).digest()
    return payload if hmac.compare_digest(signature, expected) else None


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


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


def _signed_payload() -> dict | None:
    return parse_signed_request(
        request.form.get("signed_request", ""), current_app.config["FB_APP_SECRET"]
    )


def _users_of(fb_user_id: str) -> list[User]:
    return list(db.session.scalars(select(User).where(User.fb_user_id == fb_user_id)))


# -- routes ------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the login page, or turn a Facebook token into a session."""
    if request.method == "GET":
        # Logged-in people only see this page to reconnect an expired login.
        if g.user and not (g.user.needs_reauth or request.args.get("reconnect")):
            return redirect(url_for("posts.index"))
        return render_template("login/index.html", next=request.args.get("next", ""))
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return {"ok": False, "error": "Send the Facebook login response as JSON."}, 400
    token = data.get("accessToken") or (data.get("authResponse") or {}).get(
        "accessToken"
    )
    if not isinstance(token, str) or not 10 <= len(token) <= 4096:
        return {"ok": False, "error": "The Facebook login response had no token."}, 400
    return _finish_login(token, data)


@bp.post("/login/demo")
def demo_login():
    """Demo mode: log in as the simulator's demo user through the real login code."""
    if not current_app.config["DEMO"]:
        return {"ok": False, "error": "Demo mode is off."}, 404
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    try:
        token = _demo_token()
    except (requests.RequestException, KeyError, ValueError):
        log.exception("demo simulator unavailable")
        return {
            "ok": False,
            "error": "The demo Instagram simulator is not running.",
        }, 502
    return _finish_login(token, data)


def _finish_login(token: str, data: dict):
    ig_id = data.get("ig_id")
    tz = data.get("timezone")
    try:
        user = login_with_token(
            token,
            str(ig_id) if isinstance(ig_id, str | int) else None,
            tz if isinstance(tz, str) else None,
        )
    except LoginError as exc:
        db.session.rollback()
        return {"ok": False, "error": exc.message, "accounts": exc.accounts}, exc.status
    db.session.commit()
    start_session(user)
    target = data.get("next")
    if not (isinstance(target, str) and helpers.is_safe_next(target)):
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
    return render_template(
        "account/index.html",
        zones=helpers.timezone_choices(),
        now=now_utc(),
        expiring=g.user.token_expires_soon(now_utc()),
    )


@bp.post("/account/timezone")
@helpers.login_required
def update_timezone():
    """Change the zone Ospost uses to read and show times."""
    tz = helpers.valid_timezone(request.form.get("timezone"))
    if tz is None:
        flash("Choose a time zone from the list.", "danger")
        return redirect(url_for("auth.account"))
    g.user.timezone = tz
    db.session.commit()
    flash(f"Times are now shown in {tz}.", "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/delete")
@helpers.login_required
def delete():
    """Delete the account with every post, file and session, then log out."""
    ig_account_id = g.user.ig_account_id
    staged = delete_account(g.user)
    db.session.commit()
    purge_files(ig_account_id, staged)
    end_session("Your account and all its data were deleted.")
    return redirect(url_for("auth.login"))


@bp.get("/privacy")
def privacy():
    """The privacy policy Facebook Login requires."""
    return render_template("privacy_policy.html")


@bp.post("/facebook/deauthorize")
def deauthorize():
    """Meta says a person removed the app: forget their tokens and sessions."""
    payload = _signed_payload()
    if payload is None or not payload.get("user_id"):
        return {"ok": False, "error": "Invalid signed_request."}, 400
    users = _users_of(str(payload["user_id"]))
    for user in users:
        user.disconnect()
        end_user_sessions(user.id)
    db.session.commit()
    return {"ok": True, "disconnected": len(users)}


@bp.post("/facebook/data-deletion")
def data_deletion():
    """Meta asks us to delete a person's data: do it and give a status URL."""
    payload = _signed_payload()
    if payload is None or not payload.get("user_id"):
        return {"ok": False, "error": "Invalid signed_request."}, 400
    users = _users_of(str(payload["user_id"]))
    files = [(u.ig_account_id, delete_account(u)) for u in users]
    req = DeletionRequest(
        fb_user_id=str(payload["user_id"]),
        accounts_deleted=len(users),
        completed_at=now_utc(),
    )
    db.session.add(req)
    db.session.commit()
    for ig_account_id, staged in files:
        purge_files(ig_account_id, staged)
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
