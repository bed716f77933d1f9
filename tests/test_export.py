"""The export queue: spans encoded ahead on the keeping thread, sent from the export thread."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry
from tests._apps import sample

from agentwatch._export import ExportQueue
from agentwatch._metrics import Metrics


class EncodingAhead(SpanExporter):
    """An exporter with the encode-ahead protocol, recording which thread did what."""

    def __init__(self, fail_encoding: bool = False) -> None:
        self.fail_encoding = fail_encoding
        self.encoded_on: set[int] = set()
        self.sent_on: set[int] = set()
        self.sent: list[Any] = []

    def encode_spans(self, spans: Sequence[Any]) -> list[tuple[int, bytes]]:
        if self.fail_encoding:
            raise ValueError("an unreadable span")
        self.encoded_on.add(threading.get_ident())
        return [(0, span.name.encode()) for span in spans]

    def export_encoded(self, spans: Sequence[tuple[int, bytes]]) -> SpanExportResult:
        self.sent_on.add(threading.get_ident())
        self.sent.extend(spans)
        return SpanExportResult.SUCCESS

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        raise AssertionError("the queue must use the encode-ahead halves")


def _spans(count: int) -> list[Any]:
    tracer = TracerProvider().get_tracer("t")
    spans = []
    for i in range(count):
        span = tracer.start_span(f"s{i}")
        span.end()
        spans.append(span)
    return spans


def test_spans_are_encoded_where_they_are_kept_and_sent_from_the_export_thread() -> None:
    registry = CollectorRegistry()
    exporter = EncodingAhead()
    queue = ExportQueue(exporter, Metrics(registry), batch_size=4, interval_seconds=30)
    queue.put_many(_spans(10))
    assert queue.flush(10)
    queue.shutdown(5)
    assert exporter.encoded_on == {threading.get_ident()}
    assert exporter.sent_on and threading.get_ident() not in exporter.sent_on
    assert [body for _, body in exporter.sent] == [f"s{i}".encode() for i in range(10)]
    assert sample(registry, "agentwatch_spans_exported_total", {"exporter": "EncodingAhead"}) == 10


def test_a_trace_that_cannot_be_encoded_is_counted_and_reported(internal_errors: Any) -> None:
    registry = CollectorRegistry()
    queue = ExportQueue(EncodingAhead(fail_encoding=True), Metrics(registry))
    queue.put_many(_spans(3))
    assert queue.size == 0
    assert sample(registry, "agentwatch_spans_dropped_total", {"reason": "encode_failed"}) == 3
    assert [component for component, _ in internal_errors] == ["export"]
    internal_errors.clear()
    queue.shutdown(5)
