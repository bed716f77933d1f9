"""Exception events on spans, their stack traces formatted through the cache.

:func:`record_exception` is ``span.record_exception`` for any span, with the stack trace of
``agentwatch._sentry.stacktrace`` (formatted once per distinct stack) instead of the SDK's
``traceback.format_exc`` on every call. The GenAI operations, the outbound HTTP spans, the
SQLAlchemy spans and the request's server span all record through it.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

from .._semconv import exception_event_attributes
from .._sentry.stacktrace import exception_message, format_exception, stack_parts

__all__ = ["exception_attributes", "record_exception"]


def exception_attributes(exception: BaseException) -> dict[str, Any]:
    """The semantic-convention attributes of an ``exception`` event (stack trace cached)."""
    kind, message = type(exception).__qualname__, exception_message(exception)
    parts = stack_parts(exception, message)
    if parts is None:  # a cause or context shown before it: no part is the same twice
        return {
            "exception.type": kind,
            "exception.message": message,
            "exception.stacktrace": format_exception(exception),
            "exception.escaped": "False",
        }
    return exception_event_attributes(kind, message, *parts)


def record_exception(span: trace.Span, exception: BaseException) -> None:
    """``span.record_exception`` with the stack trace formatted through the cache.

    Formatting happens now, not at export, so the request's frames are not kept alive.
    """
    if span.is_recording():
        span.add_event("exception", exception_attributes(exception))
