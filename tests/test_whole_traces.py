"""A trace spanning several requests of one service arrives whole.

A real uvicorn server in this process runs a Starlette app behind ``agentwatch.init()``,
exporting over OTLP/HTTP to a local receiver. Requests join earlier traces through
``traceparent`` (sequentially, and nested: the service calling itself), and every trace
exported is checked span by span: no span arrives without the span it names as parent,
and a request that joined a kept trace is kept, server span and children together.
Success ratio 0: only errors keep a trace, so any kept success span is the join's doing.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests._apps import sample, serve_in_thread
from tests._otlp_receiver import Receiver, otlp_receiver

import agentwatch
from agentwatch.testing import InMemorySpanExporter


@dataclass(frozen=True)
class Exported:
    trace_id: str
    span_id: str
    parent_id: str
    name: str


def _work(name: str, *, error: bool = False) -> None:
    with agentwatch.get_tracer().start_as_current_span(name) as span:
        if error:  # a handled failure: the answer stays 200
            span.set_status(Status(StatusCode.ERROR, "handled"))


async def fail(request: Request) -> JSONResponse:
    _work("fail.work")
    raise RuntimeError("the first request fails")


async def ok(request: Request) -> JSONResponse:
    _work("ok.work")
    return JSONResponse({"ok": True})


async def step(request: Request) -> JSONResponse:
    _work("step.work", error=request.query_params.get("error") == "1")
    return JSONResponse({"step": True})


async def outer(request: Request) -> JSONResponse:
    port = request.url.port
    async with httpx.AsyncClient() as client:  # agentwatch's outbound context on it
        inner = await client.get(f"http://127.0.0.1:{port}/inner")
    assert inner.status_code == 200
    raise RuntimeError("the outer request fails after its inner call succeeded")


async def inner(request: Request) -> JSONResponse:
    _work("inner.work")
    return JSONResponse({"inner": True})


def _app() -> Starlette:
    routes = [
        Route("/fail", fail),
        Route("/ok", ok),
        Route("/step", step),
        Route("/outer", outer),
        Route("/inner", inner),
    ]
    return Starlette(routes=routes)


def _exported(receiver: Receiver) -> list[Exported]:
    return [
        Exported(span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(), span.name)
        for received in receiver.received
        for resource in received.request().resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


@dataclass(frozen=True)
class Answer:
    status: int
    trace_id: str  # of the W3C ``traceresponse`` the service answered with
    span_id: str


def _get(url: str, path: str, traceparent: str | None = None) -> Answer:
    """One GET on a fresh connection, by ``http.client`` (not instrumented: the test side
    starts no trace of its own)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", path, headers={"traceparent": traceparent} if traceparent else {})
        response = connection.getresponse()
        response.read()
        _, trace_id, span_id, _ = response.headers["traceresponse"].split("-")
        return Answer(response.status, trace_id, span_id)
    finally:
        connection.close()


@pytest.fixture(params=["lean", "sdk"])
def service(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[str, Receiver, agentwatch.Agentwatch]]:
    """The app served and instrumented, exporting to a receiver. ``sdk``: another processor
    on the provider, so the server span is an SDK span (on_start/on_end), not the lean one."""
    provider = TracerProvider(sampler=agentwatch.ErrorPrioritySampler(0.0))
    if request.param == "sdk":
        provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    app = _app()
    with otlp_receiver() as receiver:
        handle = agentwatch.init(
            app,
            registry=CollectorRegistry(),
            tracer_provider=provider,
            traces_exporter="otlp",
            otlp_endpoint=receiver.url,
            success_sample_ratio=0.0,
            environ={},
        )
        try:
            with serve_in_thread(app) as url:
                yield url, receiver, handle
        finally:
            handle.shutdown()


def _exported_by_trace(
    handle: agentwatch.Agentwatch, receiver: Receiver, until: Callable[[dict[str, list[str]]], bool]
) -> dict[str, list[Exported]]:
    """The spans received, by trace id, once ``until`` (given span names by trace) holds."""
    deadline = time.monotonic() + 10
    while True:
        assert handle.force_flush(10)
        by_trace: dict[str, list[Exported]] = {}
        for span in _exported(receiver):
            by_trace.setdefault(span.trace_id, []).append(span)
        if until({tid: [s.name for s in spans] for tid, spans in by_trace.items()}):
            return by_trace
        assert time.monotonic() < deadline, f"spans never arrived: {by_trace}"
        time.sleep(0.02)


def _check_whole(spans: list[Exported], dropped_parents: frozenset[str] = frozenset()) -> None:
    """Every span's parent was exported, but a remote parent in ``dropped_parents``."""
    ids = {span.span_id for span in spans}
    for span in spans:
        if span.parent_id and span.parent_id not in ids:
            assert span.parent_id in dropped_parents, f"{span.name} arrived without its parent"


def test_requests_joining_a_trace_arrive_whole(service: Any) -> None:
    url, receiver, handle = service
    first = _get(url, "/fail")
    assert first.status == 500
    kept_trace, kept_span = first.trace_id, first.span_id
    joined = _get(url, "/step", f"00-{kept_trace}-{kept_span}-01")
    assert (joined.status, joined.trace_id) == (200, kept_trace)

    success = _get(url, "/ok")
    assert success.status == 200
    dropped_trace, dropped_span = success.trace_id, success.span_id
    late_error = _get(url, "/step?error=1", f"00-{dropped_trace}-{dropped_span}-00")
    assert (late_error.status, late_error.trace_id) == (200, dropped_trace)

    nested = _get(url, "/outer")
    assert nested.status == 500
    nested_trace = nested.trace_id
    # the last server span ends just after its 500 went out: wait for it, then judge all
    by_trace = _exported_by_trace(
        handle, receiver, until=lambda t: "GET /outer" in t.get(nested_trace, ())
    )

    # a later request joining a kept trace is kept with it, server span and child
    kept = by_trace[kept_trace]
    assert sorted(s.name for s in kept) == ["GET /fail", "GET /step", "fail.work", "step.work"]
    _check_whole(kept)

    # the first request was dropped (success, ratio 0); the later one's error keeps the
    # whole later request, never its child alone
    late = by_trace[dropped_trace]
    assert sorted(s.name for s in late) == ["GET /step", "step.work"]
    _check_whole(late, dropped_parents=frozenset({dropped_span}))

    # the service calling itself: the inner request is decided with the outer one
    names = sorted(s.name for s in by_trace[nested_trace])
    assert names == ["GET", "GET /inner", "GET /outer", "inner.work"]
    _check_whole(by_trace[nested_trace])

    assert set(by_trace) == {kept_trace, dropped_trace, nested_trace}
    joined_kept = {"decision": "keep", "reason": "joined"}
    assert sample(handle.registry, "agentwatch_traces_sampled_total", joined_kept) == 1
