"""Fake receivers at the edge of the machine: Slack, PagerDuty, Discord, webhooks, SMTP.

:class:`FakeReceiver` is a real HTTP server on 127.0.0.1 that records every request and
answers from a script (``[503, (429, {"Retry-After": "2"}), 200]``, then its default), or
at random (``fail_ratio``). :class:`SmtpReceiver` is a real SMTP server (aiosmtpd) with
STARTTLS on a self-signed certificate it writes to a file the e-mail channel trusts.
"""

from __future__ import annotations

import asyncio
import datetime
import http.server
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

Answer = int | tuple[int, dict[str, str]]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int  # what the receiver answered

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeReceiver:
    """``with FakeReceiver([503, 200]) as slack: ...``; ``slack.url`` takes POSTs."""

    script: Sequence[Answer] = ()
    default: int = 200
    fail_ratio: float = 0.0
    fail_answers: Sequence[Answer] = (500, 503, (429, {"Retry-After": "1"}))
    seed: int = 1
    path: str = "/hook"
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._script = list(self.script)
        self._lock = threading.Lock()
        self._random = random.Random(self.seed)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()  # headers and body are two writes: no Nagle stall between
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, headers = receiver._answer()
                receiver._record(self.path, dict(self.headers), body, status)
                payload = b"ok" if status < 300 else b"error"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}{self.path}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _answer(self) -> tuple[int, dict[str, str]]:
        with self._lock:
            if self._script:
                answer = self._script.pop(0)
            elif self.fail_ratio and self._random.random() < self.fail_ratio:
                answer = self._random.choice(list(self.fail_answers))
            else:
                answer = self.default
        return (answer, {}) if isinstance(answer, int) else answer

    def _record(self, path: str, headers: dict[str, str], body: bytes, status: int) -> None:
        with self._lock:
            self.requests.append(Received(path, headers, body, time.time(), status))

    @property
    def delivered(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.status < 300]

    def wait_for(self, count: int, timeout: float = 15.0, what: str = "") -> list[Received]:
        """The delivered requests once there are ``count``; fails naming ``what`` otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.delivered) >= count:
                return self.delivered
            time.sleep(0.02)
        pytest.fail(
            f"{what or self.url}: {len(self.delivered)} of {count} deliveries after {timeout}s "
            f"({len(self.requests)} requests)"
        )

    async def arrive(self, count: int, timeout: float = 15.0, what: str = "") -> list[Received]:
        """:meth:`wait_for` for async tests (the hub runs on the same event loop)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.delivered) >= count:
                return self.delivered
            await asyncio.sleep(0.02)
        pytest.fail(
            f"{what or self.url}: {len(self.delivered)} of {count} deliveries after {timeout}s "
            f"({len(self.requests)} requests)"
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeReceiver:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, written to ``folder``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class SmtpReceiver:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that requires STARTTLS."""

    def __init__(self, folder: Path) -> None:
        import ssl

        from aiosmtpd.controller import Controller

        self.cert, key = self_signed(folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.messages: list[Any] = []
        self.tls_sessions: list[bool] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                from email import message_from_bytes, policy

                receiver.tls_sessions.append(session.ssl is not None)
                receiver.messages.append(
                    message_from_bytes(envelope.content, policy=policy.default)
                )
                return "250 OK"

        with socket.socket() as probe:  # aiosmtpd connects to its port once started: not 0
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
        )
        self._controller.start()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.02)
        pytest.fail(f"SMTP receiver: {len(self.messages)} of {count} messages after {timeout}s")

    async def arrive(self, count: int, timeout: float = 15.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            await asyncio.sleep(0.02)
        pytest.fail(f"SMTP receiver: {len(self.messages)} of {count} messages after {timeout}s")

    def close(self) -> None:
        self._controller.stop()


async def eventually(what: str, check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Await until ``check()`` (sync or async) is truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(0.02)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def wait_until(what: str, check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
