"""The ``/metrics`` endpoint: content negotiation, gzip, optional bearer or basic auth.

Prometheus text format 0.0.4 by default; OpenMetrics when the scraper asks for
``application/openmetrics-text``. In multi-process mode every scrape aggregates the value
files of all workers. Encoding runs in a worker thread so a large scrape does not hold up
the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

__all__ = ["MetricsEndpoint", "header", "send_response"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def header(scope: Scope, name: bytes) -> str:
    """The first value of a request header (name in lowercase bytes), or ''."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


async def send_response(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += extra or []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class MetricsEndpoint:
    """ASGI app answering scrapes of ``registry()``."""

    def __init__(
        self,
        registry: Callable[[], CollectorRegistry],
        *,
        bearer_token: str | None = None,
        basic_auth: str | None = None,
    ) -> None:
        self._registry = registry
        self._bearer = f"Bearer {bearer_token}" if bearer_token else None
        self._basic = (
            "Basic " + base64.b64encode(basic_auth.encode()).decode() if basic_auth else None
        )

    def _authorized(self, scope: Scope) -> bool:
        expected = self._bearer or self._basic
        if expected is None:
            return True
        given = header(scope, b"authorization")
        return hmac.compare_digest(given.encode(), expected.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") not in ("GET", "HEAD"):
            await send_response(
                send, 405, b"method not allowed\n", "text/plain", [(b"allow", b"GET, HEAD")]
            )
            return
        if not self._authorized(scope):
            challenge = b'Bearer realm="metrics"' if self._bearer else b'Basic realm="metrics"'
            await send_response(
                send, 401, b"unauthorized\n", "text/plain", [(b"www-authenticate", challenge)]
            )
            return
        encoder, content_type = choose_encoder(header(scope, b"accept"))
        registry = self._registry()
        body = await asyncio.get_running_loop().run_in_executor(None, encoder, registry)
        extra = []
        if "gzip" in header(scope, b"accept-encoding"):
            body = gzip.compress(body, compresslevel=5)
            extra.append((b"content-encoding", b"gzip"))
        if scope.get("method") == "HEAD":
            body = b""
        await send_response(send, 200, body, content_type, extra)
