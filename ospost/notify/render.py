"""What each notification says, per channel: email text, webhook JSON, push.

The delivery worker sends these and the demo Outbox page shows them, from the
same functions. Times are shown in the account's time zone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit

from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer

import helpers
from ospost.notify import events as ev

# Which events go out on which channel, and the setting that turns each on.
EMAIL_PREFS = {
    ev.POST_FAILED: "email_failed",
    ev.NEEDS_REAUTH: "email_reauth",
    ev.LOGIN_EXPIRING: "email_expiring",
    ev.DAILY_SUMMARY: "email_summary",
}
PUSH_PREFS = {ev.POST_FAILED: "push_failed", ev.POST_PUBLISHED: "push_published"}
WEBHOOK_KINDS = (ev.POST_PUBLISHED, ev.POST_FAILED, ev.NEEDS_REAUTH)
# What the account page and the unsubscribe page call each email.
EMAIL_LABELS = {
    ev.POST_FAILED: "a post failed",
    ev.NEEDS_REAUTH: "Instagram needs you to log in again",
    ev.LOGIN_EXPIRING: "your Instagram login expires soon",
    ev.DAILY_SUMMARY: "a daily summary",
}
SIGNATURE_HEADER = "X-Ospost-Signature"
_UNSUBSCRIBE_SALT = "ospost.unsubscribe"


@dataclass(frozen=True)
class Links:
    """Absolute links into this Ospost (``APP_URL``)."""

    base: str

    def to(self, path: str) -> str:
        return self.base.rstrip("/") + path

    @property
    def host(self) -> str:
        return urlsplit(self.base).hostname or "ospost.invalid"


def _when(value: str | None, tz: str) -> str:
    if not value or value == "never":
        return ""
    return helpers.format_local(datetime.fromisoformat(value), tz)


# -- email -------------------------------------------------------------------


def email_text(event, user, links: Links) -> tuple[str, str]:
    """(subject, body) of the email for ``event``."""
    data, tz, name = event.payload, user.timezone, f"@{user.ig_username}"
    if event.kind == ev.POST_FAILED:
        caption = data.get("caption") or "(no caption)"
        edit = links.to(f"/post/{data.get('post_id')}/edit")
        return (
            f"Post not published on {name}: {caption}",
            f"Ospost could not publish your post on {name} scheduled for "
            f"{_when(data.get('scheduled_at'), tz)}:\n\n  {caption}\n\n"
            f"Why: {data.get('reason') or 'Instagram refused it.'}\n\n"
            "Open the post to fix it and retry (reschedule it, or use Post now):\n"
            f"{edit}\n",
        )
    if event.kind == ev.NEEDS_REAUTH:
        return (
            f"Log in again: Instagram disconnected {name} from Ospost",
            f"Instagram stopped accepting Ospost's login for {name}.\n"
            f"{data.get('reason') or ''}\n\n"
            "Scheduled posts wait until you log in again:\n"
            f"{links.to('/login?reconnect=1')}\n",
        )
    if event.kind == ev.LOGIN_EXPIRING:
        expires = _when(data.get("expires_at"), tz)
        count = data.get("posts_after") or 0
        return (
            f"Your Instagram login for {name} expires on {expires}",
            f"Ospost's Instagram login for {name} expires on {expires}.\n"
            f"{count} scheduled post{'s are' if count != 1 else ' is'} due after "
            f"that (the first on {_when(data.get('first_post_at'), tz)}), and "
            "would not be published.\n\n"
            f"Log in again before then to keep publishing:\n"
            f"{links.to('/login?reconnect=1')}\n",
        )
    if event.kind == ev.DAILY_SUMMARY:
        pub, failed = data.get("published", 0), data.get("failed", 0)
        return (
            f"Ospost daily summary for {name}: {pub} published, {failed} failed",
            f"Your Ospost day on {name} ({data.get('date')}):\n\n"
            f"  Published in the last 24 hours: {pub}\n"
            f"  Failed in the last 24 hours:    {failed}\n"
            f"  Scheduled for the next 24 hours: {data.get('scheduled_next_day', 0)}"
            "\n\n"
            f"See your grid: {links.to('/')}\n",
        )
    raise ValueError(f"no email for {event.kind}")


def email_message(event, delivery, user, *, sender: str, links: Links, secret_key: str):
    """The whole email: stable Message-ID and RFC 8058 one-click unsubscribe."""
    subject, body = email_text(event, user, links)
    token = unsubscribe_token(secret_key, delivery.person_id, user, event.kind)
    unsubscribe = links.to(f"/unsubscribe/{token}")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = delivery.target
    msg["Subject"] = subject
    msg["Date"] = format_datetime(event.created_at.astimezone(UTC))
    # The same for every try of this delivery: a resend after a crash is
    # recognised as a duplicate by mail systems that look.
    msg["Message-ID"] = f"<ospost.{event.uid}.{delivery.id}@{links.host}>"
    msg["List-Unsubscribe"] = f"<{unsubscribe}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    label = EMAIL_LABELS.get(event.kind, event.kind)
    msg.set_content(
        f"{body}\n--\nOspost · {links.base}\n"
        f"You get this email because you asked to hear when {label}.\n"
        f"Stop these emails (one click): {unsubscribe}\n"
        f"All notification settings: {links.to('/account#notifications')}\n"
    )
    return msg


def unsubscribe_token(secret_key: str, person_id: int, user, kind: str) -> str:
    """An unguessable link token that turns one kind of email about one account
    off for one person."""
    return URLSafeSerializer(secret_key, salt=_UNSUBSCRIBE_SALT).dumps(
        [person_id, user.id, user.ig_account_id, kind]
    )


@dataclass(frozen=True)
class Unsubscribe:
    """What a genuine unsubscribe link is for. ``person_id`` is None in links
    from before people existed: those spoke for everyone holding the account."""

    person_id: int | None
    user_id: int
    ig_account_id: str
    kind: str


def read_unsubscribe_token(secret_key: str, token: str) -> Unsubscribe | None:
    """What a genuine token unsubscribes from, else None."""
    try:
        parts = URLSafeSerializer(secret_key, salt=_UNSUBSCRIBE_SALT).loads(token)
    except (BadSignature, TypeError, ValueError):
        return None
    if not isinstance(parts, list) or len(parts) not in (3, 4):
        return None
    person_id = parts.pop(0) if len(parts) == 4 else None
    user_id, account, kind = parts
    if not isinstance(user_id, int) or kind not in EMAIL_PREFS:
        return None
    if person_id is not None and not isinstance(person_id, int):
        return None
    return Unsubscribe(person_id, user_id, str(account), kind)


# -- webhooks ----------------------------------------------------------------


def webhook_body(event, user, links: Links) -> bytes:
    """The JSON document POSTed for ``event`` (compact, UTF-8)."""
    data = dict(event.payload)
    if "post_id" in data:
        data["url"] = links.to(f"/post/{data['post_id']}/edit")
    doc = {
        "id": event.uid,
        "type": event.kind,
        "created_at": event.created_at.astimezone(UTC).isoformat(),
        "account": {"id": user.ig_account_id, "username": user.ig_username},
        "data": data,
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_headers(event, secret: str, body: bytes, timestamp: int) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": "Ospost-Webhook/1",
        "X-Ospost-Event": event.kind,
        # The same on every retry: receivers drop what they already handled.
        "X-Ospost-Event-Id": event.uid,
        "Idempotency-Key": event.uid,
        SIGNATURE_HEADER: signature(secret, body, timestamp),
    }


# -- push --------------------------------------------------------------------


def push_payload(event, user, links: Links) -> dict:
    """Title, text and link of the browser notification for ``event``."""
    data = event.payload
    url = links.to(f"/post/{data.get('post_id')}/edit")
    caption = data.get("caption") or "(no caption)"
    if event.kind == ev.POST_FAILED:
        title = f"Post failed on @{user.ig_username}"
        body = f"{caption} — {data.get('reason') or 'Instagram refused it.'}"
    elif event.kind == ev.POST_PUBLISHED:
        title = f"Published on @{user.ig_username}"
        body = caption
        url = data.get("permalink") or url
    else:
        raise ValueError(f"no push for {event.kind}")
    return {"title": title, "body": body[:240], "url": url, "tag": event.uid}
