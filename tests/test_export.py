"""The export queue between the sampler and the exporter."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry
from tests._apps import build_app, sample

import agentwatch
from agentwatch._asgi.serverspan import ServerSpan
from agentwatch._export.queue import ExportQueue
from agentwatch._metrics.registry import Metrics


class Slow(SpanExporter):
    """An exporter whose receiver takes ``seconds`` to answer (the wait is not CPU)."""

    def __init__(self, seconds: float, lean: bool = False) -> None:
        self.seconds = seconds
        self.accepts_lean_spans = lean
        self.received: list[Any] = []
        self.threads: set[int] = set()

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        self.threads.add(threading.get_ident())
        time.sleep(self.seconds)
        self.received.extend(spans)
        return SpanExportResult.SUCCESS


def _spans(count: int) -> list[ReadableSpan]:
    tracer = TracerProvider().get_tracer("t")
    spans = []
    for i in range(count):
        span = tracer.start_span(f"s{i}")
        span.end()
        spans.append(span)
    return spans


def test_a_flush_waiting_on_a_slow_receiver_burns_no_cpu() -> None:
    registry = CollectorRegistry()
    exporter = Slow(0.4)
    queue = ExportQueue(exporter, Metrics(registry), batch_size=4, interval_seconds=30)
    queue.put_many(_spans(6))
    started = time.process_time()
    assert queue.flush(10)
    spent = time.process_time() - started
    queue.shutdown(5)
    assert len(exporter.received) == 6 and threading.get_ident() not in exporter.threads
    assert spent < 0.1, f"{spent:.3f} s of CPU while the receiver was busy for ~0.8 s"
    assert sample(registry, "agentwatch_spans_exported_total", {"exporter": "Slow"}) == 6


async def test_lean_spans_reach_exporters_that_take_them_and_others_get_sdk_spans() -> None:
    import httpx

    kinds = {}
    for lean in (True, False):
        app = build_app()
        exporter = Slow(0.0, lean=lean)
        handle = agentwatch.init(
            app,
            registry=CollectorRegistry(),
            tracer_provider=TracerProvider(sampler=agentwatch.ErrorPrioritySampler(1.0)),
            exporter=exporter,
            success_sample_ratio=1.0,
            environ={},
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.get("/ok/1")
        handle.force_flush(10)
        handle.shutdown()
        kinds[lean] = sorted(type(span).__name__ for span in exporter.received)
    assert kinds[True] == sorted(["ReadableSpan", ServerSpan.__name__])
    assert kinds[False] == ["ReadableSpan", "ReadableSpan"]
