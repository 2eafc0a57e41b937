"""Column types the models share: aware-UTC times and encrypted tokens.

``UTCDateTime`` keeps every timestamp timezone-aware UTC on SQLite and
PostgreSQL alike; ``EncryptedText`` encrypts Instagram access tokens at rest
with ``token_cipher`` (configured by ``app.py`` from ``TOKEN_ENCRYPTION_KEYS``).
"""

from __future__ import annotations

from datetime import UTC

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from cryptography.fernet import MultiFernet
from sqlalchemy import DateTime
from sqlalchemy import Text
from sqlalchemy import TypeDecorator


class UTCDateTime(TypeDecorator):
    """An aware UTC datetime on every database.

    SQLite has no time zone support and hands back naive values; we store naive
    UTC there and re-attach UTC on the way out, so Python never sees a naive time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class TokenCipher:
    """Encrypts access tokens with Fernet; the first key encrypts, all keys decrypt.

    Keys come from ``TOKEN_ENCRYPTION_KEYS`` (comma-separated, newest first), so a
    key can be rotated by prepending a new one and running ``flask rotate-tokens``.
    """

    def __init__(self) -> None:
        self._fernet: MultiFernet | None = None

    def configure(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    def _require(self) -> MultiFernet:
        if self._fernet is None:
            raise RuntimeError("token encryption is not configured")
        return self._fernet

    def encrypt(self, plain: str) -> str:
        return self._require().encrypt(plain.encode()).decode()

    def decrypt(self, stored: str) -> str:
        try:
            return self._require().decrypt(stored.encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError("access token cannot be decrypted: wrong key") from exc

    def rotate(self, stored: str) -> str:
        return self._require().rotate(stored.encode()).decode()


token_cipher = TokenCipher()


class EncryptedText(TypeDecorator):
    """A string column that is encrypted before it reaches the database."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else token_cipher.encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else token_cipher.decrypt(value)
