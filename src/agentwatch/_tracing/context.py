"""The OpenTelemetry current context, set and reset on the request path.

``opentelemetry.context.attach`` reaches its ``ContextVar`` through two Python frames.
With the default runtime context the middleware sets the variable itself — one C call each
way; any other runtime context (``OTEL_PYTHON_CONTEXT``) goes through the API.
:data:`CURRENT_SPAN_KEY` is the context key of the current span, learnt through the public
API, for the middleware and the propagators that build contexts directly.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context

from .._compat import current_context_var

__all__ = ["CURRENT_SPAN_KEY", "attach", "detach"]

CURRENT_SPAN_KEY = next(iter(trace.set_span_in_context(trace.INVALID_SPAN, Context())))


_VAR = current_context_var()
attach: Callable[[Context], Token[Context]] = _VAR.set if _VAR is not None else otel_context.attach
detach: Callable[[Token[Context]], Any] = _VAR.reset if _VAR is not None else otel_context.detach
