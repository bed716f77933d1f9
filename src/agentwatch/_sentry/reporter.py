"""Errors to Sentry, linked to their OpenTelemetry trace, captured off the request path.

When ``sentry_dsn`` (or ``SENTRY_DSN``) is set, ``init()`` calls :func:`attach`, which
sets up sentry-sdk lean: no local variables, no source context, the 30 innermost frames, no
Sentry performance tracing (OpenTelemetry does traces), no auto-enabled integrations,
no personal data (``send_default_pii`` off), and every event scrubbed by the same
:class:`Redactor` as the logs before it is sent.

Every event carries the trace id and span id of the span current when the error was
captured, in ``contexts.trace`` and as tags ``trace_id`` / ``span_id`` — the same ids as
the JSON log line of that error and the exported trace.

Capture is cheap on the request path: :func:`capture_exception` (the middleware calls it
while the server span is current) and the logging handler only snapshot the trace ids,
ask the :class:`~agentwatch._sentry.gate.ErrorGate` (sampling by level, repeats of the
same error held back, a rate limit) and queue the error; a background thread builds the
Sentry event (about 1 ms of CPU for 30 frames) and hands it to sentry-sdk's transport. An
exception is sent once even when it is both captured and logged. Every outcome is counted
in ``agentwatch_error_events_total{outcome}``.

Each request runs in its own sentry-sdk isolation scope (:mod:`.requests`): what the app
sets there (tags, user, contexts, breadcrumbs) belongs to that request alone. A queued
error takes a copy of the scopes it was captured in, and the worker sends it in that
copy, so the event carries its own request's data and nobody else's, including the
request (method, URL, route, headers, secrets stripped). Log records at INFO and above,
below the event level, become breadcrumbs of the current scope (at most
``MAX_BREADCRUMBS``, the latest kept).
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace

from .._exceptions import ConfigurationError
from .._metrics.registry import Metrics
from .._redact import Redactor
from .._settings import Settings
from .._state import report_internal_error, telemetry
from .gate import ErrorGate, fingerprint
from .requests import RequestIsolation

__all__ = ["ErrorReporter", "attach", "capture_exception", "current_trace_ids", "sentry_options"]

_MARK = "_agentwatch_sentry_captured"
_SENTRY_LEVELS = {logging.CRITICAL: "fatal", logging.ERROR: "error", logging.WARNING: "warning"}
_SCRUBBED_KEYS = ("logentry", "message", "extra", "request", "breadcrumbs", "user")
MAX_FRAMES = 30  # innermost frames kept per exception: the cost of an event is per frame
MAX_BREADCRUMBS = 50  # per scope: a request's latest breadcrumbs
BREADCRUMB_LEVEL = logging.INFO  # log records from here up to the event level: breadcrumbs
_TRACE_TAGS = ("trace_id", "span_id")
_active: ErrorReporter | None = None


def current_trace_ids() -> dict[str, str] | None:
    """``{"trace_id", "span_id"[, "parent_span_id"]}`` of the current OTel span, or None."""
    span = trace.get_current_span()
    context = span.get_span_context()
    if not context.is_valid:
        return None
    ids = {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
    parent = getattr(span, "parent", None)
    if parent is not None:
        ids["parent_span_id"] = format(parent.span_id, "016x")
    return ids


def _sentry_level(levelno: int) -> str:
    for threshold, name in _SENTRY_LEVELS.items():
        if levelno >= threshold:
            return name
    return "info"


def _first_capture(exc: BaseException) -> bool:
    """True the first time ``exc`` is seen (captured and logged: one event)."""
    marks = exc.__dict__  # every exception has one, __slots__ or not
    if _MARK in marks:
        return False
    marks[_MARK] = True
    return True


def _innermost(exc_info: Any, limit: int) -> tuple[Any, BaseException, Any]:
    """``(type, value, traceback)`` with the traceback cut to its innermost ``limit`` frames."""
    if isinstance(exc_info, tuple):  # sys.exc_info()'s (type, value, traceback)
        _, value, tb = exc_info
    else:
        value, tb = exc_info, exc_info.__traceback__
    depth, node = 0, tb
    while node is not None:
        depth, node = depth + 1, node.tb_next
    for _ in range(depth - limit):
        tb = tb.tb_next
    return type(value), value, tb


@dataclass(frozen=True)
class _Pending:
    level: str
    trace_ids: dict[str, str] | None
    exc_info: Any = None
    message: str = ""
    logger: str = ""
    repeats_suppressed: int = 0
    scopes: tuple[Any, Any] | None = None  # copies of the isolation and current scopes


def _scopes() -> tuple[Any, Any]:
    """Copies of the scopes current here (the request's), for the worker to send in."""
    import sentry_sdk

    return sentry_sdk.get_isolation_scope().fork(), sentry_sdk.get_current_scope().fork()


class ErrorReporter:
    """Samples, rate-limits and queues errors; a worker thread sends them to Sentry."""

    def __init__(
        self,
        gate: ErrorGate,
        *,
        redactor: Redactor | None = None,
        metrics: Metrics | None = None,
        queue_size: int = 256,
    ) -> None:
        self.gate = gate
        self.redactor = redactor or Redactor()
        # agentwatch_error_events_total of ``metrics``; without: the active telemetry's
        self._events = None if metrics is None else metrics["agentwatch_error_events_total"]
        self._queue: queue.Queue[_Pending | None] = queue.Queue(queue_size)
        self._worker: threading.Thread | None = None
        self.client: Any = None  # the sentry-sdk client attach() created, closed by close()

    # -- the request path: cheap ------------------------------------------------------------
    def capture_exception(self, exc: BaseException, level: str = "error") -> bool:
        """Queue ``exc`` for Sentry with the current trace ids; never raises."""
        try:
            if not _first_capture(exc):
                return self._count("duplicate")
            refused, held = self.gate.admit(level, fingerprint(exc))
            if refused is not None:
                return self._count(refused)
            pending = _Pending(
                level, current_trace_ids(), exc, repeats_suppressed=held, scopes=_scopes()
            )
            return self._enqueue(pending)
        except Exception as error:
            report_internal_error("errors", error)
            return False

    def capture_record(self, record: logging.LogRecord) -> bool:
        """Queue a log record (with its exception, if any); never raises."""
        try:
            exc = record.exc_info[1] if record.exc_info else None
            if exc is not None and not _first_capture(exc):
                return self._count("duplicate")
            level = _sentry_level(record.levelno)
            refused, held = self.gate.admit(level, fingerprint(exc, record.name, record.msg))
            if refused is not None:
                return self._count(refused)
            pending = _Pending(
                level,
                current_trace_ids(),
                exc_info=record.exc_info if exc is not None else None,
                message=record.getMessage(),
                logger=record.name,
                repeats_suppressed=held,
                scopes=_scopes(),
            )
            return self._enqueue(pending)
        except Exception as error:
            report_internal_error("errors", error)
            return False

    def _enqueue(self, pending: _Pending) -> bool:
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            return self._count("queue_full")
        return True

    def _count(self, outcome: str) -> bool:
        try:
            events = self._events
            if events is None:
                events = telemetry().metrics["agentwatch_error_events_total"]
            events.tallied(outcome).inc()
        except Exception as exc:
            report_internal_error("errors", exc)
        return False

    # -- the worker: builds and sends events ----------------------------------------------
    def start(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="agentwatch-sentry", daemon=True)
            self._worker.start()

    @property
    def worker_ident(self) -> int | None:
        return self._worker.ident if self._worker is not None else None

    def _run(self) -> None:
        while True:
            pending = self._queue.get()
            try:
                if pending is None:
                    return
                self._send(pending)
            except Exception as exc:
                self._count("failed")
                report_internal_error("errors", exc)
            finally:
                self._queue.task_done()

    def _send(self, pending: _Pending) -> None:
        import sentry_sdk
        from sentry_sdk.scope import use_isolation_scope, use_scope
        from sentry_sdk.utils import event_from_exception

        client = sentry_sdk.get_client()
        event: Any = {}  # sentry_sdk's Event TypedDict, filled field by field
        hint: Any = {}
        if pending.exc_info is not None:
            mechanism = {"type": "agentwatch", "handled": bool(pending.logger)}
            event, hint = event_from_exception(
                _innermost(pending.exc_info, MAX_FRAMES),
                client_options=client.options,
                mechanism=mechanism,
            )
        event["level"] = pending.level
        if pending.message:
            event["logentry"] = {"message": pending.message, "formatted": pending.message}
        if pending.logger:
            event["logger"] = pending.logger
        if pending.repeats_suppressed:
            event["extra"] = {"repeats_suppressed": pending.repeats_suppressed}
        if pending.trace_ids is not None:
            _link(event, pending.trace_ids)
        hint["agentwatch_sampled"] = True
        if pending.scopes is None:
            sent = sentry_sdk.capture_event(event, hint=hint) is not None
        else:
            isolation, current = pending.scopes
            with use_isolation_scope(isolation), use_scope(current):
                sent = sentry_sdk.capture_event(event, hint=hint) is not None
        self._count("sent" if sent else "dropped")

    def flush(self, timeout_seconds: float = 2.0) -> bool:
        """Wait for queued errors to reach sentry-sdk, then flush its transport."""
        deadline = time.monotonic() + timeout_seconds
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
        import sentry_sdk

        sentry_sdk.flush(timeout=max(0.0, deadline - time.monotonic()))
        return not self._queue.unfinished_tasks

    def close(self, timeout_seconds: float = 2.0) -> None:
        """Flush, stop the worker and close the Sentry client."""
        global _active
        self.flush(timeout_seconds)
        if self._worker is not None:
            try:
                self._queue.put(None, timeout=timeout_seconds)
            except queue.Full:
                pass
            self._worker.join(timeout_seconds)
            self._worker = None
        import sentry_sdk

        client, self.client = self.client, None
        if client is not None:
            client.close(timeout=timeout_seconds)
            if sentry_sdk.get_global_scope().client is client:
                sentry_sdk.get_global_scope().set_client(None)
        if _active is self:
            _active = None

    # -- sentry-sdk hooks ---------------------------------------------------------------
    def before_send(self, event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
        """Link events captured directly through sentry-sdk too; scrub every event."""
        if "trace_id" not in (event.get("tags") or {}):
            ids = current_trace_ids()
            if ids is not None:
                _link(event, ids)
        return scrub_event(event, self.redactor)

    def error_sampler(self, event: dict[str, Any], hint: dict[str, Any]) -> float:
        """Level sampling for events not captured through the reporter (already sampled)."""
        if hint.get("agentwatch_sampled"):
            return 1.0
        return self.gate.rate_for(str(event.get("level") or "error"))


def _link(event: dict[str, Any], ids: Mapping[str, str]) -> None:
    contexts = event.setdefault("contexts", {})
    contexts["trace"] = dict(ids)
    tags = event.setdefault("tags", {})
    for key in _TRACE_TAGS:
        tags[key] = ids[key]


def scrub_event(event: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    """The event with messages, exception text, extras, request and tags redacted.

    Stack frames hold code locations only (no local variables, no source lines), so they
    are left as they are.
    """
    for exception in (event.get("exception") or {}).get("values") or ():
        if isinstance(exception.get("value"), str):
            exception["value"] = redactor.redact(exception["value"])
    for key in _SCRUBBED_KEYS:
        if key in event:
            event[key] = redactor.redact_value(event[key])
    tags = event.get("tags")
    if isinstance(tags, dict):
        event["tags"] = {
            k: v if k in _TRACE_TAGS else redactor.redact_value(v, str(k)) for k, v in tags.items()
        }
    return event


class SentryLogHandler(logging.Handler):
    """Hands log records at or above ``event_level`` to the reporter, and those from
    ``BREADCRUMB_LEVEL`` up as breadcrumbs of the current scope (not the reporter's own)."""

    def __init__(self, reporter: ErrorReporter, event_level: int) -> None:
        super().__init__(min(event_level, BREADCRUMB_LEVEL))
        self.reporter = reporter
        self.event_level = event_level

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("sentry_sdk") or record.thread == self.reporter.worker_ident:
            return
        if record.levelno >= self.event_level:
            self.reporter.capture_record(record)
        else:
            _breadcrumb(record)


def _breadcrumb(record: logging.LogRecord) -> None:
    """The record as a breadcrumb of the current isolation scope (scrubbed when sent)."""
    try:
        import sentry_sdk

        crumb = {
            "type": "log",
            "category": record.name,
            "level": _sentry_level(record.levelno),
            "message": record.getMessage(),
            "timestamp": record.created,
        }
        sentry_sdk.get_isolation_scope().add_breadcrumb(crumb)
    except Exception as exc:
        report_internal_error("errors", exc)


def sentry_options(settings: Settings, reporter: ErrorReporter) -> dict[str, Any]:
    """The lean sentry-sdk configuration (see the module docstring)."""
    from sentry_sdk.integrations.dedupe import DedupeIntegration
    from sentry_sdk.integrations.excepthook import ExcepthookIntegration

    options: dict[str, Any] = {
        "dsn": settings.sentry_dsn,
        "environment": settings.environment,
        "release": f"{settings.service_name}@{settings.service_version}",
        "default_integrations": False,
        "auto_enabling_integrations": False,
        "integrations": [DedupeIntegration(), ExcepthookIntegration()],
        "include_local_variables": False,
        "include_source_context": False,
        "max_stack_frames": MAX_FRAMES,
        "add_full_stack": False,
        "attach_stacktrace": False,
        "max_breadcrumbs": MAX_BREADCRUMBS,
        "traces_sample_rate": None,
        "profiles_sample_rate": None,
        "auto_session_tracking": False,
        "enable_logs": False,
        "enable_metrics": False,
        "before_send": reporter.before_send,
        "error_sampler": reporter.error_sampler,
    }
    if importlib.util.find_spec("sentry_sdk.data_collection") is None:
        options["send_default_pii"] = False  # newer sentry-sdk: off unless data_collection says
    return options


def attach(handle: Any) -> None:
    """Set up Sentry for ``handle`` when a DSN is configured; nothing otherwise."""
    global _active
    settings: Settings = handle.settings
    if not settings.sentry_dsn:
        return
    try:
        import sentry_sdk
    except ImportError:
        raise ConfigurationError(
            "sentry_dsn", "(set)", "sentry-sdk installed: pip install 'agentwatch[sentry]'"
        ) from None
    gate = ErrorGate(
        {
            "error": settings.sentry_error_sample_rate,
            "warning": settings.sentry_warning_sample_rate,
            "info": settings.sentry_info_sample_rate,
        },
        max_per_second=settings.sentry_max_events_per_second,
        repeat_seconds=settings.sentry_repeat_seconds,
    )
    reporter = ErrorReporter(
        gate,
        redactor=handle.redactor,
        metrics=handle.metrics,
    )
    sentry_sdk.init(**sentry_options(settings, reporter))
    reporter.client = sentry_sdk.get_client()
    reporter.start()
    route_of = getattr(handle, "route_of", None)
    if route_of is not None:
        handle.request_isolation = RequestIsolation(handle.redactor, route_of)
    handler = SentryLogHandler(reporter, logging.getLevelName(settings.sentry_event_level.upper()))
    logging.getLogger().addHandler(handler)
    _active = reporter
    handle.on_exception = reporter.capture_exception
    atexit.register(reporter.close)  # queued errors still go out when nobody calls shutdown()

    def detach() -> None:
        logging.getLogger().removeHandler(handler)
        handle.request_isolation = None
        atexit.unregister(reporter.close)
        reporter.close()

    handle.add_shutdown_callback(detach)
    handle.add_flush_callback(reporter.flush)


def capture_exception(exc: BaseException) -> bool:
    """Send ``exc`` to Sentry linked to the current span; False when not configured.

    The middleware calls this (via ``handle.on_exception``) while the server span is still
    current. Cheap and never raises: the event is built on a background thread.
    """
    reporter = _active
    if reporter is None:
        return False
    return reporter.capture_exception(exc)
