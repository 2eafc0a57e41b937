"""Ospost refuses to run for real with development or weak secrets.

``require_production_settings(app)`` is called by ``create_app()`` after the
configuration is read; tests, demo mode and ``flask run --debug`` are exempt.
"""

from __future__ import annotations

import binascii

from cryptography.fernet import Fernet
from flask import Flask

DEV_SECRET = "dev-only-secret-change-me"
SECRET_KEY_MIN_LENGTH = 32


def require_production_settings(app: Flask) -> None:
    """Refuse to run for real with development secrets or no Facebook app."""
    cfg = app.config
    if cfg.get("TESTING") or cfg["DEMO"] or app.debug:
        return
    missing = [
        name
        for name in ("FB_APP_ID", "FB_APP_SECRET", "APP_URL", "TOKEN_ENCRYPTION_KEYS")
        if not cfg.get(name)
    ]
    if cfg["SECRET_KEY"] in (None, "", DEV_SECRET):
        missing.insert(0, "SECRET_KEY")
    if missing:
        raise RuntimeError(
            "Ospost refuses to start in production without: " + ", ".join(missing)
        )
    if not strong_secret(cfg["SECRET_KEY"]):
        # Anyone who guesses the key can forge a session cookie, i.e. log in as
        # anyone. The message never repeats the key (it ends up in logs).
        raise RuntimeError(
            "SECRET_KEY is too weak: use at least 32 random characters, e.g. "
            'python -c "import secrets; print(secrets.token_hex(32))"'
        )


def strong_secret(key) -> bool:
    """True for a key that looks random and long enough to sign sessions with.

    Length and variety catch the keys people type ("a", "changeme", "aaaa…",
    the development default); a key from ``secrets.token_hex(32)`` always passes.
    """
    return (
        isinstance(key, str)
        and key != DEV_SECRET
        and len(key) >= SECRET_KEY_MIN_LENGTH
        and len(set(key)) >= 8
    )


def check_token_keys(keys: list[str]) -> None:
    """Refuse to start when a token key is not a Fernet key, saying which one.

    Caught here, a bad key is a clear start-up error instead of a failure at
    the first login or publish; the keys themselves are never repeated.
    """
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, binascii.Error):
            raise RuntimeError(
                f"TOKEN_ENCRYPTION_KEYS: key #{number} of {len(keys)} is not a valid "
                "Fernet key (32 url-safe base64-encoded bytes). Generate one with "
                'python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"'
            ) from None
