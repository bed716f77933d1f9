"""Span exporters chosen by the settings: OTLP (HTTP or gRPC), console, file, memory.

OTLP over HTTP uses agentwatch's own :class:`~agentwatch._export.otlp_http.OtlpHttpExporter`
(protobuf written directly, one keep-alive connection); gRPC uses the stock exporter.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult

from .._exceptions import ConfigurationError
from .._metrics.registry import Metrics
from .._settings import Settings
from ..testing import InMemorySpanExporter
from .otlp_http import OtlpHttpExporter
from .otlp_logs import LogRecordData, OtlpHttpLogExporter
from .spool import Spool, default_spool_folder

__all__ = [
    "JsonLinesSpanExporter",
    "build_exporter",
    "build_log_exporter",
    "build_spool",
    "span_to_dict",
]

_log = logging.getLogger("agentwatch")


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


def _otlp_endpoint(settings: Settings) -> tuple[str, str]:
    """The traces endpoint and the setting it came from (a base gets /v1/traces over HTTP)."""
    if settings.otlp_traces_endpoint:
        return settings.otlp_traces_endpoint, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    if not settings.otlp_endpoint:
        raise ConfigurationError(
            "OTEL_EXPORTER_OTLP_ENDPOINT", None, "a URL when traces_exporter=otlp"
        )
    base = settings.otlp_endpoint.rstrip("/")
    if settings.otlp_protocol == "grpc" or base.endswith("/v1/traces"):
        return base, "OTEL_EXPORTER_OTLP_ENDPOINT"
    return base + "/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT"


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
    endpoint, source = _otlp_endpoint(settings)
    if settings.otlp_protocol == "grpc":
        return _grpc_exporter(settings, endpoint)
    try:
        return OtlpHttpExporter(
            endpoint,
            headers=settings.otlp_headers,
            timeout=settings.otlp_timeout_ms / 1000.0,
            compression=settings.otlp_compression,
            certificate_file=settings.otlp_certificate,
        )
    except ValueError as exc:
        raise ConfigurationError(source, endpoint, "an http:// or https:// URL") from exc
    except OSError as exc:  # the CA file cannot be read
        raise ConfigurationError(
            "OTEL_EXPORTER_OTLP_CERTIFICATE", settings.otlp_certificate, "a readable PEM file"
        ) from exc


def _grpc_exporter(settings: Settings, endpoint: str) -> SpanExporter:
    try:
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as Grpc,
        )
    except ImportError as exc:
        raise ConfigurationError(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "grpc",
            "http/protobuf, or pip install 'agentwatch[otlp-grpc]'",
        ) from exc
    credentials = None
    if settings.otlp_certificate:
        try:
            with open(settings.otlp_certificate, "rb") as handle:
                credentials = grpc.ssl_channel_credentials(root_certificates=handle.read())
        except OSError as exc:
            raise ConfigurationError(
                "OTEL_EXPORTER_OTLP_CERTIFICATE", settings.otlp_certificate, "a readable PEM file"
            ) from exc
    return Grpc(
        endpoint=endpoint,
        headers=settings.otlp_headers or None,
        insecure=endpoint.startswith("http://"),
        credentials=credentials,
        timeout=settings.otlp_timeout_ms / 1000.0,
        compression=grpc.Compression.Gzip if settings.otlp_compression == "gzip" else None,
    )


def build_spool(settings: Settings, metrics: Metrics) -> Spool | None:
    """The durable spool the settings ask for, or None (``none``, or a folder that cannot
    be made: then a warning, and export works without it)."""
    folder = settings.export_spool_dir
    if folder is not None and folder.lower() == "none":
        return None
    path = folder or default_spool_folder(settings.service_name)
    try:
        return Spool(path, metrics, max_bytes=settings.export_spool_max_bytes)
    except OSError as exc:
        _log.warning("agentwatch: no export spool (AGENTWATCH_EXPORT_SPOOL_DIR=%s): %r", path, exc)
        return None


def _otlp_logs_endpoint(settings: Settings) -> tuple[str, str]:
    """The logs endpoint and the setting it came from: as given, or the traces endpoint's
    base with /v1/logs."""
    if settings.otlp_logs_endpoint:
        return settings.otlp_logs_endpoint, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
    if settings.otlp_protocol == "grpc":
        raise ConfigurationError(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "grpc",
            "http/protobuf when logs_exporter=otlp, or an OTLP/HTTP "
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT (logs are sent over HTTP only)",
        )
    if settings.otlp_endpoint:
        base, source = settings.otlp_endpoint.rstrip("/"), "OTEL_EXPORTER_OTLP_ENDPOINT"
    elif settings.otlp_traces_endpoint:
        base, source = (
            settings.otlp_traces_endpoint.rstrip("/"),
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        )
    else:
        raise ConfigurationError(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            None,
            "a URL (or OTEL_EXPORTER_OTLP_LOGS_ENDPOINT) when logs_exporter=otlp",
        )
    return base.removesuffix("/v1/traces") + "/v1/logs", source


def build_log_exporter(
    settings: Settings, resource: Any, prepare: Callable[[Any], LogRecordData]
) -> OtlpHttpLogExporter | None:
    """The OTLP/HTTP log exporter ``logs_exporter=otlp`` asks for, or None. The logs
    settings left unset take the traces exporter's (headers, compression, timeout, CA)."""
    if settings.logs_exporter != "otlp" or settings.sdk_disabled:
        return None
    endpoint, source = _otlp_logs_endpoint(settings)
    timeout_ms = settings.otlp_logs_timeout_ms or settings.otlp_timeout_ms
    certificate = settings.otlp_logs_certificate or settings.otlp_certificate
    try:
        return OtlpHttpLogExporter(
            endpoint,
            resource=resource,
            prepare=prepare,
            headers=(
                settings.otlp_headers
                if settings.otlp_logs_headers is None
                else settings.otlp_logs_headers
            ),
            timeout=timeout_ms / 1000.0,
            compression=settings.otlp_logs_compression or settings.otlp_compression,
            certificate_file=certificate,
        )
    except ValueError as exc:
        raise ConfigurationError(source, endpoint, "an http:// or https:// URL") from exc
    except OSError as exc:  # the CA file cannot be read
        key = (
            "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE"
            if settings.otlp_logs_certificate
            else "OTEL_EXPORTER_OTLP_CERTIFICATE"
        )
        raise ConfigurationError(key, certificate, "a readable PEM file") from exc
