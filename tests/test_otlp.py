"""agentwatch's OTLP encoder and OTLP/HTTP exporter.

The encoder is held to the stock ``encode_spans`` on real SDK spans and agentwatch's lean
server spans; the exporter talks to a real receiver on 127.0.0.1 (keep-alive, scripted
answers); the settings wire it in.
"""

from __future__ import annotations

import enum
import gc
import json
import logging
import pickle
import shutil
import ssl
import subprocess
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from tests._apps import free_port, init_for_test, sample
from tests._otlp_receiver import otlp_receiver, silent_receiver

import agentwatch
from agentwatch._asgi.serverspan import ServerSpan
from agentwatch._export.otlp import TraceRequestEncoder
from agentwatch._export.otlp_http import OtlpHttpExporter
from agentwatch._semconv import ExceptionAttributes
from agentwatch._tracing.events import record_exception
from agentwatch._tracing.sampling import HeadSampler
from agentwatch.testing import InMemorySpanExporter

SpanFactory = Callable[[], list[ReadableSpan]]
REMOTE = SpanContext(
    0x0AF7651916CD43DD8448EB211C80319C,
    0xB7AD6B7169203331,
    is_remote=True,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
    trace_state=TraceState([("vendor", "a1"), ("other", "b2")]),
)


def _recorded(
    run: Callable[[trace.Tracer], None],
    resource: Resource | None = None,
    limits: SpanLimits | None = None,
    scope: tuple[str, str | None, str | None] = ("tests.otlp", "1.2.3", None),
) -> list[ReadableSpan]:
    """The spans ``run`` made with a real SDK tracer."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=resource or Resource({"service.name": "t"}), span_limits=limits
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    name, version, schema_url = scope
    run(provider.get_tracer(name, version, schema_url=schema_url, attributes={"scope.k": 1}))
    provider.shutdown()
    return exporter.get_finished_spans()


def _every_attribute_type(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("types") as span:
        span.set_attributes(
            {
                "str": "plain",
                "empty": "",
                "unicode": "héllo wörld ☃ 日本語 🚀",
                "true": True,
                "false": False,
                "zero": 0,
                "positive": 1234567,
                "negative": -42,
                "int64.min": -(2**63),
                "int64.max": 2**63 - 1,
                "float": 3.25,
                "float.negative": -0.5,
                "float.zero": 0.0,
                "bytes": b"\x00\x01\xff",
                "strs": ("a", "", "ü"),
                "bools": (True, False),
                "ints": (1, -1, 2**40),
                "floats": (1.5, -2.25),
                "empty.array": (),
                "mapping": {"inner": "v", "n": 2, "deeper": {"x": [1, 2]}},
            }
        )


def _events(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("events") as span:
        span.add_event("plain")
        span.add_event("with.attributes", {"k": "v", "n": 3, "f": 0.5}, timestamp=1_700_000_000)
        try:
            raise ValueError("bad input ✗")
        except ValueError as exc:
            span.record_exception(exc)


def _exceptions(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("exceptions") as span:
        for kind in ("plain", "chained", "slots"):
            try:
                _raise(kind)
            except Exception as exc:
                span.record_exception(exc)
                span.record_exception(exc, {"extra": 1})
                record_exception(span, exc)


def _links(tracer: trace.Tracer) -> None:
    local = tracer.start_span("linked.local")
    local.end()
    links = [
        Link(REMOTE, {"link.k": "v", "n": 1}),
        Link(local.get_span_context()),
        Link(SpanContext(1, 2, is_remote=False, trace_flags=TraceFlags(0))),
    ]
    tracer.start_span("links", links=links).end()


def _kinds(tracer: trace.Tracer) -> None:
    for kind in SpanKind:
        tracer.start_span(f"kind.{kind.name}", kind=kind).end()


def _statuses(tracer: trace.Tracer) -> None:
    tracer.start_span("unset").end()
    with tracer.start_as_current_span("ok") as span:
        span.set_status(Status(StatusCode.OK))
    with tracer.start_as_current_span("error") as span:
        span.set_status(Status(StatusCode.ERROR, "it broke: ✗"))
    with tracer.start_as_current_span("error.bare") as span:
        span.set_status(StatusCode.ERROR)


def _parents(tracer: trace.Tracer) -> None:
    remote = trace.set_span_in_context(trace.NonRecordingSpan(REMOTE))
    with (
        tracer.start_as_current_span("remote.child", context=remote, kind=SpanKind.SERVER),
        tracer.start_as_current_span("local.child"),
    ):
        tracer.start_span("grandchild").end()
    tracer.start_span("root").end()


def _large_and_empty(tracer: trace.Tracer) -> None:
    tracer.start_span("no.attributes").end()
    with tracer.start_as_current_span("ünïcode nämé ☃") as span:
        span.set_attribute("large", "x" * 200_000)
        span.set_attribute("large.unicode", "日本" * 20_000)
        span.add_event("big", {"payload": "y" * 70_000})


def _dropped(tracer: trace.Tracer) -> None:
    links = [Link(REMOTE), Link(REMOTE), Link(REMOTE)]
    with tracer.start_as_current_span("dropped", links=links) as span:
        span.set_attributes({f"a{i}": i for i in range(5)})
        for i in range(4):
            span.add_event(f"e{i}", {f"k{j}": j for j in range(4)})


def _several_resources_and_scopes() -> list[ReadableSpan]:
    def two(tracer: trace.Tracer) -> None:
        tracer.start_span("one").end()
        tracer.start_span("two").end()

    first = _recorded(two, Resource({"service.name": "a"}, "https://schema/1"))
    second = _recorded(two, Resource({"service.name": "b", "n": 2}))
    same_as_first = _recorded(two, Resource({"service.name": "a"}, "https://schema/1"))
    other_scope = _recorded(
        two,
        Resource({"service.name": "a"}, "https://schema/1"),
        scope=("lib.b", None, "https://s/2"),
    )
    # interleaved; equal resources that are distinct objects share one ResourceSpans
    return [
        first[0],
        second[0],
        other_scope[0],
        same_as_first[0],
        first[1],
        second[1],
        other_scope[1],
    ]


class _Color(str, enum.Enum):  # noqa: UP042 - str() of a member is "_Color.RED", not "red"
    RED = "red"


def _bare_readable_spans() -> list[ReadableSpan]:
    """Spans the SDK tracer would not make: no scope, not sampled, odd values, no end."""
    exception = {  # the four exception attributes in their order, one before them dropped
        "dropped.first": 1,
        "exception.type": "ValueError",
        "exception.message": "m",
        "exception.stacktrace": "Traceback (most recent call last):\n...\nValueError: m\n",
        "exception.escaped": "False",
    }
    unsampled = SpanContext(5, 6, is_remote=False, trace_flags=TraceFlags(0))
    attributes: dict[str, Any] = {
        "none": None,
        "nested": {"a": [{"b": True}], 3: "key not a str"},
        "ok": "v",
        "str.enum": _Color.RED,
        "int.enum": HTTPStatus.NOT_FOUND,
        "tuple.of.lists": ([1, 2], ["a"]),
    }
    return [
        ReadableSpan("no.scope", unsampled, resource=Resource({}), attributes=attributes),
        ReadableSpan(
            "events.without.attributes",
            SpanContext(5, 7, is_remote=False, trace_flags=TraceFlags(0)),
            parent=REMOTE,
            resource=Resource({}),
            events=[Event("e", None, 0), Event("exception", BoundedAttributes(4, exception), 5)],
            instrumentation_scope=InstrumentationScope("s", None, None, None),
            start_time=1,
            end_time=2,
        ),
    ]


CASES: dict[str, SpanFactory] = {
    "every attribute type": lambda: _recorded(_every_attribute_type),
    "events": lambda: _recorded(_events),
    "exception events": lambda: _recorded(_exceptions),
    "exception events, attributes dropped": lambda: _recorded(
        _exceptions, limits=SpanLimits(max_event_attributes=4)
    ),
    "links": lambda: _recorded(_links),
    "kinds": lambda: _recorded(_kinds),
    "statuses": lambda: _recorded(_statuses),
    "remote and local parents, trace state": lambda: _recorded(_parents),
    "large strings, unicode, no attributes": lambda: _recorded(_large_and_empty),
    "dropped counts": lambda: _recorded(
        _dropped,
        limits=SpanLimits(max_span_attributes=2, max_events=2, max_links=1, max_event_attributes=1),
    ),
    "several resources and scopes": _several_resources_and_scopes,
    "bare ReadableSpans": _bare_readable_spans,
}


def _spans_of(request: ExportTraceServiceRequest) -> Iterator[Any]:
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            yield from scope_spans.spans


def _assert_same_as_stock(spans: list[Any]) -> ExportTraceServiceRequest:
    """Our bytes decode to the stock encoder's message, once the stock spans carry our flags
    (the W3C trace flags in bits 0-7) and the stock links our trace state."""
    ours = ExportTraceServiceRequest.FromString(TraceRequestEncoder().encode(spans))
    stock = encode_spans(spans)
    for our, theirs in zip(_spans_of(ours), _spans_of(stock), strict=True):
        assert our.flags & ~0xFF == theirs.flags  # has-is-remote, is-remote: as stock
        theirs.flags = our.flags
        for our_link, their_link in zip(our.links, theirs.links, strict=True):
            assert our_link.flags & ~0xFF == their_link.flags
            their_link.flags = our_link.flags
            their_link.trace_state = our_link.trace_state
    assert ours == stock
    return ours


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_our_bytes_decode_to_what_the_stock_encoder_builds(make: SpanFactory) -> None:
    spans = make()
    assert spans
    _assert_same_as_stock(spans)


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_span_and_link_flags_carry_the_w3c_trace_flags_and_remoteness(make: SpanFactory) -> None:
    spans = make()
    request = ExportTraceServiceRequest.FromString(TraceRequestEncoder().encode(spans))
    by_id = {span.context.span_id: span for span in spans}
    for encoded in _spans_of(request):
        span = by_id[int.from_bytes(encoded.span_id, "big")]
        remote = span.parent is not None and span.parent.is_remote
        assert encoded.flags == int(span.context.trace_flags) | 0x100 | (0x200 if remote else 0)
        for encoded_link, link in zip(encoded.links, span.links, strict=True):
            assert encoded_link.flags & 0xFF == int(link.context.trace_flags)
            assert bool(encoded_link.flags & 0x200) == link.context.is_remote
            assert encoded_link.trace_state == link.context.trace_state.to_header()


def test_sampled_spans_say_so_in_their_flags() -> None:
    request = ExportTraceServiceRequest.FromString(
        TraceRequestEncoder().encode(_recorded(_parents))
    )
    flags = {span.name: span.flags for span in _spans_of(request)}
    assert all(value & 0x01 for value in flags.values())  # SDK default sampler: sampled
    assert flags["remote.child"] == 0x301 and flags["local.child"] == 0x101
    assert [s.trace_state for s in _spans_of(request) if s.name == "remote.child"] == [
        "vendor=a1,other=b2"
    ]


def test_the_same_encoder_gives_the_same_bytes_from_its_caches() -> None:
    spans = _recorded(_every_attribute_type) + _recorded(_events) + _recorded(_statuses)
    encoder = TraceRequestEncoder()
    first = encoder.encode(spans)
    assert encoder.encode(spans) == first == TraceRequestEncoder().encode(spans)


def test_values_otlp_cannot_carry_drop_only_their_attribute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    context = SpanContext(7, 8, is_remote=False)
    attributes = {"big": 2**64, "object": object(), "kept": "yes", "list": [1, "mixed"]}
    span = ReadableSpan("odd", context, resource=Resource({}), attributes=attributes)
    request = ExportTraceServiceRequest.FromString(TraceRequestEncoder().encode([span]))
    encoded = next(_spans_of(request))
    assert {kv.key for kv in encoded.attributes} == {"kept", "list"}
    assert "not exported" in caplog.text


# ------------------------------------------------------------------ agentwatch's server span


def _capturing_app(captured: list[Any]) -> Starlette:
    async def item(request: Request) -> PlainTextResponse:
        span = trace.get_current_span()
        span.set_attribute("app.tenant", "acme")
        captured.append(span)
        if request.path_params["item_id"] == "2":
            raise RuntimeError("item 2 failed")
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/items/{item_id}", item)])


async def test_lean_server_spans_encode_as_the_stock_encoder_reads_them() -> None:
    captured: list[Any] = []
    app = _capturing_app(captured)
    handle, _ = init_for_test(app, ratio=1.0)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {
        "traceparent": f"00-{REMOTE.trace_id:032x}-{REMOTE.span_id:016x}-01",
        "user-agent": "t/1",
    }
    async with httpx.AsyncClient(transport=transport, base_url="http://api.local") as client:
        assert (await client.get("/items/1", headers=headers)).status_code == 200
        assert (await client.get("/items/2")).status_code == 500
    assert handle.force_flush(10)
    handle.shutdown()
    assert [type(span) for span in captured] == [ServerSpan, ServerSpan]
    request = _assert_same_as_stock(captured)
    ok, failed = _spans_of(request)
    assert ok.name == "GET /items/{item_id}" and ok.kind == ok.SPAN_KIND_SERVER
    assert ok.flags == 0x301 and ok.parent_span_id == REMOTE.span_id.to_bytes(8, "big")
    assert {kv.key: kv.value.string_value for kv in ok.attributes}["app.tenant"] == "acme"
    assert failed.status.code == failed.status.STATUS_CODE_ERROR
    event = {kv.key: kv.value.string_value for kv in failed.events[0].attributes}
    assert (
        event["exception.type"] == "RuntimeError" and "Traceback" in event["exception.stacktrace"]
    )


class SlottedError(Exception):
    """An exception type with ``__slots__``."""

    __slots__ = ("code",)


def _failing(depth: int) -> None:
    if depth:
        _failing(depth - 1)
    raise RuntimeError(f"failed at depth {depth}")


def _raise(kind: str) -> None:
    """Raise what the ``kind`` of a case asks for."""
    if kind == "chained":
        try:
            _failing(1)
        except RuntimeError as exc:
            raise ValueError("wrapped") from exc
    if kind == "context":
        try:
            _failing(1)
        except RuntimeError:
            raise KeyError("while handling")  # noqa: B904 - the context is the point
    if kind == "slots":
        raise SlottedError("slotted")
    if kind == "long":
        raise RuntimeError("a message longer than one length byte allows: " + "x" * 200)
    if kind == "surrogate":
        raise RuntimeError("undecodable \udcff byte")
    _failing(3)


async def _lean_endpoint(request: Request) -> PlainTextResponse:
    """What the ``x-case`` header asks: set attributes, rename, record or raise exceptions."""
    span = trace.get_current_span()
    case = request.headers.get("x-case", "")
    span.set_attribute("app.tenant", "acme")
    if case == "override":
        span.set_attributes({"url.path": "/redacted", "app.n": 3})
    elif case == "rename":
        span.update_name("custom name")
    elif case == "odd attributes":
        span.set_attributes({"flag": True, "ratio": 0.5, "tags": ("a", "b"), "n": 2**40})
    elif case == "status":
        span.set_status(Status(StatusCode.ERROR, "declared broken"))
    elif case == "record then raise":
        span.add_event("app.step", {"n": 1})
        span.record_exception(KeyError("handled"))
        _failing(2)
    elif case.startswith("record"):  # handled exceptions, recorded two ways
        try:
            _raise(case.removeprefix("record "))
        except Exception as exc:
            _LEAN_ERRORS.append(exc)
            span.record_exception(exc)
            record_exception(span, exc)
            span.record_exception(exc, {"app.extra": "x"})
    elif case.startswith("raise"):
        try:
            _raise(case.removeprefix("raise "))
        except Exception as exc:
            _LEAN_ERRORS.append(exc)
            raise
    return PlainTextResponse("ok", status_code=int(request.path_params.get("code", 200)))


_LEAN_SPANS: list[Any] = []
_LEAN_ERRORS: list[BaseException] = []


class _CaptureServerSpan:
    """Inside agentwatch's middleware: keeps each request's span, routed or not."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            _LEAN_SPANS.append(trace.get_current_span())
        await self.app(scope, receive, send)


_LEAN_APP_ROUTES = [
    Route("/items/{item_id}", _lean_endpoint, methods=["GET", "POST", "PURGE"]),
    Route("/status/{code}", _lean_endpoint),
]
TRACEPARENT = (b"traceparent", f"00-{REMOTE.trace_id:032x}-{REMOTE.span_id:016x}-01".encode())
AGENT = (b"user-agent", b"t/1")
LEAN_CASES: dict[str, dict[str, Any]] = {
    "ok": {},
    "4xx": {"path": "/status/404"},
    "5xx answered": {"path": "/status/503"},
    "unmatched route": {"path": "/nowhere"},
    "unknown method": {"method": "PURGE"},
    "no user agent": {"headers": []},
    "user agent not ascii, repeated": {
        "headers": [AGENT, (b"user-agent", b"caf\xe9/2"), (b"content-length", b"0")]
    },
    "content-length": {"method": "POST", "headers": [AGENT, (b"content-length", b"5")]},
    "content-length not a number": {"headers": [(b"content-length", b"five")]},
    "client None": {"client": None},
    "server without port": {"server": ("api.local", None)},
    "server None": {"server": None},
    "server and client as lists": {"server": ["api.local", 8000], "client": ["10.0.0.1", 5]},
    "https, HTTP/2": {"scheme": "https", "http_version": "2"},
    "long path": {"path": "/items/" + "p" * 200},
    "unicode path": {"path": "/items/日本"},
    "remote parent with trace state": {
        "headers": [TRACEPARENT, (b"tracestate", b"vendor=a1,other=b2"), AGENT]
    },
    "given attribute overrides a request one": {"case": "override"},
    "update_name": {"case": "rename"},
    "given attributes of other types": {"case": "odd attributes"},
    "status set by the app": {"case": "status"},
    "raised": {"case": "raise plain"},
    "raised, chained (cause)": {"case": "raise chained"},
    "raised, chained (context)": {"case": "raise context"},
    "raised, __slots__": {"case": "raise slots"},
    "raised, long message": {"case": "raise long"},
    "recorded": {"case": "record plain"},
    "recorded, chained": {"case": "record chained"},
    "recorded, __slots__": {"case": "record slots"},
    "recorded, then raised": {"case": "record then raise"},
}


async def _request(app: Any, case: dict[str, Any]) -> None:
    """One request straight through the ASGI app, the scope as the case says."""
    headers = [*case.get("headers", [AGENT])]
    if "case" in case:
        headers.append((b"x-case", case["case"].encode()))
    path = case.get("path", "/items/1")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": case.get("http_version", "1.1"),
        "method": case.get("method", "GET"),
        "scheme": case.get("scheme", "http"),
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": case.get("client", ("127.0.0.1", 50000)),
        "server": case.get("server", ("api.local", 8000)),
    }
    body = [{"type": "http.request", "body": b"hello", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return body.pop() if body else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        return None

    try:
        await app(scope, receive, send)
    except Exception:  # the app's own exception, answered 500 and raised on
        pass


async def _lean_spans(*cases: dict[str, Any], repeat: int = 2) -> list[ServerSpan]:
    """The ended server spans of ``repeat`` requests per case (the caches see repeats)."""
    _LEAN_SPANS.clear()
    _LEAN_ERRORS.clear()
    app = Starlette(routes=_LEAN_APP_ROUTES, middleware=[Middleware(_CaptureServerSpan)])
    handle, _ = init_for_test(app, ratio=1.0)
    for case in cases:
        for _ in range(repeat):
            await _request(app, case)
    assert handle.force_flush(10)
    handle.shutdown()
    spans = [span for span in _LEAN_SPANS if span.end_time is not None]
    assert spans and all(type(span) is ServerSpan for span in spans)
    return spans


def _generic(span: ServerSpan) -> ReadableSpan:
    """What the generic path reads of a lean span: name, attributes and events as the SDK
    has them (event attributes as plain dicts)."""
    events = [Event(e.name, dict(e.attributes or {}), e.timestamp) for e in span.events]
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=dict(span.attributes),
        events=events,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _decoded(encoder: TraceRequestEncoder, spans: list[Any]) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(encoder.encode(spans))


@pytest.mark.parametrize("case", LEAN_CASES.values(), ids=LEAN_CASES.keys())
async def test_lean_server_spans_encode_as_the_generic_path_does(case: dict[str, Any]) -> None:
    spans = await _lean_spans(case)
    generic = _decoded(TraceRequestEncoder(), [_generic(span) for span in spans])
    encoder = TraceRequestEncoder()
    assert _decoded(encoder, spans) == generic
    assert _decoded(encoder, spans) == generic  # again, from the encoder's caches
    _assert_same_as_stock(spans)
    _assert_same_as_stock([span.to_readable() for span in spans])


async def test_lean_spans_of_every_case_in_one_batch() -> None:
    spans = await _lean_spans(*LEAN_CASES.values())
    generic = _decoded(TraceRequestEncoder(), [_generic(span) for span in spans])
    assert _decoded(TraceRequestEncoder(), spans) == generic


async def test_lean_span_attributes_say_what_the_request_did() -> None:
    spans = await _lean_spans(
        {"method": "PURGE", "headers": [AGENT, (b"content-length", b"5")], "client": None},
        {"path": "/nowhere", "server": ("api.local", None)},
    )
    purge, unmatched = (next(_spans_of(_decoded(TraceRequestEncoder(), [s]))) for s in spans[::2])
    assert purge.name == "HTTP /items/{item_id}"
    assert {kv.key: kv.value for kv in purge.attributes}["http.request.body.size"].int_value == 5
    keys = [kv.key for kv in purge.attributes]
    assert keys[:3] == ["http.request.method", "http.request.method_original", "url.scheme"]
    assert "client.address" not in keys
    assert unmatched.name == "GET" and "http.route" not in [kv.key for kv in unmatched.attributes]
    assert "server.port" not in [kv.key for kv in unmatched.attributes]


@pytest.mark.parametrize("kind", ["plain", "chained", "context", "slots", "long"])
async def test_exception_events_carry_the_standard_library_stack_trace(kind: str) -> None:
    spans = await _lean_spans({"case": f"record {kind}"})
    request = _decoded(TraceRequestEncoder(), spans)
    for span, error in zip(_spans_of(request), _LEAN_ERRORS, strict=True):
        expected = "".join(traceback.format_exception(error))
        assert len(span.events) == 3
        for event in span.events:
            values = {kv.key: kv.value.string_value for kv in event.attributes}
            assert values["exception.stacktrace"] == expected
            assert values["exception.message"] == str(error)
            assert values["exception.type"] == type(error).__qualname__
        assert [kv.key for kv in span.events[2].attributes][-1] == "app.extra"


def _from_the_middleware(error: BaseException) -> str:
    """``error`` formatted as the stdlib does, its traceback from agentwatch's middleware
    frame on (it grew outer frames after the middleware recorded it)."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_name != "_traced":
        tb = tb.tb_next
    assert tb is not None, "the error did not pass through the middleware"
    return "".join(traceback.format_exception(type(error), error, tb))


@pytest.mark.parametrize("kind", ["plain", "chained", "context", "slots", "long"])
async def test_a_raised_exception_is_the_last_event_with_the_standard_library_stack_trace(
    kind: str,
) -> None:
    spans = await _lean_spans({"case": f"raise {kind}"})
    decoded = _spans_of(_decoded(TraceRequestEncoder(), spans))
    for span, error in zip(decoded, _LEAN_ERRORS, strict=True):
        values = {kv.key: kv.value.string_value for kv in span.events[-1].attributes}
        assert values == {
            "exception.type": type(error).__qualname__,
            "exception.message": str(error),
            "exception.stacktrace": _from_the_middleware(error),
            "exception.escaped": "False",
        }
        assert span.status.code == span.status.STATUS_CODE_ERROR


async def test_events_the_app_recorded_come_before_the_raised_exception() -> None:
    (span,) = await _lean_spans({"case": "record then raise"}, repeat=1)
    assert [event.name for event in span.events] == ["app.step", "exception", "exception"]
    assert span.events[1].attributes["exception.type"] == "KeyError"
    raised = span.events[2].attributes
    assert raised["exception.message"] == "failed at depth 0"
    assert raised["exception.stacktrace"].endswith("RuntimeError: failed at depth 0\n")
    assert span.is_error


async def test_exception_attributes_read_as_a_plain_dict() -> None:
    spans = await _lean_spans({"case": "record plain"})
    recorded = spans[0].events[0].attributes
    assert isinstance(recorded, ExceptionAttributes)
    plain = dict(recorded)
    assert recorded == plain and list(recorded) == list(plain)
    assert json.loads(json.dumps(recorded)) == plain
    assert pickle.loads(pickle.dumps(recorded)) == plain
    assert recorded["exception.stacktrace"] == "".join(traceback.format_exception(_LEAN_ERRORS[0]))


async def test_a_message_otlp_cannot_carry_is_dropped_on_both_paths() -> None:
    spans = await _lean_spans({"case": "record surrogate"}, {"case": "raise surrogate"})
    generic = _decoded(TraceRequestEncoder(), [_generic(span) for span in spans])
    assert _decoded(TraceRequestEncoder(), spans) == generic
    event = next(_spans_of(generic)).events[0]
    assert [kv.key for kv in event.attributes] == ["exception.type", "exception.escaped"]


def _retained_by_the_encoder(spans: list[Any]) -> int:
    """Bytes allocated in ``_export/otlp*`` while a new encoder encodes ``spans`` one at a
    time, and still alive after (what its caches keep)."""
    encoder = TraceRequestEncoder()
    gc.collect()
    tracemalloc.start()
    try:
        for span in spans:
            encoder.encode_spans([span])
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    in_encoder = snapshot.filter_traces([tracemalloc.Filter(True, "*agentwatch/_export/otlp*.py")])
    return sum(stat.size for stat in in_encoder.statistics("filename"))


async def test_caches_stay_bounded_however_many_distinct_values() -> None:
    distinct = [
        {
            "method": f"M{i}",  # a name, a method_original and a shared block of its own
            "path": f"/items/{i}",
            "headers": [(b"user-agent", b"agent/%d" % i), (b"content-length", b"%d" % i)],
            "client": (f"10.0.{i // 256}.{i % 256}", 1),
            "server": (f"host{i}", i),
            "case": "raise plain" if i % 2 else "",
        }
        for i in range(8000)
    ]
    spans = await _lean_spans(*distinct, repeat=1)
    some = _retained_by_the_encoder(spans[:2000])
    four_times_more = _retained_by_the_encoder(spans)
    assert four_times_more < 1.5 * some  # not 4 times as much


# ------------------------------------------------------------------ the exporter


def _spans(count: int = 3) -> list[ReadableSpan]:
    def run(tracer: trace.Tracer) -> None:
        for i in range(count):
            tracer.start_span(f"span.{i}", attributes={"i": i}).end()

    return _recorded(run)


def _exporter(receiver_url: str, **options: Any) -> OtlpHttpExporter:
    options.setdefault("retry_initial_seconds", 0.01)
    return OtlpHttpExporter(receiver_url + "/v1/traces", **options)


def test_export_posts_protobuf_with_the_headers() -> None:
    spans = _spans()
    with otlp_receiver() as receiver:
        exporter = _exporter(
            receiver.url, headers={"x-tenant": "acme", "authorization": "Bearer t"}
        )
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        exporter.shutdown()
    [received] = receiver.received
    assert received.path == "/v1/traces"
    assert received.headers["content-type"] == "application/x-protobuf"
    assert (
        received.headers["x-tenant"] == "acme" and received.headers["authorization"] == "Bearer t"
    )
    assert "content-encoding" not in received.headers
    assert received.span_names() == ["span.0", "span.1", "span.2"]


def test_one_connection_carries_three_exports() -> None:
    with otlp_receiver() as receiver:
        exporter = _exporter(receiver.url)
        results = [exporter.export(_spans(1)) for _ in range(3)]
        exporter.shutdown()
    assert results == [SpanExportResult.SUCCESS] * 3
    assert len(receiver.received) == 3 and receiver.connections == 1


def test_a_connection_the_receiver_dropped_is_reopened_without_a_retry() -> None:
    with otlp_receiver(close_after_answer=True) as receiver:
        exporter = _exporter(receiver.url, retry_initial_seconds=30.0)  # a retry would time out
        results = [exporter.export(_spans(1)) for _ in range(3)]
        exporter.shutdown()
    assert results == [SpanExportResult.SUCCESS] * 3
    assert len(receiver.received) == 3 and receiver.connections == 3


def test_gzip_compression() -> None:
    with otlp_receiver() as receiver:
        exporter = _exporter(receiver.url, compression="gzip")
        assert exporter.export(_spans()) is SpanExportResult.SUCCESS
        exporter.shutdown()
    [received] = receiver.received
    assert received.headers["content-encoding"] == "gzip"
    assert received.span_names() == ["span.0", "span.1", "span.2"]


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_retryable_answers_are_retried(status: int) -> None:
    with otlp_receiver((status, {}, b""), (status, {}, b""), (200, {}, b"")) as receiver:
        exporter = _exporter(receiver.url)
        assert exporter.export(_spans()) is SpanExportResult.SUCCESS
        exporter.shutdown()
    assert len(receiver.received) == 3
    assert receiver.received[0].body == receiver.received[2].body


def test_retry_after_is_honoured() -> None:
    with otlp_receiver((503, {"Retry-After": "1"}, b""), (200, {}, b"")) as receiver:
        exporter = _exporter(receiver.url)
        start = time.monotonic()
        assert exporter.export(_spans()) is SpanExportResult.SUCCESS
        waited = time.monotonic() - start
        exporter.shutdown()
    assert len(receiver.received) == 2
    assert waited >= 0.95  # the 10 ms backoff would have retried at once


def test_a_retry_after_beyond_the_timeout_gives_up_at_once() -> None:
    with otlp_receiver((429, {"Retry-After": "60"}, b"")) as receiver:
        exporter = _exporter(receiver.url, timeout=30)
        start = time.monotonic()
        assert exporter.export(_spans()) is SpanExportResult.FAILURE
        assert time.monotonic() - start < 20
        exporter.shutdown()
    assert len(receiver.received) == 1


@pytest.mark.parametrize("status", [400, 401, 404, 413, 500])
def test_other_errors_are_not_retried(status: int, caplog: pytest.LogCaptureFixture) -> None:
    with otlp_receiver((status, {}, b"rejected: bad payload")) as receiver:
        exporter = _exporter(receiver.url)
        assert exporter.export(_spans()) is SpanExportResult.FAILURE
        exporter.shutdown()
    assert len(receiver.received) == 1
    assert f"HTTP {status}" in caplog.text and "rejected: bad payload" in caplog.text


def test_a_receiver_that_never_answers_fails_the_export_within_the_timeout() -> None:
    with silent_receiver() as url:
        exporter = _exporter(url, timeout=0.5)
        start = time.monotonic()
        assert exporter.export(_spans()) is SpanExportResult.FAILURE
        assert time.monotonic() - start < 0.5 + 5.0
        exporter.shutdown()


def test_connection_errors_are_retried_until_the_timeout_is_spent() -> None:
    exporter = _exporter(f"http://127.0.0.1:{free_port()}", timeout=1.0, retry_initial_seconds=0.05)
    start = time.monotonic()
    assert exporter.export(_spans()) is SpanExportResult.FAILURE
    assert time.monotonic() - start < 1.0 + 5.0
    exporter.shutdown()


def test_export_after_shutdown_fails_and_sends_nothing() -> None:
    with otlp_receiver() as receiver:
        exporter = _exporter(receiver.url)
        exporter.shutdown()
        assert exporter.export(_spans()) is SpanExportResult.FAILURE
    assert receiver.received == []


def test_partial_success_is_a_success_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    partial = ExportTraceServiceResponse(
        partial_success=ExportTracePartialSuccess(rejected_spans=2, error_message="too old")
    ).SerializeToString()
    with otlp_receiver((200, {}, partial), (200, {}, partial)) as receiver:
        exporter = _exporter(receiver.url)
        with caplog.at_level(logging.WARNING, logger="agentwatch"):
            assert exporter.export(_spans()) is SpanExportResult.SUCCESS
            assert exporter.export(_spans()) is SpanExportResult.SUCCESS
        exporter.shutdown()
    warnings = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
    assert warnings == ["agentwatch: the OTLP receiver rejected 2 of 3 spans: too old"]


def test_a_span_the_encoder_cannot_read_fails_the_export_and_is_reported(
    internal_errors: Any,
) -> None:
    internal_errors.expected = True
    with otlp_receiver() as receiver:
        exporter = _exporter(receiver.url)
        assert exporter.export([object()]) is SpanExportResult.FAILURE  # type: ignore[list-item]
        exporter.shutdown()
    assert receiver.received == []
    assert [component for component, _ in internal_errors] == ["otlp_exporter"]


@pytest.mark.parametrize(
    "endpoint", ["collector:4318", "ftp://host/v1/traces", "http:///v1/traces"]
)
def test_endpoints_that_are_not_http_urls_are_refused(endpoint: str) -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        OtlpHttpExporter(endpoint)


@pytest.fixture
def tls_receiver_files(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_verifies_the_receiver_against_the_given_ca(
    tls_receiver_files: tuple[Path, Path],
) -> None:
    cert, key = tls_receiver_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with otlp_receiver(tls=context) as receiver:
        https = receiver.url.replace("http://", "https://")
        trusted = _exporter(https, certificate_file=str(cert))
        assert trusted.export(_spans()) is SpanExportResult.SUCCESS
        trusted.shutdown()
        untrusted = _exporter(https)  # the system CAs do not know it
        start = time.monotonic()
        assert untrusted.export(_spans()) is SpanExportResult.FAILURE
        assert time.monotonic() - start < 5.0  # not retried for its 10 s: it will not pass
        untrusted.shutdown()
    assert len(receiver.received) == 1 and receiver.received[0].span_names() == [
        "span.0",
        "span.1",
        "span.2",
    ]


# ------------------------------------------------------------------ wiring


def test_init_exports_gzip_to_the_receiver_when_the_setting_says_so() -> None:
    with otlp_receiver() as receiver:
        handle = agentwatch.init(
            registry=CollectorRegistry(),
            tracer_provider=TracerProvider(sampler=HeadSampler(1.0)),
            environ={
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            },
            success_sample_ratio=1.0,
        )
        with handle.tracer.start_as_current_span("compressed"):
            pass
        assert handle.force_flush(10)
        exported = sample(
            handle.registry, "agentwatch_spans_exported_total", {"exporter": "OtlpHttpExporter"}
        )
        handle.shutdown()
    [received] = receiver.received
    assert received.path == "/v1/traces" and received.headers["content-encoding"] == "gzip"
    assert received.span_names() == ["compressed"]
    assert exported == 1


@pytest.mark.parametrize(
    ("environ", "key", "accepted"),
    [
        (
            {"OTEL_EXPORTER_OTLP_COMPRESSION": "brotli"},
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "gzip or none",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://",
        ),
    ],
)
def test_bad_otlp_settings_name_the_key_and_what_is_accepted(
    environ: dict[str, str], key: str, accepted: str
) -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", **environ}
    with pytest.raises(agentwatch.ConfigurationError) as raised:
        agentwatch.init(
            registry=CollectorRegistry(), tracer_provider=TracerProvider(), environ=environ
        )
    assert raised.value.key == key
    assert key in str(raised.value) and accepted in str(raised.value)
