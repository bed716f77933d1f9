"""The base of the GenAI helpers: a span and catalog metrics around one unit of work.

An :class:`Operation` (``llm_call``, ``agent_run``, ``workflow_run``, ``tool_call``,
``approval_wait``) is a context manager (``with`` and ``async with``) and a decorator
(sync and async functions; every call gets a fresh copy). It starts a span as a child of
the current span, makes it current for the block, records the catalog metrics when it
ends and reports status ``success`` or ``error`` (exception class name as ``error.type``).
Instrumentation never raises into the application: its own failures go through
``report_internal_error``.

Errors and ancestors. An exception leaving the block marks the span ERROR and records it;
if it keeps propagating, each enclosing operation does the same and, at the top, the
request middleware marks the server span. When the application *handles* a failure —
a workflow that catches its agent's exception and answers "failed" — call
``run.fail(exc, propagate=True)`` or :func:`mark_error`: the span and every ancestor up to
the request (the spans of the enclosing operations, and the span that was current when the
outermost one started) get status ERROR and ``error.type``, so the trace is kept.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Any, Self, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from .._metrics.registry import Metrics
from .._state import Telemetry, report_internal_error, telemetry
from .._tracing.events import record_exception

__all__ = ["ERROR", "SUCCESS", "Operation", "current_operation", "error_type_of", "mark_error"]

SUCCESS = "success"
ERROR = "error"
F = TypeVar("F", bound=Callable[..., Any])
_current: ContextVar[Operation | None] = ContextVar("agentwatch_operation", default=None)


def current_operation() -> Operation | None:
    """The innermost agentwatch operation running in this context."""
    return _current.get()


def error_type_of(error: BaseException | str) -> str:
    """Low-cardinality error type: the given string, ``cancelled`` or the exception class."""
    if isinstance(error, str):
        return error or "_OTHER"
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    return type(error).__qualname__


def mark_span(
    span: trace.Span, error_type: str, error: BaseException | None = None, description: str = ""
) -> None:
    """Status ERROR and ``error.type`` on a live span; the exception recorded when given."""
    if not span.is_recording():
        return
    span.set_status(Status(StatusCode.ERROR, description or error_type))
    span.set_attribute("error.type", error_type)
    if error is not None:
        record_exception(span, error)


class Operation:
    """A span plus metrics around a block; subclasses name it and record their pack."""

    kind = SpanKind.INTERNAL
    component = "genai"

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.span: trace.Span = trace.INVALID_SPAN
        self.parent: Operation | None = None
        self.parent_span: trace.Span | None = None
        self.error_type: str | None = None
        self.duration_seconds = 0.0
        self._telemetry: Telemetry | None = None
        self._started = 0.0
        self._state = 0  # 0 new, 1 running, 2 ended
        self._context_token: object = None
        self._operation_token: Token[Operation | None] | None = None

    # -- what subclasses provide ---------------------------------------------------------
    def _span_name(self) -> str:
        raise NotImplementedError

    def _attributes(self) -> dict[str, AttributeValue]:
        return {}

    def _record_start(self, metrics: Metrics) -> None:
        return None

    def _before_end(self) -> None:
        return None

    def _record_end(self, metrics: Metrics) -> None:
        return None

    def _on_result(self, result: object) -> None:
        """Called with a decorated function's return value (LLM calls read usage from it)."""
        return None

    def scope(self) -> dict[str, str]:
        """What this operation says about the work under it (workflow, agent type)."""
        return {}

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def status(self) -> str:
        return ERROR if self.error_type else SUCCESS

    @property
    def running(self) -> bool:
        return self._state == 1

    def start(self, *, attach: bool = True) -> Self:
        """Start the span (current for this context when ``attach``) and the metrics."""
        if self._state != 0:
            report_internal_error(self.component, RuntimeError(f"{self!r} started twice"))
            return self
        try:
            active = telemetry()
            self._telemetry = active
            self.parent = _current.get()
            self.parent_span = trace.get_current_span()
            self.span = active.tracer.start_span(
                self._span_name(), kind=self.kind, attributes=self._attributes()
            )
            self._started = time.perf_counter()
            self._state = 1
            if attach:
                self._context_token = otel_context.attach(trace.set_span_in_context(self.span))
                self._operation_token = _current.set(self)
            self._record_start(active.metrics)
        except Exception as exc:
            report_internal_error(self.component, exc)
        return self

    def detach(self) -> None:
        """Stop being the current span of this context (the span goes on until :meth:`end`)."""
        operation_token, self._operation_token = self._operation_token, None
        context_token, self._context_token = self._context_token, None
        try:
            if operation_token is not None:
                _current.reset(operation_token)
            if context_token is not None:
                otel_context.detach(context_token)  # type: ignore[arg-type]
        except ValueError:  # ended from another context (a stream collected elsewhere)
            pass
        except Exception as exc:
            report_internal_error(self.component, exc)

    def fail(
        self, error: BaseException | str, *, propagate: bool = False, message: str = ""
    ) -> None:
        """Mark this operation failed without raising; ``propagate`` marks every ancestor.

        >>> run.fail(exc, propagate=True)   # a handled agent failure fails the request too
        """
        try:
            self.error_type = error_type_of(error)
            exception = error if isinstance(error, BaseException) else None
            description = message or (str(error) if exception is not None else "")
            mark_span(self.span, self.error_type, exception, description)
            if propagate:
                for span in self.ancestor_spans():
                    mark_span(span, self.error_type, None, description)
        except Exception as exc:
            report_internal_error(self.component, exc)

    def ancestor_spans(self) -> list[trace.Span]:
        """Spans above this one: enclosing operations and the spans they started under."""
        spans: list[trace.Span] = []
        seen = {id(self.span)}
        operation: Operation | None = self
        while operation is not None:
            for span in (operation.span, operation.parent_span):
                if span is not None and id(span) not in seen:
                    seen.add(id(span))
                    spans.append(span)
            operation = operation.parent
        return spans

    def end(self, error: BaseException | None = None) -> None:
        """End the span and record the metrics (once); ``error`` marks it failed."""
        if self._state != 1:
            return
        self._state = 2
        try:
            if error is not None and self.error_type is None:
                self.fail(error)  # an explicit fail() before the exception keeps its type
            self.duration_seconds = time.perf_counter() - self._started
            self._before_end()
            self.span.end()
            if self._telemetry is not None:
                self._record_end(self._telemetry.metrics)
        except Exception as exc:
            report_internal_error(self.component, exc)
        finally:
            self.detach()

    # -- protocols ------------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        self.end(error)

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        self.end(error)

    def fresh(self) -> Self:
        """An unstarted copy with the same arguments (what a decorator runs per call)."""
        clone = copy.copy(self)
        clone._reset()
        return clone

    def __call__(self, func: F) -> F:
        """Use as a decorator: each call of ``func`` runs inside a fresh copy."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                operation = self.fresh().start()
                try:
                    result = await func(*args, **kwargs)
                except BaseException as exc:
                    operation.end(exc)
                    raise
                operation._finish_with(result)
                return result

            return cast(F, run_async)

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            operation = self.fresh().start()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                operation.end(exc)
                raise
            operation._finish_with(result)
            return result

        return cast(F, run)

    def _finish_with(self, result: object) -> None:
        try:
            self._on_result(result)
        except Exception as exc:
            report_internal_error(self.component, exc)
        self.end()


def mark_error(error: BaseException | str, message: str = "") -> None:
    """Mark the current span and every ancestor up to the request as failed.

    For failures the application handles: the trace is kept by the error-priority sampler
    and the request span carries ``error.type``. The innermost operation gets status error.
    """
    try:
        current = trace.get_current_span()
        operation = _current.get()
        exception = error if isinstance(error, BaseException) else None
        if operation is None or current is not operation.span:
            mark_span(current, error_type_of(error), exception, message or str(error))
        if operation is not None:
            operation.fail(error, propagate=True, message=message)
    except Exception as exc:
        report_internal_error("genai", exc)
