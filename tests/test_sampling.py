"""Error-priority sampling through the real middleware, SDK tracer and export queue."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CollectorRegistry
from tests._apps import build_app, init_for_test, sample

from agentwatch._export.queue import ExportQueue
from agentwatch._metrics.registry import Metrics
from agentwatch._tracing.sampling import ErrorPriorityProcessor, HeadSampler, keeps_success
from agentwatch.testing import InMemorySpanExporter


async def test_thousand_requests_keep_every_error_and_a_binomial_share_of_successes() -> None:
    app = build_app()
    handle, exporter = init_for_test(app, ratio=0.10, seed=7)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for i in range(1000):
            path = f"/fail/{i}" if i % 20 == 0 else f"/ok/{i}"
            await client.get(path)
    assert handle.force_flush(10)
    traces = exporter.traces()
    errors = {
        tid: spans
        for tid, spans in traces.items()
        if any(s.status.status_code is StatusCode.ERROR for s in spans)
    }
    successes = {tid: spans for tid, spans in traces.items() if tid not in errors}
    assert len(errors) == 50
    # 950 successes at p=0.10: mean 95, sd 9.25; 4.5 sd either side
    assert (
        95 - 4.5 * math.sqrt(950 * 0.1 * 0.9)
        <= len(successes)
        <= 95 + 4.5 * math.sqrt(950 * 0.1 * 0.9)
    )
    for tid, spans in traces.items():  # every exported trace is whole: root + child
        assert sorted(s.name for s in spans) in (
            ["GET /ok/{item_id}", "child.work"],
            ["GET /fail/{item_id}", "child.work"],
        )
        root = next(s for s in spans if s.kind is SpanKind.SERVER)
        child = next(s for s in spans if s.name == "child.work")
        assert child.parent is not None and child.parent.span_id == root.context.span_id
        if tid in successes:
            assert keeps_success(int(tid, 16), 0.10)
    registry = handle.registry
    assert (
        sample(registry, "agentwatch_traces_sampled_total", {"decision": "keep", "reason": "error"})
        == 50
    )
    kept_ratio = sample(
        registry, "agentwatch_traces_sampled_total", {"decision": "keep", "reason": "ratio"}
    )
    dropped = sample(
        registry, "agentwatch_traces_sampled_total", {"decision": "drop", "reason": "ratio"}
    )
    assert kept_ratio == len(successes) and kept_ratio + dropped == 950
    handle.shutdown()


async def test_error_span_deep_in_the_trace_keeps_the_trace_and_slow_traces_are_kept() -> None:
    registry = CollectorRegistry()
    exporter = InMemorySpanExporter()
    metrics = Metrics(registry)
    processor = ErrorPriorityProcessor(
        exporter.export, metrics, ratio=0.0, slow_threshold_seconds=2.0
    )
    provider = TracerProvider(sampler=HeadSampler(0.0))
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    with (
        tracer.start_as_current_span("root-error"),
        tracer.start_as_current_span("mid"),
        tracer.start_as_current_span("leaf") as leaf,
    ):
        leaf.set_status(Status(StatusCode.ERROR))
    root = tracer.start_span("root-slow", start_time=1_000_000_000)
    root.end(end_time=1_000_000_000 + 2_500_000_000)
    with tracer.start_as_current_span("root-fast"):
        pass
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == ["leaf", "mid", "root-error", "root-slow"]
    assert (
        sample(registry, "agentwatch_traces_sampled_total", {"decision": "keep", "reason": "slow"})
        == 1
    )
    assert (
        sample(registry, "agentwatch_traces_sampled_total", {"decision": "drop", "reason": "ratio"})
        == 1
    )


def test_buffer_pressure_decides_early_and_counts_every_lost_span() -> None:
    registry = CollectorRegistry()
    exporter = InMemorySpanExporter()
    metrics = Metrics(registry)
    processor = ErrorPriorityProcessor(
        exporter.export, metrics, ratio=0.0, max_pending_traces=2, max_spans_per_trace=3
    )
    provider = TracerProvider(sampler=HeadSampler(0.0))
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    roots = [tracer.start_span(f"root{i}") for i in range(4)]
    from opentelemetry.trace import set_span_in_context

    for i, root in enumerate(roots):  # one finished child per open root
        child = tracer.start_span(f"child{i}", context=set_span_in_context(root))
        if i == 0:
            child.set_status(Status(StatusCode.ERROR))
        child.end()
    # 4 pending traces, room for 2: the two oldest were decided early
    assert processor.pending_traces == 2
    assert [s.name for s in exporter.get_finished_spans()] == ["child0"]  # error kept early
    assert (
        sample(
            registry,
            "agentwatch_traces_sampled_total",
            {"decision": "keep", "reason": "early_error"},
        )
        == 1
    )
    assert sample(registry, "agentwatch_spans_dropped_total", {"reason": "buffer_full"}) == 1
    # a trace growing past max_spans_per_trace is decided early too
    big = tracer.start_span("big-root")
    for i in range(7):
        tracer.start_span(f"part{i}", context=set_span_in_context(big)).end()
    assert sample(registry, "agentwatch_spans_dropped_total", {"reason": "trace_too_large"}) == 6
    for root in roots:
        root.end()


def test_full_queue_and_failing_exporter_are_counted() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    provider = TracerProvider()
    spans = []
    for i in range(10):
        span = provider.get_tracer("t").start_span(f"s{i}")
        span.end()
        spans.append(span)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from tests._apps import recording_server

    with recording_server(status=400) as server:  # a collector rejecting the payload
        exporter = OTLPSpanExporter(
            endpoint=f"http://127.0.0.1:{server.server_port}/v1/traces", timeout=5
        )
        queue = ExportQueue(exporter, metrics, max_size=6, batch_size=100, interval_seconds=30)
        queue.put_many(spans)
        assert sample(registry, "agentwatch_spans_dropped_total", {"reason": "queue_full"}) == 4
        assert queue.flush(10)
        assert sample(registry, "agentwatch_spans_dropped_total", {"reason": "export_failed"}) == 6
        assert len(server.received) == 1
        queue.shutdown(5)


def test_spans_reach_a_real_otlp_http_receiver_decoded_as_protobuf() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from tests._apps import recording_server

    import agentwatch

    with recording_server() as server:
        handle = agentwatch.init(
            registry=CollectorRegistry(),
            tracer_provider=TracerProvider(sampler=HeadSampler(1.0)),
            environ={
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
                "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme",
                "OTEL_SERVICE_NAME": "otlp-test",
            },
            success_sample_ratio=1.0,
        )
        with handle.tracer.start_as_current_span("exported"):
            pass
        assert handle.force_flush(10)
        path, headers, body = server.received[0]
        exported = sample(
            handle.registry, "agentwatch_spans_exported_total", {"exporter": "OtlpHttpExporter"}
        )
        handle.shutdown()
    assert path == "/v1/traces" and headers.get("x-tenant") == "acme"
    request = ExportTraceServiceRequest.FromString(body)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.name == "exported"
    assert exported == 1


_PROCESS_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    import httpx
    from tests._apps import build_app, init_for_test
    ids = json.loads(sys.argv[1])
    app = build_app()
    handle, exporter = init_for_test(app, ratio=0.25)
    async def main():
        t = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=t, base_url="http://t") as c:
            for tid in ids:
                await c.get("/ok/1", headers={"traceparent": f"00-{tid}-00f067aa0ba902b7-00"})
    asyncio.run(main())
    handle.force_flush(10)
    print(json.dumps(sorted(exporter.traces())))
    """
)


def test_two_processes_keep_the_same_successful_traces() -> None:
    import random

    rng = random.Random(3)
    ids = [format(rng.getrandbits(128), "032x") for _ in range(200)]
    runs = [
        subprocess.run(
            [sys.executable, "-c", _PROCESS_SCRIPT, json.dumps(ids)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        for _ in range(2)
    ]
    kept = [json.loads(run.stdout.strip().splitlines()[-1]) for run in runs]
    assert kept[0] == kept[1]
    assert kept[0] == sorted(tid for tid in ids if keeps_success(int(tid, 16), 0.25))
    assert 20 <= len(kept[0]) <= 80
