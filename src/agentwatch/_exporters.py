"""Span exporters chosen by the settings: OTLP (HTTP or gRPC), console, file, memory.

OTLP over HTTP uses agentwatch's own :class:`~agentwatch._otlp_http.OtlpHttpExporter`
(protobuf written directly, one keep-alive connection); gRPC uses the stock exporter.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult

from ._exceptions import ConfigurationError
from ._otlp_http import OtlpHttpExporter
from ._settings import Settings
from .testing import InMemorySpanExporter

__all__ = ["JsonLinesSpanExporter", "build_exporter", "span_to_dict"]


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """A span as a flat JSON-ready dict (ids as lowercase hex, times in ns)."""
    context = span.context
    return {
        "trace_id": format(context.trace_id, "032x") if context else None,
        "span_id": format(context.span_id, "016x") if context else None,
        "parent_span_id": format(span.parent.span_id, "016x") if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "start_time_unix_nano": span.start_time,
        "end_time_unix_nano": span.end_time,
        "duration_ms": round(((span.end_time or 0) - (span.start_time or 0)) / 1e6, 3),
        "status": span.status.status_code.name,
        "status_message": span.status.description,
        "attributes": dict(span.attributes or {}),
        "events": [
            {
                "name": event.name,
                "time_unix_nano": event.timestamp,
                "attributes": dict(event.attributes or {}),
            }
            for event in span.events
        ],
        "service": (span.resource.attributes.get("service.name") if span.resource else None),
    }


class JsonLinesSpanExporter(SpanExporter):
    """Appends one JSON object per span to a file (``traces_exporter=file``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_to_dict(span), default=str) + "\n" for span in spans)
        try:
            with self._lock, open(self.path, "a", encoding="utf-8") as handle:
                handle.write(lines)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _otlp_endpoint(base: str, protocol: str) -> str:
    base = base.rstrip("/")
    if protocol == "grpc" or base.endswith("/v1/traces"):
        return base
    return base + "/v1/traces"


def build_exporter(settings: Settings) -> SpanExporter | None:
    """The exporter the settings ask for, or None for ``none``."""
    kind = settings.effective_traces_exporter
    if kind == "none":
        return None
    if kind == "console":
        return ConsoleSpanExporter()
    if kind == "memory":
        return InMemorySpanExporter()
    if kind == "file":
        return JsonLinesSpanExporter(settings.traces_file or "traces.jsonl")
    if not settings.otlp_endpoint:
        raise ConfigurationError(
            "OTEL_EXPORTER_OTLP_ENDPOINT", None, "a URL when traces_exporter=otlp"
        )
    endpoint = _otlp_endpoint(settings.otlp_endpoint, settings.otlp_protocol)
    if settings.otlp_protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as Grpc,
            )
        except ImportError as exc:
            raise ConfigurationError(
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "grpc",
                "http/protobuf, or pip install 'agentwatch[otlp-grpc]'",
            ) from exc
        insecure = endpoint.startswith("http://")
        return Grpc(endpoint=endpoint, headers=settings.otlp_headers or None, insecure=insecure)
    try:
        return OtlpHttpExporter(
            endpoint,
            headers=settings.otlp_headers,
            timeout=10,
            compression=settings.otlp_compression,
        )
    except ValueError as exc:
        raise ConfigurationError(
            "OTEL_EXPORTER_OTLP_ENDPOINT", settings.otlp_endpoint, "an http:// or https:// URL"
        ) from exc
