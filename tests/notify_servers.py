"""Real servers the notification tests deliver to: an SMTP server (aiosmtpd),
and an HTTP receiver for webhooks and Web Push that records every request.
Plus the receiving side of the webhook signature, as the README shows it.
"""

from __future__ import annotations

import asyncio
import base64
import email
import hashlib
import hmac
import os
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- SMTP ------------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that keeps every accepted message.

    ``hold_rcpt``: while set, RCPT waits for ``release`` (the message is not
    accepted yet). ``hold_after_data``: the message is kept, then the "250"
    answer waits that many seconds (the client may die before it hears it).
    """

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refuse_rcpt: str | None = None
        self.hold_rcpt = False
        self.hold_after_data = 0.0
        self.holding = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_rcpt:
            return self.refuse_rcpt
        if self.hold_rcpt:
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(
                None, self.release.wait, 60
            )
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        tls = server.transport.get_extra_info("ssl_object") is not None
        message["X-Test-Tls"] = "yes" if tls else "no"
        message["X-Test-Rcpt"] = ",".join(envelope.rcpt_tos)
        with self.lock:
            self.messages.append(message)
        if self.hold_after_data:
            self.holding.set()
            await asyncio.sleep(self.hold_after_data)
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m["Message-ID"] for m in self.messages]


@contextmanager
def smtp_server(port: int | None = None, **smtp_parameters):
    """A real SMTP server on 127.0.0.1 (aiosmtpd); yields (port, mailbox)."""
    mailbox = Mailbox()
    port = port or free_port()  # aiosmtpd cannot be given port 0
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **smtp_parameters)
    controller.start()
    try:
        yield port, mailbox
    finally:
        mailbox.release.set()
        controller.stop()


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, made with openssl."""
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )
    return cert, key


def password_checker(user: str, password: str):
    """An aiosmtpd authenticator accepting one user name and password."""

    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            auth_data.login == user.encode() and auth_data.password == password.encode()
        )
        return AuthResult(success=ok)

    return check


# -- HTTP receiver (webhooks, push service) ---------------------------------------


class Receiver:
    """An HTTP server that records each POST and answers from a script.

    ``statuses``: the status of each next answer (then ``default_status``).
    ``hold_before_reply``: seconds to wait after recording, before answering.
    """

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        self.default_status = 200
        self.reply_body = b'{"ok":true}'
        self.hold_before_reply = 0.0
        self.received = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": self.headers, "body": body}
                    )
                    status = (
                        receiver.statuses.pop(0)
                        if receiver.statuses
                        else receiver.default_status
                    )
                receiver.received.set()
                if receiver.hold_before_reply:
                    time.sleep(receiver.hold_before_reply)
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "/redirected")
                self.send_header("Content-Length", str(len(receiver.reply_body)))
                self.end_headers()
                self.wfile.write(receiver.reply_body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self) -> int:
        with self.lock:
            return len(self.requests)


def verify_signature(secret: str, header: str, body: bytes, tolerance=300) -> bool:
    """The receiving side of X-Ospost-Signature (the README's snippet)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False  # an old request replayed
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


# -- a browser's push subscription keys -------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class BrowserKeys:
    """The keys a browser makes when it subscribes (to decrypt what it gets)."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        public = self.private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.auth = os.urandom(16)
        self.p256dh = b64url(public)

    def subscription(self, endpoint: str) -> dict:
        return {
            "endpoint": endpoint,
            "keys": {"p256dh": self.p256dh, "auth": b64url(self.auth)},
        }

    def decrypt(self, body: bytes) -> bytes:
        import http_ece

        return http_ece.decrypt(
            body, private_key=self.private, auth_secret=self.auth, version="aes128gcm"
        )
