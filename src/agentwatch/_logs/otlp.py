"""OTLP log export (``logs_exporter=otlp``): log records to the OTLP endpoint's ``/v1/logs``.

:class:`OtlpLogHandler` sits on the root logger and uvicorn's, beside the JSON lines on
stderr. On the logging thread it only captures what cannot wait — the message with its
arguments, the current trace and span ids, the formatted exception, the ``extra`` fields —
and appends it to a bounded :class:`~agentwatch._export.queue.ExportQueue`
(``signal="log"``: a full queue drops the record and counts it in
``agentwatch_logs_dropped_total{reason="queue_full"}``). The export thread redacts each
record with the JSON lines' rules (:func:`redacted`), encodes and sends it.

A record becomes a ``LogRecord``: body the message; severity number and text from the
level; time from the record, observed time from the handler; trace id, span id and trace
flags of the span it was logged in; the scope named after the logger; attributes the
``extra`` fields, ``exception.type``/``exception.message``/``exception.stacktrace`` and
``code.file.path``/``code.function.name``/``code.line.number``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from .._export.exporters import build_log_exporter, build_spool
from .._export.otlp_logs import LogRecordData, severity_number
from .._export.queue import ExportQueue
from .._export.spool import Spool
from .._metrics.registry import Metrics
from .._redact import Redactor
from .._settings import Settings
from .formatter import exception_text, extra_fields, record_context

__all__ = ["CapturedRecord", "LogExport", "OtlpLogHandler", "redacted"]

_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")  # uvicorn's do not propagate
_INT64 = 1 << 63


class CapturedRecord(NamedTuple):
    """What the handler keeps of a ``logging.LogRecord``: nothing redacted yet."""

    time_ns: int
    observed_ns: int
    levelno: int
    levelname: str
    logger: str
    message: str
    exception: tuple[str, str, str] | None  # type, message, stack trace
    extra: dict[str, Any]
    code: tuple[str, str, int]  # file path, function, line
    trace_id: int
    span_id: int
    trace_flags: int


def capture(record: logging.LogRecord) -> CapturedRecord:
    context = record_context(record)
    valid = context.is_valid
    exc_info = record.exc_info
    return CapturedRecord(
        time_ns=int(record.created * 1e9),
        observed_ns=time.time_ns(),
        levelno=record.levelno,
        levelname=record.levelname,
        logger=record.name,
        message=record.getMessage(),
        exception=exception_text(exc_info) if exc_info and exc_info[0] is not None else None,
        extra=dict(extra_fields(record)),
        code=(record.pathname, record.funcName, record.lineno),
        trace_id=context.trace_id if valid else 0,
        span_id=context.span_id if valid else 0,
        trace_flags=int(context.trace_flags) if valid else 0,
    )


def redacted(record: CapturedRecord, redactor: Redactor) -> LogRecordData:
    """The record as it is sent: message, exception and extras through ``redactor`` as in
    the JSON lines (sensitive keys masked whole, strings scrubbed)."""
    redact = redactor.redact
    path, function, line = record.code
    attributes: dict[str, Any] = {
        "code.file.path": path,
        "code.function.name": function,
        "code.line.number": line,
    }
    if record.exception is not None:
        kind, message, stack = record.exception
        attributes["exception.type"] = kind
        attributes["exception.message"] = redact(message)
        attributes["exception.stacktrace"] = redact(stack)
    for key, value in record.extra.items():
        attributes[key] = _otlp_value(redactor.redact_value(value, key))
    return LogRecordData(
        time_ns=record.time_ns,
        observed_ns=record.observed_ns,
        severity_number=severity_number(record.levelno),
        severity_text=record.levelname,
        body=redact(record.message),
        attributes=attributes,
        scope=record.logger,
        trace_id=record.trace_id,
        span_id=record.span_id,
        trace_flags=record.trace_flags,
    )


def _otlp_value(value: Any) -> Any:
    """A value OTLP can carry: scalars and their lists and maps; anything else as text."""
    if value is None or isinstance(value, (str, bool, float)):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)
    if isinstance(value, (list, tuple)):
        return [_otlp_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _otlp_value(item) for key, item in value.items()}
    return str(value)


class OtlpLogHandler(logging.Handler):
    """Captures each record once (it may sit on several loggers of one chain) and queues
    it; never blocks on the network, never raises into the application."""

    def __init__(self, queue: ExportQueue) -> None:
        super().__init__()
        self._put: Callable[[list[Any]], None] = queue.put_many

    def emit(self, record: logging.LogRecord) -> None:
        if record.__dict__.get("_agentwatch_otlp"):
            return
        record._agentwatch_otlp = True
        try:
            self._put([capture(record)])
        except Exception:
            self.handleError(record)


class LogExport:
    """The OTLP log pipeline ``init()`` wires: exporter, queue, handler; reversible.

    :meth:`apply` is idempotent and runs again at ASGI startup (servers configure their
    loggers after ``init()``, replacing the handlers of uvicorn's).
    """

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        redactor: Redactor,
        resource: Any,
        spool: Spool | None = None,
    ) -> None:
        """``spool``: the traces queue's, shared; else one is made as the settings say."""
        exporter = build_log_exporter(settings, resource, lambda r: redacted(r, redactor))
        self.queue: ExportQueue | None = None
        self.handler: OtlpLogHandler | None = None
        if exporter is None:
            return
        self.queue = ExportQueue(
            exporter,
            metrics,
            max_size=settings.logs_queue_size,
            batch_size=settings.export_batch_size,
            interval_seconds=settings.export_interval_seconds,
            spool=spool or build_spool(settings, metrics),
            signal="log",
        )
        self.handler = OtlpLogHandler(self.queue)

    def apply(self) -> None:
        if self.handler is None:
            return
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            if self.handler not in logger.handlers:
                logger.addHandler(self.handler)

    def undo(self) -> None:
        if self.handler is None:
            return
        for name in _LOGGERS:
            logging.getLogger(name).removeHandler(self.handler)

    def flush(self, timeout_seconds: float = 10.0) -> bool:
        return self.queue.flush(timeout_seconds) if self.queue else True

    def drain(self, timeout_seconds: float = 5.0) -> bool:
        """Flush until the deadline, then spool what is left (the queue keeps running)."""
        return self.queue.drain(timeout_seconds) if self.queue else True

    def shutdown(self, timeout_seconds: float = 10.0) -> None:
        self.undo()
        if self.queue is not None:
            self.queue.shutdown(timeout_seconds)
