"""A local Sentry: decodes the envelopes sentry-sdk POSTs to a recording server on 127.0.0.1.

The DSN is ``http://public@127.0.0.1:<port>/1``; sentry-sdk POSTs gzip-compressed
envelopes to ``/api/1/envelope/``: a header line, then for each item a header line and a
payload (``length`` bytes when the item header says so, else up to the newline).
"""

from __future__ import annotations

import gzip
import json
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests._apps import recording_server


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


def _decoded(headers: dict[str, str], body: bytes) -> bytes:
    encoding = {k.lower(): v for k, v in headers.items()}.get("content-encoding", "")
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


class SentryReceiver:
    """The events (``type: event`` items) of every envelope the server received."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.dsn = f"http://public@127.0.0.1:{server.server_address[1]}/1"

    @property
    def paths(self) -> list[str]:
        return [path for path, _, _ in list(self.server.received)]

    @property
    def events(self) -> list[dict[str, Any]]:
        found = []
        for _, headers, body in list(self.server.received):
            _, items = parse_envelope(_decoded(headers, body))
            found.extend(
                json.loads(payload) for item, payload in items if item.get("type") == "event"
            )
        return found

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The events once ``count`` arrived (fails after ``timeout``: a wait, not a timing)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events
            if len(events) >= count:
                return events
            time.sleep(0.01)
        raise AssertionError(f"expected {count} Sentry events, got {len(self.events)}")


@contextmanager
def sentry_receiver() -> Iterator[SentryReceiver]:
    with recording_server() as server:
        yield SentryReceiver(server)
