"""Outbound HTTP: httpx (sync, async) and requests against a real server on 127.0.0.1 that
records what it receives; CLIENT spans read from the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import requests
from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, set_value
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from tests._apps import init_for_test
from tests._http_recorder import Server, recording_server

from agentwatch.propagation import (
    extract_headers,
    instrument_httpx,
    instrument_requests,
    uninstrument_httpx,
    uninstrument_requests,
    untraced,
)

TID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def server() -> Iterator[Server]:
    with recording_server() as srv:
        yield srv


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    uninstrument_httpx()
    uninstrument_requests()
    assert instrument_httpx(provider) and instrument_requests(provider)
    try:
        yield memory
    finally:
        uninstrument_httpx()
        uninstrument_requests()


def _httpx_sync(method: str, url: str, **options: Any) -> Any:
    with httpx.Client(**options) as client:
        return client.request(method, url)


def _httpx_async(method: str, url: str, **options: Any) -> Any:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(**options) as client:
            return await client.request(method, url)

    return asyncio.run(call())  # the task copies the caller's context: the parent span too


def _requests(method: str, url: str, **options: Any) -> Any:
    return requests.request(method, url, timeout=5)


CLIENTS: dict[str, Callable[..., Any]] = {
    "httpx": _httpx_sync,
    "httpx-async": _httpx_async,
    "requests": _requests,
}
client_param = pytest.mark.parametrize("call", CLIENTS.values(), ids=CLIENTS.keys())


def _client_spans(memory: InMemorySpanExporter) -> list[ReadableSpan]:
    return [span for span in memory.get_finished_spans() if span.kind is SpanKind.CLIENT]


def _tracer() -> trace.Tracer:
    return TracerProvider().get_tracer("test")


@client_param
def test_the_request_carries_the_trace_with_the_client_span_as_parent(
    call, server: Server, exporter: InMemorySpanExporter
) -> None:
    with _tracer().start_as_current_span("handler") as parent:
        response = call("GET", f"{server.url}/ok")
    assert response.status_code == 200
    (client,) = _client_spans(exporter)
    context = parent.get_span_context()
    assert client.parent is not None and client.parent.span_id == context.span_id
    assert client.context.trace_id == context.trace_id
    sent = server.headers()["traceparent"]
    assert sent == f"00-{context.trace_id:032x}-{client.context.span_id:016x}-03"
    assert client.name == "GET"
    assert dict(client.attributes or {}) == {
        "http.request.method": "GET",
        "url.full": f"{server.url}/ok",
        "server.address": "127.0.0.1",
        "server.port": server.port,
        "http.response.status_code": 200,
        "network.protocol.version": "1.1",
    }
    assert client.status.status_code is StatusCode.UNSET


@client_param
@pytest.mark.parametrize(("path", "status"), [("/missing", 404), ("/boom", 500)])
def test_error_responses_make_the_client_span_an_error(
    call, path: str, status: int, server: Server, exporter: InMemorySpanExporter
) -> None:
    assert call("GET", server.url + path).status_code == status
    (client,) = _client_spans(exporter)
    assert client.status.status_code is StatusCode.ERROR
    assert client.attributes is not None
    assert client.attributes["error.type"] == str(status)
    assert client.attributes["http.response.status_code"] == status
    assert "traceparent" in server.headers()  # a root CLIENT span still propagates


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("call", "error", "error_type"),
    [
        (_httpx_sync, httpx.ConnectError, "httpx.ConnectError"),
        (_httpx_async, httpx.ConnectError, "httpx.ConnectError"),
        (_requests, requests.ConnectionError, "requests.exceptions.ConnectionError"),
    ],
    ids=CLIENTS.keys(),
)
def test_a_failed_request_raises_its_own_error_and_records_it(
    call, error: type[Exception], error_type: str, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(error):
        call("GET", f"http://127.0.0.1:{_closed_port()}/ok")
    (client,) = _client_spans(exporter)
    assert client.status.status_code is StatusCode.ERROR
    assert client.attributes is not None and client.attributes["error.type"] == error_type
    assert "http.response.status_code" not in client.attributes
    (event,) = client.events
    assert event.name == "exception"
    assert event.attributes is not None and event.attributes["exception.type"]


@client_param
def test_url_full_has_no_credentials_nor_secret_query_values(
    call, server: Server, exporter: InMemorySpanExporter
) -> None:
    url = f"http://bob:hunter2@127.0.0.1:{server.port}/ok?sig=abc&api_key=k1&page=2"
    call("GET", url)
    (client,) = _client_spans(exporter)
    assert client.attributes is not None
    assert client.attributes["url.full"] == (
        f"http://REDACTED:REDACTED@127.0.0.1:{server.port}/ok?sig=REDACTED&api_key=REDACTED&page=2"
    )


@client_param
def test_an_unknown_method_is_other(call, server: Server, exporter: InMemorySpanExporter) -> None:
    call("PURGE", f"{server.url}/ok")
    (client,) = _client_spans(exporter)
    assert client.name == "HTTP"
    assert client.attributes is not None
    assert client.attributes["http.request.method"] == "_OTHER"
    assert client.attributes["http.request.method_original"] == "PURGE"
    assert server.received[-1][0] == "PURGE"


@client_param
@pytest.mark.parametrize(("incoming", "outgoing"), [("01", "01"), ("03", "03")])
def test_a_continued_trace_forwards_tracestate_baggage_and_random_flag(
    call, incoming: str, outgoing: str, server: Server, exporter: InMemorySpanExporter
) -> None:
    remote = extract_headers(
        {
            "traceparent": f"00-{TID}-00f067aa0ba902b7-{incoming}",
            "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
            "baggage": "userId=alice,serverNode=DF%2028",
        }
    )
    token = otel_context.attach(remote)
    try:
        with _tracer().start_as_current_span("consumer"):
            call("GET", f"{server.url}/ok")
    finally:
        otel_context.detach(token)
    (client,) = _client_spans(exporter)
    sent = server.headers()
    assert sent["traceparent"] == f"00-{TID}-{client.context.span_id:016x}-{outgoing}"
    assert sent["tracestate"] == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    assert sent["baggage"] == "userId=alice,serverNode=DF%2028"


@pytest.mark.parametrize(
    "call",
    [
        lambda url: _httpx_sync("GET", url, follow_redirects=True),
        lambda url: _httpx_async("GET", url, follow_redirects=True),
        lambda url: _requests("GET", url),
    ],
    ids=CLIENTS.keys(),
)
def test_a_call_with_its_redirects_is_one_client_span(
    call, server: Server, exporter: InMemorySpanExporter
) -> None:
    assert call(f"{server.url}/redirect").status_code == 200
    (client,) = _client_spans(exporter)
    assert client.attributes is not None
    assert client.attributes["url.full"] == f"{server.url}/redirect"
    assert client.attributes["http.response.status_code"] == 200
    assert [path for _, path, _ in server.received] == ["/redirect", "/ok"]
    parents = {server.headers(i)["traceparent"].split("-")[2] for i in (0, 1)}
    assert parents == {f"{client.context.span_id:016x}"}


@client_param
def test_instrumenting_twice_wraps_once_and_uninstrument_removes_it(
    call, server: Server, exporter: InMemorySpanExporter
) -> None:
    assert not instrument_httpx() and not instrument_requests()
    call("GET", f"{server.url}/ok")
    assert len(_client_spans(exporter)) == 1
    uninstrument_httpx()
    uninstrument_requests()
    with _tracer().start_as_current_span("handler"):
        call("GET", f"{server.url}/ok")
    assert len(_client_spans(exporter)) == 1
    assert "traceparent" not in server.headers()
    assert not hasattr(httpx.Client.send, "__agentwatch_original__")
    assert not hasattr(requests.Session.send, "__agentwatch_original__")


@client_param
def test_untraced_and_suppressed_calls_get_no_span_and_no_headers(
    call, server: Server, exporter: InMemorySpanExporter
) -> None:
    with _tracer().start_as_current_span("handler"), untraced():
        call("GET", f"{server.url}/ok")
    token = otel_context.attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        with _tracer().start_as_current_span("exporting"):
            call("GET", f"{server.url}/ok")
    finally:
        otel_context.detach(token)
    assert _client_spans(exporter) == []
    assert all("traceparent" not in server.headers(i) for i in (0, 1))


async def test_in_process_asgi_calls_are_not_client_spans(exporter: InMemorySpanExporter) -> None:
    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["headers"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with _tracer().start_as_current_span("test"):
            assert (await client.get("/")).status_code == 204
    assert _client_spans(exporter) == []
    assert all(name != b"traceparent" for name, _ in seen[0])


class _BrokenTracerProvider(TracerProvider):
    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _BrokenTracer()


class _BrokenTracer(trace.NoOpTracer):
    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        raise RuntimeError("tracer exploded")


@client_param
def test_our_failures_never_reach_the_request(call, server: Server, internal_errors) -> None:
    internal_errors.expected = True
    instrument_httpx(_BrokenTracerProvider())
    instrument_requests(_BrokenTracerProvider())
    try:
        assert call("GET", f"{server.url}/ok").status_code == 200
    finally:
        uninstrument_httpx()
        uninstrument_requests()
    assert [component for component, _ in internal_errors] == ["outbound"]


@pytest.mark.parametrize(
    ("module", "instrument", "extra"),
    [("httpx", instrument_httpx, "httpx"), ("requests", instrument_requests, "requests")],
)
def test_a_missing_library_names_the_extra(
    monkeypatch, module: str, instrument, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=rf"pip install 'agentwatch\[{extra}\]'"):
        instrument()


async def test_init_wires_propagation_and_outbound_clients(server: Server) -> None:
    uninstrument_httpx()
    uninstrument_requests()
    app = FastAPI()

    @app.get("/call")
    async def call_out() -> dict[str, int]:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{server.url}/ok")
        return {
            "status": requests.get(f"{server.url}/ok", timeout=5).status_code + response.status_code
        }

    previous = propagate.get_global_textmap()
    handle, exported = init_for_test(app, ratio=1.0)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get(
                "/call", headers={"traceparent": f"00-{TID}-00f067aa0ba902b7-01", "baggage": "k=v"}
            )
        assert response.json() == {"status": 400}
        handle.force_flush()
    finally:
        handle.shutdown()
    spans = {span.context.span_id: span for span in exported.get_finished_spans()}
    clients = [span for span in spans.values() if span.kind is SpanKind.CLIENT]
    assert len(clients) == 2
    for index, client in enumerate(clients):
        assert client.parent is not None
        assert spans[client.parent.span_id].kind is SpanKind.SERVER
        assert server.headers(index)["baggage"] == "k=v"
    sent = {server.headers(i)["traceparent"] for i in (0, 1)}
    assert sent == {f"00-{TID}-{c.context.span_id:016x}-01" for c in clients}
    assert not hasattr(httpx.AsyncClient.send, "__agentwatch_original__")
    assert not hasattr(requests.Session.send, "__agentwatch_original__")
    assert propagate.get_global_textmap() is previous
