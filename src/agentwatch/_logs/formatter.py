"""JSON logs for stdlib logging, carrying the trace id, with secrets redacted.

Every line has ``time`` (ISO-8601, UTC, milliseconds), ``level``, ``logger``, ``message``,
``service``, and ``trace_id`` / ``span_id`` whenever a span is active — inside request
handlers, exception handlers and uvicorn's access log alike — plus the ``extra`` fields.
Message, exception text and extra values pass the :class:`~agentwatch._redact.Redactor`
before anything is written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry import trace

from .._redact import Redactor
from .._sentry.stacktrace import format_exception

__all__ = ["JsonFormatter", "LogSetup", "exception_text", "extra_fields", "record_context"]

_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def _iso(created: float) -> str:
    stamp = dt.datetime.fromtimestamp(created, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record. ``clock`` overrides the record time (for snapshots)."""

    def __init__(
        self,
        service: str = "",
        redactor: Redactor | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.redactor = redactor or Redactor()
        self._clock = clock

    def format(self, record: logging.LogRecord) -> str:
        redact = self.redactor.redact
        payload: dict[str, Any] = {
            "time": _iso(self._clock() if self._clock else record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if self.service:
            payload["service"] = self.service
        context = record_context(record)
        if context.is_valid:
            payload["trace_id"] = format(context.trace_id, "032x")
            payload["span_id"] = format(context.span_id, "016x")
        if record.exc_info and record.exc_info[0] is not None:
            kind, message, stack = exception_text(record.exc_info)
            payload["exception"] = {
                "type": kind,
                "message": redact(message),
                "stacktrace": redact(stack),
            }
        for key, value in extra_fields(record):
            if key not in payload:
                payload[key] = self.redactor.redact_value(value, key)
        return json.dumps(payload, default=str, ensure_ascii=False)


def record_context(record: logging.LogRecord) -> trace.SpanContext:
    """The span a record belongs to: the current one, else the one its exception left."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid and record.exc_info and record.exc_info[1] is not None:
        context = getattr(record.exc_info[1], "__agentwatch_span_context__", context)
    return context


def exception_text(exc_info: Any) -> tuple[str, str, str]:
    """Type name, message and stack trace of a record's ``exc_info``, not yet redacted."""
    kind, value, tb = exc_info
    stack = (
        format_exception(value)
        if value is not None
        else "".join(traceback.format_exception(kind, value, tb))
    )
    return kind.__qualname__, str(value), stack


def extra_fields(record: logging.LogRecord) -> Iterator[tuple[str, Any]]:
    """The ``extra`` fields of a record (not yet redacted: ``Redactor.redact_value``)."""
    for key, value in record.__dict__.items():
        if key not in _RECORD_FIELDS and not key.startswith("_"):
            yield key, value


class LogSetup:
    """The JSON formatter on the root logger and uvicorn's loggers, reversibly.

    :meth:`apply` is idempotent and runs again at ASGI startup, because servers such as
    ``uvicorn.run(app)`` configure their loggers after the application called ``init()``.
    """

    def __init__(
        self, service: str, redactor: Redactor, level: str = "info", fmt: str = "json"
    ) -> None:
        self._fmt = fmt
        self._level = level.upper()
        self._formatter: logging.Formatter = (
            JsonFormatter(service, redactor)
            if fmt == "json"
            else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
        )
        self._previous: dict[logging.Handler, logging.Formatter | None] = {}
        self._added: list[logging.Handler] = []
        self._old_level: int | None = None

    def apply(self) -> None:
        if self._fmt == "off":
            return
        root = logging.getLogger()
        if self._old_level is None:
            self._old_level = root.level
            root.setLevel(self._level)
        if not root.handlers:
            stream = logging.StreamHandler(sys.stderr)
            root.addHandler(stream)
            self._added.append(stream)
        for logger in [root, *(logging.getLogger(name) for name in _UVICORN_LOGGERS)]:
            for handler in logger.handlers:
                if handler.formatter is not self._formatter:
                    self._previous.setdefault(handler, handler.formatter)
                    handler.setFormatter(self._formatter)

    def undo(self) -> None:
        for handler, old in self._previous.items():
            handler.setFormatter(old)  # type: ignore[arg-type]
        self._previous.clear()
        root = logging.getLogger()
        for handler in self._added:
            root.removeHandler(handler)
        self._added.clear()
        if self._old_level is not None:
            root.setLevel(self._old_level)
            self._old_level = None
