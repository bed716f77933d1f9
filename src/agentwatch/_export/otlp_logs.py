"""The OTLP logs request, written as protobuf bytes like the span encoder (``otlp.py``).

:class:`LogRecordData` is one record as the logs part (``agentwatch._logs``) hands it over,
already redacted; :class:`LogsRequestEncoder` writes an ``ExportLogsServiceRequest`` of
them: one ``ResourceLogs`` (the resource given once), one ``ScopeLogs`` per logger name (the
scope, as the OpenTelemetry SDK's logging handler names it), and per record the
``LogRecord`` fields ``time_unix_nano``, ``observed_time_unix_nano``, ``severity_number``,
``severity_text``, ``body``, ``attributes``, ``flags`` (the W3C trace flags), ``trace_id``
and ``span_id``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from .otlp_fields import SpanFields
from .otlp_http import OtlpHttpExporter
from .otlp_wire import PairCache, prefixed, string, varint

__all__ = [
    "EncodedRecord",
    "LogRecordData",
    "LogsRequestEncoder",
    "OtlpHttpLogExporter",
    "severity_number",
]

_TIMES = struct.Struct("<BQBQ").pack  # time_unix_nano (1), observed_time_unix_nano (11)
_FLAGS = struct.Struct("<BI").pack  # flags (8), fixed32
_IDS = struct.Struct(">2sQQ2sQ").pack  # trace_id (9), span_id (10)


EncodedRecord = tuple[str, bytes]  # scope name, LogRecord message


class LogRecordData(NamedTuple):
    """One log record, redacted, ready to encode. ``trace_id`` 0 means outside a span."""

    time_ns: int
    observed_ns: int
    severity_number: int
    severity_text: str
    body: str
    attributes: Mapping[str, Any]
    scope: str
    trace_id: int = 0
    span_id: int = 0
    trace_flags: int = 0


def severity_number(levelno: int) -> int:
    """A stdlib level as an OTLP ``SeverityNumber``, as the OpenTelemetry SDK's logging
    handler maps it: DEBUG 5, INFO 9, WARNING 13, ERROR 17, CRITICAL 21; levels between take
    the next numbers of their range (at most +3); below DEBUG, UNSPECIFIED (0)."""
    if levelno < 10:
        return 0
    base, offset = divmod(min(levelno, 53), 10)
    return 1 + 4 * min(base, 5) + min(offset if base < 5 else levelno - 50, 3)


class LogsRequestEncoder:
    """``ExportLogsServiceRequest`` bytes for batches of :class:`LogRecordData`.

    The resource (any object with ``attributes``, such as the SDK's ``Resource``) is encoded
    once; attribute pairs and scope names that repeat are cached like a span's.
    """

    def __init__(self, resource: Any) -> None:
        self._fields = SpanFields()
        self._pairs = PairCache(b"\x32")  # LogRecord.attributes
        parts: list[bytes] = []
        attributes = getattr(resource, "attributes", None)
        if attributes:
            self._fields.attributes(PairCache(b"\x0a"), attributes, parts)
        self._resource = b"\x0a" + prefixed(b"".join(parts))  # ResourceLogs.resource
        url = getattr(resource, "schema_url", None)
        self._schema = b"\x1a" + string(url) if url else b""
        self._scopes: dict[str, bytes] = {}

    def encode(self, records: Sequence[LogRecordData]) -> bytes:
        return self.encode_request(self.encode_records(records))

    def encode_records(self, records: Sequence[LogRecordData]) -> list[EncodedRecord]:
        """Each record's scope and ``LogRecord`` message, for :meth:`encode_request`."""
        return [(record.scope, self.record(record)) for record in records]

    def encode_request(self, records: Sequence[EncodedRecord]) -> bytes:
        """The request of records :meth:`encode_records` encoded, one ``ScopeLogs`` per
        scope in order of first appearance."""
        by_scope: dict[str, list[bytes]] = {}
        for scope, body in records:
            by_scope.setdefault(scope, []).extend((b"\x12", varint(len(body)), body))
        scope_logs = [
            b"\x12" + prefixed(self._scope(name) + b"".join(logs))  # ResourceLogs.scope_logs
            for name, logs in by_scope.items()
        ]
        resource_logs = self._resource + b"".join(scope_logs) + self._schema
        return b"\x0a" + prefixed(resource_logs)  # ExportLogsServiceRequest.resource_logs

    def record(self, record: LogRecordData) -> bytes:
        """The ``LogRecord`` message of one record."""
        parts = [
            _TIMES(0x09, record.time_ns, 0x59, record.observed_ns),
            b"\x10" + varint(record.severity_number),
        ]
        if record.severity_text:
            parts.append(b"\x1a" + string(record.severity_text))
        parts.append(b"\x2a" + prefixed(b"\x0a" + string(record.body)))  # body: string_value
        if record.attributes:
            self._fields.attributes(self._pairs, record.attributes, parts)
        if record.trace_id:
            parts.append(_FLAGS(0x45, record.trace_flags & 0xFF))
            high, low = record.trace_id >> 64, record.trace_id & ((1 << 64) - 1)
            parts.append(_IDS(b"\x4a\x10", high, low, b"\x52\x08", record.span_id))
        return b"".join(parts)

    def _scope(self, name: str) -> bytes:
        """The ``ScopeLogs.scope`` field of a logger name, cached."""
        field = self._scopes.get(name)
        if field is None:
            field = b"\x0a" + prefixed(b"\x0a" + string(name))
            if len(self._scopes) >= 1024:
                self._scopes.clear()
            self._scopes[name] = field
        return field


class OtlpHttpLogExporter(OtlpHttpExporter):
    """Exports log records as OTLP/HTTP protobuf through the span exporter's transport (one
    keep-alive connection, the same retries, ``Retry-After``, and the spool's
    ``encode_spans`` / ``frame`` / ``send_body`` steps).

    The queue hands it what the logs part queued; ``prepare`` turns each item into a
    :class:`LogRecordData` on the export thread (there the logs part redacts), and
    ``resource`` is the resource of every record.
    """

    items = "log records"

    def __init__(
        self,
        endpoint: str,
        *,
        resource: Any,
        prepare: Callable[[Any], LogRecordData] | None = None,
        **transport: Any,
    ) -> None:
        super().__init__(endpoint, **transport)
        self.signal = "/v1/logs"  # the spool's name for these batches, whatever the path
        self._logs = LogsRequestEncoder(resource)
        self._prepare = prepare

    def encode_spans(self, spans: Sequence[Any]) -> list[EncodedRecord]:  # type: ignore[override]
        """The records prepared and encoded (the queue's export thread calls it)."""
        prepare = self._prepare
        records = [prepare(item) for item in spans] if prepare else list(spans)
        return self._logs.encode_records(records)

    def frame(self, spans: Sequence[EncodedRecord]) -> bytes:  # type: ignore[override]
        return self._logs.encode_request(spans)
