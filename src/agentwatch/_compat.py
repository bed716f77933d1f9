"""The private parts of OpenTelemetry and prometheus_client agentwatch relies on, in one place.

Every one is reached here and nowhere else, each for speed on the request path or to leave
the application's objects as they were found, and each with a way through the public API
when an installed version no longer has it (slower, or less tidy, never wrong). Checked
against the versions ``make test`` installs: :data:`CHECKED`. :func:`missing` names what the
installed versions lack; ``tests/test_compat.py`` fails on it, so an upgrade that removes one
is seen at once, not as a slow request path.

OpenTelemetry (api and sdk):

- ``opentelemetry.context._RUNTIME_CONTEXT._current_context``: the ``ContextVar`` of the
  default runtime context, set directly by the middleware (one C call each way instead of
  two Python frames); without it, ``opentelemetry.context.attach`` / ``detach``.
- ``opentelemetry.context._SUPPRESS_INSTRUMENTATION_KEY`` and
  ``_SUPPRESS_HTTP_INSTRUMENTATION_KEY``: the keys instrumentations read to stay quiet (the
  export thread, outgoing calls already traced); without them, keys of agentwatch's own.
- ``TracerProvider._active_span_processor`` and its ``_span_processors`` tuple and
  ``_lock``: whether agentwatch's processor is the provider's only one (then server spans
  are lean), and taking it off again at shutdown; without them, SDK server spans and a
  processor left on the provider, switched off.
- ``SpanContext`` is the tuple (trace_id, span_id, is_remote, trace_flags, trace_state,
  is_valid): made and read as one; without it, the constructor and its properties.
- ``TraceState._dict``: a trace state built from members already validated; without it,
  the constructor, which validates them again.

prometheus_client:

- ``prometheus_client.values.ValueClass``, ``MutexValue``, ``MultiProcessValue``: which
  value class the instruments use (multi-process mode).
- a histogram child's ``_upper_bounds``, ``_buckets`` and ``_sum``: what the request-path
  tallies fold into; without them, histograms are observed directly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry.context import Context, create_key
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanContext, TraceFlags, TraceState
from prometheus_client import Histogram, values

__all__ = [
    "CHECKED",
    "SPAN_CONTEXTS_UNPACK",
    "SUPPRESS_HTTP_INSTRUMENTATION_KEY",
    "SUPPRESS_INSTRUMENTATION_KEY",
    "HistogramParts",
    "current_context_var",
    "histogram_parts",
    "missing",
    "multiprocess_values",
    "remove_span_processor",
    "span_context_builder",
    "span_processors_of",
    "trace_state_of",
    "use_multiprocess_values",
]

# the distributions and versions every part below was checked against
CHECKED = {
    "opentelemetry-api": "1.45.2",
    "opentelemetry-sdk": "1.45.2",
    "prometheus-client": "0.26.0",
}

# -- OpenTelemetry: the context ---------------------------------------------------------------


def current_context_var() -> ContextVar[Context] | None:
    """The ``ContextVar`` behind the default runtime context; None for any other runtime
    context (``OTEL_PYTHON_CONTEXT``) or a version without it."""
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    if type(runtime).__name__ != "ContextVarsRuntimeContext":
        return None
    var = getattr(runtime, "_current_context", None)
    return var if isinstance(var, ContextVar) else None


def _key(name: str, fallback: str) -> str:
    key = getattr(otel_context, name, None)
    return key if isinstance(key, str) else create_key(fallback)


SUPPRESS_INSTRUMENTATION_KEY = _key("_SUPPRESS_INSTRUMENTATION_KEY", "suppress_instrumentation")
SUPPRESS_HTTP_INSTRUMENTATION_KEY = _key(
    "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", "suppress_http_instrumentation"
)

# -- OpenTelemetry: the provider's processors --------------------------------------------------


def span_processors_of(provider: Any) -> Callable[[], tuple[Any, ...] | None]:
    """A function giving the provider's current tuple of span processors (a new tuple each
    time one is added), cheap enough to call per request; it gives None for a provider
    whose processors cannot be read."""
    active = getattr(provider, "_active_span_processor", None)
    if not isinstance(getattr(active, "_span_processors", None), tuple):
        return _none
    return functools.partial(getattr, active, "_span_processors", None)


def _none() -> None:
    return None


def remove_span_processor(provider: Any, processor: Any) -> bool:
    """Take ``processor`` off ``provider`` again; False when that cannot be done."""
    active = getattr(provider, "_active_span_processor", None)
    lock = getattr(active, "_lock", None)
    if lock is None or not isinstance(getattr(active, "_span_processors", None), tuple):
        return False
    with lock:
        kept = tuple(p for p in active._span_processors if p is not processor)  # type: ignore[union-attr]
        active._span_processors = kept  # type: ignore[union-attr]
    return True


# -- OpenTelemetry: SpanContext and TraceState -------------------------------------------------

SpanContextBuilder = Callable[[int, int, TraceFlags, TraceState], SpanContext]


def _valid_span_context(
    trace_id: int, span_id: int, flags: TraceFlags, state: TraceState
) -> SpanContext:
    """A local ``SpanContext`` for ids known valid, without re-checking them."""
    return tuple.__new__(SpanContext, (trace_id, span_id, False, flags, state, True))  # type: ignore[no-any-return]


def _checked_span_context(
    trace_id: int, span_id: int, flags: TraceFlags, state: TraceState
) -> SpanContext:
    return SpanContext(trace_id, span_id, False, flags, state)


def _builds_span_contexts() -> bool:
    flags, state = TraceFlags(1), TraceState([("k", "v")])
    expected = SpanContext(0xABC, 0xDEF, False, flags, state)
    built = _valid_span_context(0xABC, 0xDEF, flags, state)
    return built == expected and all(
        getattr(built, name) == getattr(expected, name)
        for name in ("trace_id", "span_id", "is_remote", "trace_flags", "trace_state", "is_valid")
    )


def _unpacks_span_contexts() -> bool:
    flags, state = TraceFlags(1), TraceState([("k", "v")])
    context = SpanContext(0xABC, 0xDEF, True, flags, state)
    return isinstance(context, tuple) and tuple(context) == (0xABC, 0xDEF, True, flags, state, True)


def span_context_builder() -> SpanContextBuilder:
    """``(trace_id, span_id, flags, state) -> SpanContext`` of a local span: the tuple made
    directly when that builds exactly what the constructor builds, else the constructor."""
    return _valid_span_context if _builds_span_contexts() else _checked_span_context


# True when a SpanContext unpacks as (trace_id, span_id, is_remote, flags, state, is_valid)
SPAN_CONTEXTS_UNPACK = _unpacks_span_contexts()
_FAST_TRACE_STATE = isinstance(getattr(TraceState(), "_dict", None), dict)


def trace_state_of(entries: dict[str, str]) -> TraceState:
    """The ``TraceState`` of members already validated (W3C Level 2 grammar).

    Level 2 keys are a superset of the Level 1 keys ``TraceState`` checks, so without the
    fast path (``_dict`` missing) the keys only Level 2 allows are dropped by ``TraceState``.
    """
    if _FAST_TRACE_STATE:
        state = TraceState()
        state._dict = entries
        return state
    return TraceState(list(entries.items()))


# -- prometheus_client --------------------------------------------------------------------------


def multiprocess_values() -> bool:
    """Whether prometheus_client's instruments keep their values in multi-process files."""
    return getattr(values, "ValueClass", None) is not getattr(values, "MutexValue", None)


def use_multiprocess_values() -> None:
    """Make instruments created from now on keep their values in multi-process files."""
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class HistogramParts(NamedTuple):
    """What a fold writes into of a histogram child."""

    bounds: tuple[float, ...]  # the upper bounds, +Inf last
    buckets: tuple[Any, ...]  # the value of each bucket (not cumulative)
    sum: Any  # the value of the sum


def histogram_parts(child: Any) -> HistogramParts | None:
    """The parts of a histogram child, or None when it does not have them."""
    bounds = getattr(child, "_upper_bounds", None)
    buckets = getattr(child, "_buckets", None)
    total = getattr(child, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        return None
    return HistogramParts(tuple(bounds), tuple(buckets), total)


# -- what the installed versions lack -----------------------------------------------------------


def missing() -> list[str]:
    """One line per private part the installed versions lack, naming the part, the
    installed version and the one it was checked against."""
    api, sdk, prometheus = "opentelemetry-api", "opentelemetry-sdk", "prometheus-client"
    value_classes = ("ValueClass", "MutexValue", "MultiProcessValue")
    probe = Histogram("agentwatch_compat_probe", "probe", registry=None)
    lacks = [
        (
            api,
            "opentelemetry.context._RUNTIME_CONTEXT._current_context",
            current_context_var() is not None,
        ),
        (
            api,
            "opentelemetry.context._SUPPRESS_INSTRUMENTATION_KEY",
            hasattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY"),
        ),
        (
            api,
            "opentelemetry.context._SUPPRESS_HTTP_INSTRUMENTATION_KEY",
            hasattr(otel_context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY"),
        ),
        (sdk, "TracerProvider._active_span_processor._span_processors, _lock", _reads_processors()),
        (api, "SpanContext as one tuple", SPAN_CONTEXTS_UNPACK and _builds_span_contexts()),
        (api, "TraceState._dict", _FAST_TRACE_STATE),
        (
            prometheus,
            "values." + ", ".join(value_classes),
            all(hasattr(values, n) for n in value_classes),
        ),
        (prometheus, "Histogram._upper_bounds, _buckets, _sum", histogram_parts(probe) is not None),
    ]
    return [
        f"{distribution} {_installed(distribution)} has no {part} "
        f"(agentwatch._compat was checked against {CHECKED[distribution]})"
        for distribution, part, present in lacks
        if not present
    ]


def _reads_processors() -> bool:
    provider = TracerProvider()
    active = getattr(provider, "_active_span_processor", None)
    return span_processors_of(provider)() is not None and hasattr(active, "_lock")


def _installed(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "(not installed)"
