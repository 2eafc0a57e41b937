"""The one place Ospost sends email: SMTP as configured in ``.env``.

Every connection has a timeout; TLS (implicit or STARTTLS) verifies the
server's certificate; failures become ``MailError``, temporary (try again
later) or permanent (the server refused this message for good). The password
never appears in a log line or an error message.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

log = logging.getLogger(__name__)

SECURITY_MODES = ("none", "starttls", "tls")


class MailError(Exception):
    """The email was not sent; ``temporary`` says whether retrying may help."""

    temporary = True


class MailTemporaryError(MailError):
    """The server could not be reached or asked us to try later (4xx)."""


class MailPermanentError(MailError):
    """The server refused this message for good (5xx); retrying will not help."""

    temporary = False


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # none, starttls or tls
    sender: str
    user: str = ""
    password: str = ""
    timeout: float = 10.0
    # Extra CA bundle to trust (a server with a private certificate).
    ca_file: str | None = None

    @classmethod
    def from_config(cls, cfg) -> SmtpSettings | None:
        """The app's SMTP settings, or None when no SMTP_HOST is set."""
        host = (cfg.get("SMTP_HOST") or "").strip()
        if not host:
            return None
        security = str(cfg.get("SMTP_SECURITY") or "starttls").strip().lower()
        if security not in SECURITY_MODES:
            raise RuntimeError(
                f"SMTP_SECURITY must be one of {', '.join(SECURITY_MODES)}, "
                f"not {security!r}"
            )
        default_port = {"none": 25, "starttls": 587, "tls": 465}[security]
        return cls(
            host=host,
            port=int(cfg.get("SMTP_PORT") or default_port),
            security=security,
            sender=cfg.get("SMTP_FROM") or f"Ospost <ospost@{host}>",
            user=cfg.get("SMTP_USER") or "",
            password=cfg.get("SMTP_PASSWORD") or "",
            timeout=float(cfg.get("SMTP_TIMEOUT") or 10),
            ca_file=cfg.get("SMTP_CA_FILE") or None,
        )


def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Hand ``message`` to the SMTP server, or raise ``MailError`` saying why not."""
    try:
        with _connect(settings) as smtp:
            if settings.user:
                smtp.login(settings.user, settings.password)
            refused = smtp.send_message(message)
    except smtplib.SMTPAuthenticationError:
        # The operator's settings, not this message: worth retrying once fixed.
        raise MailTemporaryError(
            "the SMTP server refused the login (check SMTP_USER and SMTP_PASSWORD)"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _msg in exc.recipients.values()]
        raise _by_code(min(codes), "the server refused the recipient") from None
    except smtplib.SMTPResponseException as exc:
        raise _by_code(exc.smtp_code, _say(exc.smtp_error)) from None
    except smtplib.SMTPNotSupportedError:
        raise MailTemporaryError(
            "the SMTP server does not offer STARTTLS (check SMTP_SECURITY)"
        ) from None
    except ssl.SSLError as exc:
        raise MailTemporaryError(
            f"TLS with the SMTP server failed: {exc.reason}"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        # Refused connections, timeouts, DNS failures, dropped connections.
        raise MailTemporaryError(
            f"the SMTP server could not be reached ({type(exc).__name__})"
        ) from None
    if refused:
        # Only one recipient per message: a partial refusal cannot happen.
        raise MailPermanentError("the server refused the recipient")


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    context = None
    if settings.security != "none":
        context = ssl.create_default_context(cafile=settings.ca_file)
    if settings.security == "tls":
        smtp = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        smtp.ehlo_or_helo_if_needed()
        if settings.security == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
    except BaseException:
        _close(smtp)
        raise
    return smtp


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except OSError:
        pass


def _by_code(code: int, what: str) -> MailError:
    text = f"SMTP {code}: {what}"
    return MailPermanentError(text) if 500 <= code < 600 else MailTemporaryError(text)


def _say(error) -> str:
    text = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
    return " ".join(text.split())[:200]
