"""Notifications: email, webhooks and browser push when Ospost is closed.

- ``models``: each person's email and push choices per account, the
  account's webhook, the outbox (events and their deliveries)
  and push subscriptions;
- ``events``: recording an event in the transaction of the change behind it;
- ``outbox``: the delivery worker (an interval job in every process);
- ``render``: what each notification says on each channel;
- ``mailer``, ``webhooks``, ``push``: the clients that send, each with
  timeouts and typed errors;
- ``views``: the account page's settings, unsubscribe links, the demo Outbox.

``init_app(app)`` wires it all; ``app.py`` calls it from ``create_app()``.
"""

from __future__ import annotations

import os

import click
from flask import Flask

# Read from the environment (and .env) under these plain names.
ENV_SETTINGS = (
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_SECURITY",
    "SMTP_USER",
    "SMTP_PASSWORD",
    "SMTP_FROM",
    "SMTP_CA_FILE",
    "WEBHOOK_ALLOW_PRIVATE",
    "VAPID_PRIVATE_KEY",
    "VAPID_SUBJECT",
)
DEFAULTS = {
    "NOTIFY_ENABLED": True,
    # How often each process looks for notifications to send.
    "NOTIFY_INTERVAL_SECONDS": 5,
    # A claimed delivery is another worker's to retry after this long.
    "NOTIFY_LEASE_SECONDS": 120,
    "NOTIFY_BATCH": 20,
    "NOTIFY_BACKOFF_BASE_SECONDS": 30,
    "NOTIFY_BACKOFF_CAP_SECONDS": 3600,
    "NOTIFY_RETRY_HOURS": 24,
    "NOTIFY_SCAN_SECONDS": 600,
    "NOTIFY_SUMMARY_HOUR": 8,
    "NOTIFY_KEEP_DAYS": 30,
    "SMTP_TIMEOUT": 10,
    "WEBHOOK_ALLOW_PRIVATE": False,
    "WEBHOOK_TIMEOUT": (3, 10),
    "PUSH_TIMEOUT": 5,
}


def init_app(app: Flask) -> None:
    """Read the settings, register the routes and the delivery job for ``app``."""
    # Imported here: the engine imports ``ospost.notify.events``, and the
    # worker imports the engine's lease helpers.
    from ospost.notify import views
    from ospost.notify.outbox import outbox
    from ospost.scheduler import publisher

    for name in ENV_SETTINGS:
        if name not in app.config and os.environ.get(name):
            app.config[name] = os.environ[name]
    for name, value in DEFAULTS.items():
        app.config.setdefault(name, value)
    allow = app.config["WEBHOOK_ALLOW_PRIVATE"]
    if isinstance(allow, str):
        app.config["WEBHOOK_ALLOW_PRIVATE"] = allow.strip().lower() in (
            "1",
            "true",
            "yes",
        )
    # A malformed SMTP_SECURITY or VAPID key stops the start, not every send.
    from ospost.notify.mailer import SmtpSettings
    from ospost.notify.push import VapidSettings

    SmtpSettings.from_config(app.config)
    VapidSettings.from_config(app.config)
    outbox.init_app(app)
    publisher.jobs["notify"] = outbox.schedule
    app.register_blueprint(views.bp)
    # Mail clients POST one-click unsubscribes without our CSRF token; the
    # signed token in the URL is what authorises them.
    app.extensions["csrf"].exempt(views.unsubscribe)
    app.add_template_global(views.notification_panel)

    @app.cli.command("vapid-keys")
    def vapid_keys():
        """Print a new VAPID private key for browser push (VAPID_PRIVATE_KEY)."""
        from ospost.notify.push import new_private_key

        click.echo(f"VAPID_PRIVATE_KEY={new_private_key()}")
