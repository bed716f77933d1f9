"""Small real apps and servers the SDK tests share."""

from __future__ import annotations

import http.server
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from prometheus_client import CollectorRegistry

import agentwatch
from agentwatch.testing import InMemorySpanExporter

log = logging.getLogger("tests.app")


class HandledError(Exception):
    """Raised by /handled and turned into a 500 by an exception handler."""


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ok/{item_id}")
    async def ok(item_id: int) -> dict[str, int]:
        with agentwatch.get_tracer().start_as_current_span("child.work"):
            log.info("working on item %s", item_id)
        return {"id": item_id}

    @app.get("/fail/{item_id}")
    async def fail(item_id: int) -> dict[str, int]:
        with agentwatch.get_tracer().start_as_current_span("child.work"):
            raise RuntimeError(f"item {item_id} failed")

    @app.get("/handled")
    async def handled() -> None:
        raise HandledError("token=abc123secret for alice@example.com")

    @app.exception_handler(HandledError)
    async def on_handled(request: Request, exc: HandledError) -> JSONResponse:
        log.exception("handled error for alice@example.com password=hunter2")
        return JSONResponse({"error": "handled"}, status_code=500)

    return app


class SeededIds(RandomIdGenerator):
    """Reproducible trace ids for sampling tests."""

    def __init__(self, seed: int) -> None:
        import random

        self._random = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._random.getrandbits(128) or 1


def init_for_test(
    app: Any = None, *, ratio: float = 0.10, seed: int | None = None, **options: Any
) -> tuple[agentwatch.Agentwatch, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        sampler=agentwatch.ErrorPrioritySampler(ratio),
        id_generator=SeededIds(seed) if seed is not None else RandomIdGenerator(),
    )
    handle = agentwatch.init(
        app,
        registry=CollectorRegistry(),
        tracer_provider=provider,
        exporter=exporter,
        success_sample_ratio=ratio,
        environ={},
        **options,
    )
    return handle, exporter


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """``app`` under a real uvicorn server on 127.0.0.1, in a thread: its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def wait_until_answering(url: str, timeout_seconds: float) -> None:
    """Poll ``url`` until an HTTP server answers, failing after ``timeout_seconds``."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"server at {url} did not start"
            time.sleep(0.1)


def sample(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    value = registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.received.append((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        status = self.server.status  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@contextmanager
def recording_server(status: int = 200) -> Iterator[Any]:
    """A local HTTP server on 127.0.0.1 that records POSTs and answers ``status``."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.received = []  # type: ignore[attr-defined]
    server.status = status  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
