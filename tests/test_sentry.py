"""Errors to Sentry linked to their traces, through a local receiver decoding real envelopes."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import sentry_sdk
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter as OtelMemory,
)
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry
from tests._apps import build_app, init_for_test
from tests._apps import log as app_log
from tests._sentry_receiver import SentryReceiver, sentry_receiver

import agentwatch
from agentwatch._metrics.registry import Metrics
from agentwatch._redact import Redactor
from agentwatch._sentry import reporter as _errors
from agentwatch._sentry.gate import ErrorGate, fingerprint
from agentwatch._settings import load_settings
from agentwatch.testing import InMemorySpanExporter


@pytest.fixture
def receiver() -> Iterator[SentryReceiver]:
    with sentry_receiver() as found:
        yield found


@pytest.fixture
def service(
    receiver: SentryReceiver,
) -> Iterator[tuple[Any, InMemorySpanExporter, httpx.AsyncClient]]:
    app = build_app()
    handle, exporter = init_for_test(
        app, ratio=1.0, sentry_dsn=receiver.dsn, service_name="payments", service_version="2.1.0"
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url="http://svc")
    try:
        yield handle, exporter, client
    finally:
        handle.shutdown()
    assert not sentry_sdk.get_client().is_active()


def server_span(exporter: InMemorySpanExporter, path: str) -> ReadableSpan:
    spans = [
        s
        for s in exporter.get_finished_spans()
        if s.kind == SpanKind.SERVER and (s.attributes or {}).get("url.path") == path
    ]
    assert len(spans) == 1, spans
    return spans[0]


def ids_of(span: ReadableSpan) -> tuple[str, str]:
    context = span.get_span_context()
    assert context is not None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


async def test_unhandled_request_error_carries_the_server_span_ids(
    receiver: SentryReceiver, service: Any
) -> None:
    handle, exporter, client = service
    response = await client.get("/fail/7")
    assert response.status_code == 500
    handle.force_flush()
    (event,) = receiver.wait_for(1)

    trace_id, span_id = ids_of(server_span(exporter, "/fail/7"))
    assert (event["contexts"]["trace"]["trace_id"], event["contexts"]["trace"]["span_id"]) == (
        trace_id,
        span_id,
    )
    assert (event["tags"]["trace_id"], event["tags"]["span_id"]) == (trace_id, span_id)
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["value"] == "item 7 failed"
    assert (event["level"], event["release"], event["environment"]) == (
        "error",
        "payments@2.1.0",
        "development",
    )
    frames = exception["stacktrace"]["frames"]
    assert frames and all("vars" not in f and "context_line" not in f for f in frames)
    assert "user" not in event  # send_default_pii off: nobody set one
    assert event["request"]["method"] == "GET"
    assert event["request"]["url"] == "http://svc/fail/7"
    assert event["transaction"] == "/fail/{item_id}"
    assert receiver.paths == ["/api/1/envelope/"]


async def test_logged_error_log_line_sentry_event_and_trace_share_ids(
    receiver: SentryReceiver, service: Any
) -> None:
    handle, exporter, client = service
    stream = io.StringIO()
    json_lines = logging.StreamHandler(stream)
    json_lines.setFormatter(agentwatch.JsonFormatter("payments"))
    app_log.addHandler(json_lines)
    try:
        response = await client.get("/handled")
    finally:
        app_log.removeHandler(json_lines)
    assert response.status_code == 500
    handle.force_flush()
    (event,) = receiver.wait_for(1)

    line = json.loads(stream.getvalue())
    trace_id, span_id = ids_of(server_span(exporter, "/handled"))
    assert (line["trace_id"], line["span_id"]) == (trace_id, span_id)
    assert (event["contexts"]["trace"]["trace_id"], event["contexts"]["trace"]["span_id"]) == (
        trace_id,
        span_id,
    )
    assert (event["tags"]["trace_id"], event["tags"]["span_id"]) == (trace_id, span_id)
    assert event["logger"] == "tests.app"
    assert event["logentry"]["message"] == "handled error for [REDACTED:email] password=[REDACTED]"
    assert event["exception"]["values"][0]["value"] == "token=[REDACTED] for [REDACTED:email]"


async def test_successful_requests_send_nothing(receiver: SentryReceiver, service: Any) -> None:
    handle, _, client = service
    assert (await client.get("/ok/1")).status_code == 200
    _errors.capture_exception(ValueError("sent, to prove the pipe is open"))
    handle.on_exception.__self__.flush()
    (event,) = receiver.wait_for(1)
    assert event["exception"]["values"][0]["type"] == "ValueError"
    assert "trace_id" not in event.get("tags", {})  # captured outside any span: nothing to link


@pytest.fixture
def otel() -> tuple[TracerProvider, OtelMemory]:
    memory = OtelMemory()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


Reporter = tuple[_errors.ErrorReporter, CollectorRegistry]


@pytest.fixture
def attach_reporter(receiver: SentryReceiver) -> Iterator[Callable[..., Reporter]]:
    """attach() on a minimal handle (what init() passes it), with extra settings."""
    callbacks: list[Any] = []

    def attach(**options: Any) -> Reporter:
        prometheus = CollectorRegistry()
        handle = SimpleNamespace(
            settings=load_settings({"sentry_dsn": receiver.dsn, **options}, environ={}),
            metrics=Metrics(prometheus),
            redactor=Redactor(),
            on_exception=None,
            add_shutdown_callback=callbacks.append,
            add_flush_callback=lambda callback: None,
        )
        _errors.attach(handle)
        assert handle.on_exception is not None
        return handle.on_exception.__self__, prometheus

    try:
        yield attach
    finally:
        for callback in callbacks:
            callback()


@pytest.fixture
def reporter(attach_reporter: Callable[..., Reporter]) -> Reporter:
    return attach_reporter()


def outcome(prometheus: CollectorRegistry, name: str) -> float:
    return prometheus.get_sample_value("agentwatch_error_events_total", {"outcome": name}) or 0.0


def test_captured_and_logged_exception_is_one_event_with_span_ids(
    receiver: SentryReceiver, reporter: Any, otel: tuple[TracerProvider, OtelMemory]
) -> None:
    errors, prometheus = reporter
    provider, memory = otel
    with provider.get_tracer("t").start_as_current_span("agent.run"):
        try:
            raise KeyError("tool missing, see postgresql://app:hunter2@db/app")
        except KeyError as exc:
            assert _errors.capture_exception(exc)
            app_log.error("tool lookup failed", exc_info=True)  # the same exception: not sent twice
    errors.flush()
    (event,) = receiver.wait_for(1)
    (span,) = memory.get_finished_spans()
    trace_id, span_id = ids_of(span)
    assert event["contexts"]["trace"] == {"trace_id": trace_id, "span_id": span_id}
    assert event["exception"]["values"][0]["value"] == (
        "'tool missing, see postgresql://app:[REDACTED]@db/app'"
    )
    assert (outcome(prometheus, "sent"), outcome(prometheus, "duplicate")) == (1.0, 1.0)


def test_events_sent_directly_through_sentry_sdk_are_linked_and_scrubbed(
    receiver: SentryReceiver, reporter: Any, otel: tuple[TracerProvider, OtelMemory]
) -> None:
    errors, _ = reporter
    provider, memory = otel
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("outer"), tracer.start_as_current_span("inner"):
        sentry_sdk.capture_message("api_key=sk-live-abcdefghijklmnopqrstuv leaked", level="error")
    errors.flush()
    (event,) = receiver.wait_for(1)
    inner, outer = memory.get_finished_spans()
    trace_id, span_id = ids_of(inner)
    assert event["contexts"]["trace"] == {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": ids_of(outer)[1],
    }
    assert event["tags"] == {"trace_id": trace_id, "span_id": span_id}
    assert event["message"] == "api_key=[REDACTED] leaked"


@pytest.mark.parametrize(
    ("draw", "sent_levels"),
    [
        (0.05, ["error", "warning", "info"]),
        (0.30, ["error", "warning"]),
        (0.70, ["error"]),
    ],
)
def test_sampling_by_level(draw: float, sent_levels: list[str]) -> None:
    gate = ErrorGate({"error": 1.0, "warning": 0.5, "info": 0.1}, rng=lambda: draw)
    decisions = {level: gate.admit(level, key=level) for level in ("error", "warning", "info")}
    assert [level for level, (refused, _) in decisions.items() if refused is None] == sent_levels
    assert {refused for refused, _ in decisions.values()} - {None} <= {"sampled_out"}


def test_rate_limit_lets_a_burst_through_then_the_rate() -> None:
    now = [0.0]
    gate = ErrorGate({}, max_per_second=2.0, repeat_seconds=0.0, clock=lambda: now[0])
    first = [gate.admit("error", key=n)[0] for n in range(12)]
    now[0] += 1.0
    second = [gate.admit("error", key=n)[0] for n in range(12)]
    assert first == [None] * 10 + ["rate_limited"] * 2  # a burst of 5 x the rate
    assert second == [None] * 2 + ["rate_limited"] * 10  # then the rate


def test_repeats_are_held_back_and_reported_with_the_next_one() -> None:
    now = [0.0]
    gate = ErrorGate({}, repeat_seconds=1.0, clock=lambda: now[0])
    assert [gate.admit("error", "same") for _ in range(4)] == [(None, 0)] + [("repeated", 0)] * 3
    assert gate.admit("error", "other") == (None, 0)
    now[0] += 1.0
    assert gate.admit("error", "same") == (None, 3)


def _raise(message: str) -> BaseException:
    try:
        raise ConnectionError(message)
    except ConnectionError as exc:
        return exc


def test_fingerprint_is_type_and_raise_site() -> None:
    assert fingerprint(_raise("a")) == fingerprint(_raise("b"))  # same line, other message
    assert fingerprint(_raise("a")) != fingerprint(ValueError("a"))
    assert fingerprint(None, "app.db", "pool exhausted %s") == ("app.db", "pool exhausted %s")


def test_repeated_error_events_say_how_many_were_held_back(
    receiver: SentryReceiver, attach_reporter: Callable[..., Reporter]
) -> None:
    errors, prometheus = attach_reporter(sentry_repeat_seconds=0.2)
    assert [errors.capture_exception(_raise("db down")) for _ in range(5)] == [True] + [False] * 4
    time.sleep(0.25)  # the repeat window passes
    assert errors.capture_exception(_raise("db down"))
    errors.flush()
    first, second = receiver.wait_for(2)
    assert "repeats_suppressed" not in first.get("extra", {})
    assert second["extra"]["repeats_suppressed"] == 4
    assert (outcome(prometheus, "sent"), outcome(prometheus, "repeated")) == (2.0, 4.0)


def test_lean_sentry_options() -> None:
    settings = load_settings({"sentry_dsn": "http://public@127.0.0.1:9/1"}, environ={})
    options = _errors.sentry_options(settings, _errors.ErrorReporter(ErrorGate({})))
    assert {
        key: options[key]
        for key in (
            "include_local_variables",
            "include_source_context",
            "default_integrations",
            "auto_enabling_integrations",
            "traces_sample_rate",
            "max_stack_frames",
        )
    } == {
        "include_local_variables": False,
        "include_source_context": False,
        "default_integrations": False,
        "auto_enabling_integrations": False,
        "traces_sample_rate": None,
        "max_stack_frames": 30,
    }
    assert options.get("send_default_pii", False) is False and "data_collection" not in options
    assert sorted(type(i).__name__ for i in options["integrations"]) == [
        "DedupeIntegration",
        "ExcepthookIntegration",
    ]


def test_without_a_dsn_nothing_is_set_up() -> None:
    handle = SimpleNamespace(settings=load_settings({}, environ={}), on_exception=None)
    _errors.attach(handle)
    assert handle.on_exception is None
    assert not _errors.capture_exception(RuntimeError("nowhere to send"))
    assert not sentry_sdk.get_client().is_active()
