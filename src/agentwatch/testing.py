"""Test helpers for users of agentwatch: an in-memory span exporter and span trees.

>>> from agentwatch.testing import InMemorySpanExporter
>>> exporter = InMemorySpanExporter()
>>> aw = agentwatch.init(app, exporter=exporter, success_sample_ratio=1.0)  # doctest: +SKIP
>>> aw.force_flush(); exporter.traces()                                     # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["InMemorySpanExporter", "span_tree"]


class InMemorySpanExporter(SpanExporter):
    """Keeps exported spans in memory, grouped by trace on request."""

    def __init__(self) -> None:
        self._spans: list[ReadableSpan] = []
        self._lock = threading.Lock()
        self.export_calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            self._spans.extend(spans)
            self.export_calls += 1
        return SpanExportResult.SUCCESS

    def get_finished_spans(self) -> list[ReadableSpan]:
        with self._lock:
            return list(self._spans)

    def traces(self) -> dict[str, list[ReadableSpan]]:
        """Exported spans by trace id (32 lowercase hex digits)."""
        grouped: dict[str, list[ReadableSpan]] = {}
        for span in self.get_finished_spans():
            grouped.setdefault(format(span.context.trace_id, "032x"), []).append(span)  # type: ignore[union-attr]
        return grouped

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_tree(spans: Sequence[ReadableSpan]) -> list[dict[str, Any]]:
    """Spans of one trace as nested ``{"name", "kind", "status", "children"}`` dicts."""
    by_parent: dict[int | None, list[ReadableSpan]] = {}
    ids = {span.context.span_id for span in spans}  # type: ignore[union-attr]
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        parent = span.parent.span_id if span.parent is not None else None
        by_parent.setdefault(parent if parent in ids else None, []).append(span)

    def build(span: ReadableSpan) -> dict[str, Any]:
        children = by_parent.get(span.context.span_id, [])  # type: ignore[union-attr]
        return {
            "name": span.name,
            "kind": span.kind.name,
            "status": span.status.status_code.name,
            "children": [build(child) for child in children],
        }

    return [build(root) for root in by_parent.get(None, [])]
