"""Notification routes: settings on the account page, one-click unsubscribe,
browser-push opt-in, and the demo Outbox page."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Annotated

import msgspec
from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

import helpers
from models import User
from models import db
from ospost import ratelimit
from ospost import schemas
from ospost.notify import mailer
from ospost.notify import push
from ospost.notify import render
from ospost.notify import webhooks
from ospost.notify.models import Delivery
from ospost.notify.models import NotificationEvent
from ospost.notify.models import NotificationSettings
from ospost.notify.models import PersonNotificationSettings
from ospost.notify.models import PushSubscription
from ospost.notify.models import person_settings_for
from ospost.notify.models import settings_for
from ospost.people import AccountAccess

log = logging.getLogger(__name__)
bp = Blueprint("notify", __name__)

ACCOUNT = "/account#notifications"
# One address, no display name, no header-breaking characters.
_EMAIL = re.compile(
    r"^[^@\s<>,;:\"()\[\]\\]+@[^@\s<>,;:\"()\[\]\\]+\.[^@\s<>,;:\"()\[\]\\]+$"
)
EMAIL_FIELDS = ("email_failed", "email_reauth", "email_expiring", "email_summary")
PUSH_FIELDS = ("push_failed", "push_published")
_SHOW_SECRET = "notify_show_webhook_secret"


class PushKeys(msgspec.Struct):
    p256dh: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    auth: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class PushSubscribeRequest(msgspec.Struct):
    """What the account page's ``PushSubscription.toJSON()`` sends."""

    endpoint: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    keys: PushKeys | None = None
    expirationTime: float | None = None  # the Push API spells it so


def _own_settings() -> NotificationSettings:
    """The account's webhook settings, added to the session to be changed."""
    prefs = settings_for(db.session, g.user.id)
    if prefs not in db.session:
        db.session.add(prefs)
    return prefs


def _my_settings(person_id: int, user_id: int) -> PersonNotificationSettings:
    """A person's email and push choices for an account, ready to be changed."""
    prefs = person_settings_for(db.session, person_id, user_id)
    if prefs not in db.session:
        db.session.add(prefs)
    return prefs


def _allow_private() -> bool:
    return bool(current_app.config["WEBHOOK_ALLOW_PRIVATE"])


# -- the account page's panel --------------------------------------------------


def notification_panel() -> dict:
    """What ``account/_notifications.html`` shows: the logged-in person's own
    email and push choices for the account, and the account's webhook."""
    cfg = current_app.config
    vapid = push.VapidSettings.from_config(cfg)
    prefs = settings_for(db.session, g.user.id)
    mine = person_settings_for(db.session, g.person.id, g.user.id)
    log_rows = db.session.execute(
        select(Delivery, NotificationEvent.kind)
        .join(NotificationEvent, NotificationEvent.id == Delivery.event_id)
        .where(Delivery.user_id == g.user.id, Delivery.channel == "webhook")
        .order_by(Delivery.id.desc())
        .limit(20)
    ).all()
    return {
        "prefs": mine,
        "webhook": prefs,
        "demo": cfg["DEMO"],
        "email_ready": cfg["DEMO"] or mailer.SmtpSettings.from_config(cfg) is not None,
        "push_key": vapid.public_key if vapid else None,
        "push_count": db.session.scalar(
            select(func.count(PushSubscription.id)).where(
                PushSubscription.person_id == g.person.id
            )
        ),
        "webhook_log": log_rows,
        # Shown once, right after it was made.
        "new_secret": prefs.webhook_secret
        if session.pop(_SHOW_SECRET, False)
        else None,
        "labels": render.EMAIL_LABELS,
    }


# -- settings --------------------------------------------------------------------


@bp.post("/account/notifications")
@ratelimit.mutations
@helpers.login_required
def save_settings():
    """Save where to email the logged-in person about this account, and which
    emails and pushes they want (nobody else's choices change)."""
    address = (request.form.get("email") or "").strip()
    if address and (len(address) > 254 or not _EMAIL.match(address)):
        flash("Enter one email address, like name@example.com.", "danger")
        return redirect(ACCOUNT)
    prefs = _my_settings(g.person.id, g.user.id)
    prefs.email = address or None
    # Push choices are on the form only where push is set up.
    fields = EMAIL_FIELDS + (PUSH_FIELDS if request.form.get("push_prefs") else ())
    for name in fields:
        setattr(prefs, name, request.form.get(name) == "on")
    db.session.commit()
    flash("Notification settings saved.", "success")
    return redirect(ACCOUNT)


@bp.post("/account/webhook")
@ratelimit.mutations
@helpers.login_required
def save_webhook():
    """Set, re-key or remove the URL this account's events are POSTed to."""
    action = request.form.get("action", "save")
    prefs = _own_settings()
    if action == "remove":
        prefs.webhook_url = None
        prefs.webhook_secret = None
        db.session.commit()
        flash("Webhook removed.", "success")
        return redirect(ACCOUNT)
    if action == "regenerate":
        if not prefs.webhook_url:
            flash("Set a webhook URL first.", "danger")
            return redirect(ACCOUNT)
        prefs.webhook_secret = _new_secret()
        db.session.commit()
        session[_SHOW_SECRET] = True
        flash("New signing secret made: update your receiver.", "success")
        return redirect(ACCOUNT)
    url = (request.form.get("url") or "").strip()
    try:
        webhooks.check_url(url, allow_private=_allow_private())
    except webhooks.WebhookError as exc:
        db.session.rollback()
        flash(f"That webhook URL cannot be used: {exc}", "danger")
        return redirect(ACCOUNT)
    prefs.webhook_url = url
    fresh = not prefs.webhook_secret
    if fresh:
        prefs.webhook_secret = _new_secret()
        session[_SHOW_SECRET] = True
    db.session.commit()
    flash("Webhook saved.", "success")
    return redirect(ACCOUNT)


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


# -- browser push ----------------------------------------------------------------


@bp.post("/account/push")
@ratelimit.mutations
@helpers.login_required
def subscribe_push():
    """Remember this browser as the logged-in person's: it gets pushes about
    the accounts they hold and want pushes for."""
    if push.VapidSettings.from_config(current_app.config) is None:
        return {"ok": False, "error": "Browser notifications are not set up here."}, 404
    data = schemas.parse_json(
        PushSubscribeRequest, what="the push subscription", max_bytes=8 * 1024
    )
    if data.keys is None:
        return {"ok": False, "error": "The subscription has no keys."}, 400
    try:
        webhooks.check_url(data.endpoint, allow_private=_allow_private())
    except webhooks.WebhookError as exc:
        return {"ok": False, "error": f"That push service cannot be used: {exc}"}, 400
    if not data.endpoint.startswith("https://") and not _allow_private():
        return {"ok": False, "error": "Push services use https:// addresses."}, 400
    # The endpoint names one browser: it belongs to whoever subscribed it last.
    db.session.execute(
        delete(PushSubscription).where(PushSubscription.endpoint == data.endpoint)
    )
    db.session.add(
        PushSubscription(
            person_id=g.person.id,
            endpoint=data.endpoint,
            p256dh=data.keys.p256dh,
            auth=data.keys.auth,
        )
    )
    db.session.commit()
    return {"ok": True}


@bp.post("/account/push/remove")
@ratelimit.mutations
@helpers.login_required
def unsubscribe_push():
    """Stop pushing to this browser."""
    data = schemas.parse_json(
        PushSubscribeRequest, what="the push subscription", max_bytes=8 * 1024
    )
    db.session.execute(
        delete(PushSubscription).where(
            PushSubscription.person_id == g.person.id,
            PushSubscription.endpoint == data.endpoint,
        )
    )
    db.session.commit()
    return {"ok": True}


# -- one-click unsubscribe (RFC 8058) ----------------------------------------------


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@ratelimit.mutations
def unsubscribe(token: str):
    """GET: ask to confirm. POST (the page's button or the mail client's
    one-click request): turn that kind of email off. No login, no CSRF token:
    the signed token in the link is the authority."""
    found = render.read_unsubscribe_token(current_app.config["SECRET_KEY"], token)
    user = db.session.get(User, found.user_id) if found else None
    if user is None or user.ig_account_id != found.ig_account_id:
        abort(404)
    rows = _unsubscribing(found)
    if found.person_id is not None and not rows:
        abort(404)  # that person no longer holds the account
    if request.method == "POST":
        for prefs in rows:
            setattr(prefs, render.EMAIL_PREFS[found.kind], False)
        db.session.commit()
        log.info(
            "person %s unsubscribed from %s emails of account %s",
            found.person_id or "(every holder)",
            found.kind,
            user.id,
        )
    return render_template(
        "notify/unsubscribe.html",
        done=request.method == "POST",
        label=render.EMAIL_LABELS[found.kind],
        username=user.ig_username,
        address=", ".join(sorted({p.email for p in rows if p.email})),
        token=token,
    )


def _unsubscribing(found: render.Unsubscribe) -> list[PersonNotificationSettings]:
    """The choices an unsubscribe link speaks for: its person's for the account
    (if they still hold it), or, in a link from before people existed, those of
    everyone holding the account."""
    holders = select(AccountAccess.person_id).where(
        AccountAccess.user_id == found.user_id
    )
    if found.person_id is not None:
        holders = holders.where(AccountAccess.person_id == found.person_id)
    return [
        _my_settings(person_id, found.user_id)
        for person_id in db.session.scalars(holders.order_by(AccountAccess.person_id))
    ]


# -- demo outbox -----------------------------------------------------------------


@bp.get("/notifications/outbox")
@helpers.login_required
def outbox_page():
    """Demo mode: every notification Ospost would have sent about this account
    to its webhook and to the logged-in person."""
    if not current_app.config["DEMO"]:
        abort(404)
    rows = db.session.execute(
        select(Delivery, NotificationEvent)
        .join(NotificationEvent, NotificationEvent.id == Delivery.event_id)
        .where(
            Delivery.user_id == g.user.id,
            # The account's webhooks, and this person's own emails and pushes.
            or_(Delivery.person_id.is_(None), Delivery.person_id == g.person.id),
        )
        .order_by(Delivery.id.desc())
        .limit(50)
    ).all()
    links = render.Links(current_app.config["APP_URL"])
    prefs = settings_for(db.session, g.user.id)
    items = [
        _preview(delivery, event, links, prefs.webhook_secret)
        for delivery, event in rows
    ]
    return render_template("notify/outbox.html", items=items)


def _preview(delivery, event, links, secret) -> dict:
    cfg = current_app.config
    item = {"delivery": delivery, "event": event}
    if delivery.channel == "email":
        smtp = mailer.SmtpSettings.from_config(cfg)
        message = render.email_message(
            event,
            delivery,
            g.user,
            sender=smtp.sender if smtp else "Ospost <ospost@example.invalid>",
            links=links,
            secret_key=cfg["SECRET_KEY"],
        )
        item["headers"] = [
            (name, message[name])
            for name in (
                "From",
                "To",
                "Subject",
                "List-Unsubscribe",
                "List-Unsubscribe-Post",
            )
        ]
        item["body"] = message.get_content()
    elif delivery.channel == "webhook":
        body = render.webhook_body(event, g.user, links)
        stamp = int((delivery.sent_at or delivery.created_at).timestamp())
        headers = render.webhook_headers(event, secret or "(no secret)", body, stamp)
        item["headers"] = [("POST", delivery.target), *headers.items()]
        item["body"] = body.decode()
    else:
        payload = render.push_payload(event, g.user, links)
        item["headers"] = [("Title", payload["title"]), ("Link", payload["url"])]
        item["body"] = payload["body"]
    return item
