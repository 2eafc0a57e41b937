"""Webhooks and Web Push to a real HTTP receiver: signatures, retries, the
delivery log, the SSRF guard at save and send time, VAPID encryption and 410."""

from __future__ import annotations

import json
import socket

import pytest
from notify_servers import BrowserKeys
from notify_servers import verify_signature
from notify_support import JSON
from notify_support import config
from notify_support import deliveries
from notify_support import drain
from notify_support import failed_event
from notify_support import log_in
from notify_support import published_event
from notify_support import record
from notify_support import set_webhook
from notify_support import shown_secret
from notify_support import the_user
from sqlalchemy import func
from sqlalchemy import select

from models import db
from ospost.notify import webhooks
from ospost.notify.models import NotificationSettings
from ospost.notify.models import PushSubscription
from ospost.notify.push import new_private_key


def test_webhooks_are_signed_shown_once_and_logged(make_app, world, receiver):
    app = make_app(**config())
    client = log_in(app, world, email=None)
    assert set_webhook(client, receiver.url()).status_code == 302
    secret = shown_secret(client)
    assert secret and shown_secret(client) is None  # shown only once
    user = the_user(app)
    record(app, failed_event(user), published_event(user))
    drain(app)
    assert receiver.count() == 2
    kinds = []
    for req in receiver.requests:
        headers, body = req["headers"], req["body"]
        assert verify_signature(secret, headers["X-Ospost-Signature"], body)
        assert not verify_signature("whsec_wrong", headers["X-Ospost-Signature"], body)
        doc = json.loads(body)
        assert headers["Idempotency-Key"] == headers["X-Ospost-Event-Id"] == doc["id"]
        assert headers["X-Ospost-Event"] == doc["type"]
        assert doc["account"]["username"] == "ospost.demo"
        kinds.append(doc["type"])
    assert sorted(kinds) == ["post.failed", "post.published"]
    failed = next(
        json.loads(r["body"]) for r in receiver.requests if b"failed" in r["body"]
    )
    assert failed["data"]["reason"] == "Too many tags."
    assert failed["data"]["url"] == "https://ospost.test/post/7/edit"
    page = client.get("/account").get_data(as_text=True)
    assert page.count("sent · HTTP 200") == 2
    # A new secret signs from now on; the old one no longer verifies.
    client.post("/account/webhook", data={"action": "regenerate"})
    fresh = shown_secret(client)
    assert fresh and fresh != secret
    record(app, failed_event(user, occurrence="2"))
    drain(app)
    last = receiver.requests[-1]
    assert verify_signature(fresh, last["headers"]["X-Ospost-Signature"], last["body"])
    assert not verify_signature(
        secret, last["headers"]["X-Ospost-Signature"], last["body"]
    )


def test_webhook_retries_with_backoff_no_redirects_and_short_answers(
    make_app, world, receiver
):
    app = make_app(**config())
    client = log_in(app, world, email=None)
    set_webhook(client, receiver.url())
    receiver.statuses = [500, 302, 503]
    receiver.reply_body = b"E" * 10_000
    record(app, failed_event(the_user(app)))
    drain(app)
    assert [r["path"] for r in receiver.requests] == ["/hook"] * 4  # 302 not followed
    ids = {r["headers"]["X-Ospost-Event-Id"] for r in receiver.requests}
    assert len(ids) == 1
    [sent] = deliveries(app)
    assert (sent.status, sent.attempts, sent.response_code) == ("sent", 4, 200)
    assert len(sent.last_error) <= 300
    page = client.get("/account").get_data(as_text=True)
    assert "sent · HTTP 200" in page


def test_webhook_gives_up_after_the_retry_window(make_app, world, receiver):
    app = make_app(**config(NOTIFY_RETRY_HOURS=0.5 / 3600))
    client = log_in(app, world, email=None)
    set_webhook(client, receiver.url())
    receiver.default_status = 500
    record(app, failed_event(the_user(app)))
    drain(app)
    [gone] = deliveries(app)
    assert gone.status == "failed" and gone.last_error.startswith(
        "Gave up after retrying"
    )
    assert gone.response_code == 500 and receiver.count() >= 1
    assert "HTTP 500" in client.get("/account").get_data(as_text=True)


PRIVATE_URLS = [
    "http://127.0.0.1/hook",
    "http://localhost:8080/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://[::1]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[::ffff:127.0.0.1]/",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_webhook_urls_are_refused_when_saved(make_app, world, url):
    app = make_app(**config(WEBHOOK_ALLOW_PRIVATE=False))
    client = log_in(app, world, email=None)
    set_webhook(client, url)
    assert "That webhook URL cannot be used" in client.get("/account").get_data(
        as_text=True
    )
    with app.app_context():
        row = db.session.get(NotificationSettings, the_user(app).id)
        assert row is None or row.webhook_url is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "http://user:pw@93.184.215.14/",
        "javascript:alert(1)",
        "http:///x",
        "http://93.184.215.14:99999/",
    ],
)
def test_malformed_webhook_urls_are_refused(url):
    with pytest.raises(webhooks.UnsafeURL):
        webhooks.check_url(url, allow_private=True)


def test_a_name_with_any_private_address_is_refused():
    def resolver(host, port, type):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    with pytest.raises(webhooks.UnsafeURL, match="10.0.0.5"):
        webhooks.check_url(
            "https://hooks.example/x", allow_private=False, resolve=resolver
        )
    target = webhooks.check_url("https://93.184.215.14/x?a=1", allow_private=False)
    assert (target.address, target.path, target.port) == (
        "93.184.215.14",
        "/x?a=1",
        443,
    )


def test_private_addresses_are_refused_again_at_send_time(make_app, world, receiver):
    """A name that was public when saved and points inside now (DNS rebinding)."""
    app = make_app(**config(WEBHOOK_ALLOW_PRIVATE=False))
    client = log_in(app, world, email=None)
    user = the_user(app)
    with app.app_context():
        db.session.add(
            NotificationSettings(
                user_id=user.id, webhook_url=receiver.url(), webhook_secret="whsec_x"
            )
        )
        db.session.commit()
    record(app, failed_event(user))
    drain(app)
    [refused] = deliveries(app)
    assert refused.status == "failed" and "private" in refused.last_error
    assert receiver.count() == 0
    assert client.get("/account").status_code == 200


def test_the_request_goes_to_the_address_that_was_checked(receiver, monkeypatch):
    """The name is resolved once, checked, and that address is connected to:
    a second lookup (which could answer differently) never happens."""
    real = socket.getaddrinfo
    lookups = []

    def rebinding(host, port, *args, **kwargs):
        if host != "hook.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        if len(lookups) > 1:
            raise socket.gaierror("a second lookup would be answered by an attacker")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    answer = webhooks.post(
        f"http://hook.test:{receiver.port}/in",
        b"{}",
        {"X-Test": "1"},
        allow_private=True,
    )
    assert answer.status == 200 and lookups == ["hook.test"]
    [req] = receiver.requests
    assert req["headers"]["Host"] == f"hook.test:{receiver.port}"
    assert req["path"] == "/in"


# -- browser push --------------------------------------------------------------------


def test_push_is_encrypted_vapid_signed_and_a_gone_browser_is_forgotten(
    make_app, world, receiver
):
    app = make_app(
        **config(
            VAPID_PRIVATE_KEY=new_private_key(), VAPID_SUBJECT="mailto:ops@ospost.test"
        )
    )
    client = log_in(app, world, email=None)
    browser = BrowserKeys()
    subscription = browser.subscription(receiver.url("/push/browser-1"))
    resp = client.post("/account/push", json=subscription, headers=JSON)
    assert resp.status_code == 200, resp.get_json()
    assert "1 browser get" in client.get("/account").get_data(as_text=True)
    user = the_user(app)
    receiver.default_status = 201
    record(app, failed_event(user))
    drain(app)
    [req] = receiver.requests
    headers = req["headers"]
    assert headers["Content-Encoding"] == "aes128gcm" and int(headers["TTL"]) > 0
    assert headers["Authorization"].startswith("vapid t=")
    payload = json.loads(browser.decrypt(req["body"]))
    assert payload["title"] == "Post failed on @ospost.demo"
    assert payload["body"] == "Sunset over the bay — Too many tags."
    assert payload["url"] == "https://ospost.test/post/7/edit"
    # The browser unsubscribed: the push service answers 410, Ospost forgets it.
    receiver.default_status = 410
    record(app, published_event(user))
    drain(app)
    assert [d.status for d in deliveries(app)] == ["sent", "failed"]
    with app.app_context():
        assert db.session.scalar(select(func.count(PushSubscription.id))) == 0


def test_push_subscriptions_to_private_addresses_are_refused(make_app, world, receiver):
    app = make_app(
        **config(
            WEBHOOK_ALLOW_PRIVATE=False,
            VAPID_PRIVATE_KEY=new_private_key(),
            VAPID_SUBJECT="mailto:ops@ospost.test",
        )
    )
    client = log_in(app, world, email=None)
    sub = BrowserKeys().subscription(receiver.url("/push/x"))
    resp = client.post("/account/push", json=sub, headers=JSON)
    assert resp.status_code == 400 and "cannot be used" in resp.get_json()["error"]
    assert client.post("/account/push", data="{", headers=JSON).status_code == 400
