"""A local Sentry: an HTTP server on 127.0.0.1 that decodes the envelopes sentry-sdk sends.

The DSN is ``http://public@127.0.0.1:<port>/1``; sentry-sdk POSTs gzip-compressed
envelopes to ``/api/1/envelope/``: a header line, then for each item a header line and a
payload (``length`` bytes when the item header says so, else up to the newline).
"""

from __future__ import annotations

import gzip
import http.server
import json
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def parse_envelope(raw: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """(envelope header, [(item header, payload)]) of one envelope."""
    header_line, _, rest = raw.partition(b"\n")
    items: list[tuple[dict[str, Any], bytes]] = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item_header = json.loads(item_line)
        length = item_header.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length:].lstrip(b"\n")
        items.append((item_header, payload))
    return json.loads(header_line), items


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        receiver: SentryReceiver = self.server.receiver  # type: ignore[attr-defined]
        receiver.record(self.path, self.headers.get("X-Sentry-Auth", ""), body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        return None


class SentryReceiver:
    """Collects the events (``type: event`` items) of every envelope received."""

    def __init__(self, port: int) -> None:
        self.dsn = f"http://public@127.0.0.1:{port}/1"
        self.paths: list[str] = []
        self.auth: list[str] = []
        self.envelope_headers: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, path: str, auth: str, body: bytes) -> None:
        header, items = parse_envelope(body)
        with self._lock:
            self.paths.append(path)
            self.auth.append(auth)
            self.envelope_headers.append(header)
            for item_header, payload in items:
                if item_header.get("type") == "event":
                    self.events.append(json.loads(payload))

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The events once ``count`` arrived (fails after ``timeout``: a wait, not a timing)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.events) >= count:
                    return list(self.events)
            time.sleep(0.01)
        raise AssertionError(f"expected {count} Sentry events, got {len(self.events)}")


@contextmanager
def sentry_receiver() -> Iterator[SentryReceiver]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    receiver = SentryReceiver(int(server.server_address[1]))
    server.receiver = receiver  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
