"""The active telemetry: what instrumentation helpers record into.

``init()`` activates a :class:`Telemetry`; helpers such as ``llm_call`` read it with
:func:`telemetry`. Before ``init()`` (a library instrumented at import, a script) they get
a detached fallback with its own registry and the global OpenTelemetry tracer, so
instrumentation never fails for want of set-up.

:func:`report_internal_error` is how the SDK keeps its promise never to raise into the host:
it logs, counts ``agentwatch_internal_errors_total{component}`` and calls the registered
hooks (the test suite registers one that turns every such error into a failure).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry import trace
from prometheus_client import CollectorRegistry

from ._metrics.registry import GuardedMetric, Metrics
from ._redact import Redactor
from ._settings import Settings, load_settings

__all__ = [
    "Telemetry",
    "activate",
    "deactivate",
    "get_tracer",
    "metric",
    "report_internal_error",
    "telemetry",
]

_log = logging.getLogger("agentwatch")
InternalErrorHook = Callable[[str, BaseException], None]
internal_error_hooks: list[InternalErrorHook] = []


@dataclass
class Telemetry:
    """What instrumentation records into: settings, metrics, tracer and redactor."""

    settings: Settings
    metrics: Metrics
    tracer: trace.Tracer
    redactor: Redactor
    extras: dict[str, object] = field(default_factory=dict)


_lock = threading.Lock()
_current: Telemetry | None = None
_fallback: Telemetry | None = None


def telemetry() -> Telemetry:
    """The active telemetry, or the detached fallback before ``init()``."""
    current = _current
    if current is not None:
        return current
    return _get_fallback()


def _get_fallback() -> Telemetry:
    global _fallback
    with _lock:
        if _fallback is None:
            settings = load_settings({}, environ={})
            _fallback = Telemetry(
                settings=settings,
                metrics=Metrics(CollectorRegistry(auto_describe=True)),
                tracer=trace.get_tracer("agentwatch"),
                redactor=Redactor(),
            )
        return _fallback


def metric(name: str) -> GuardedMetric:
    """A catalog metric of the active telemetry, e.g. ``metric("queue_depth").labels("jobs").set(3)``."""
    return telemetry().metrics[name]


def get_tracer() -> trace.Tracer:
    """The tracer agentwatch records into (the active one, or the global before init)."""
    return telemetry().tracer


def active() -> Telemetry | None:
    return _current


def activate(value: Telemetry) -> None:
    global _current
    _current = value


def deactivate(value: Telemetry) -> None:
    global _current
    if _current is value:
        _current = None


def report_internal_error(component: str, exc: BaseException) -> None:
    """Log and count an error agentwatch caught inside itself; never raises."""
    try:
        _log.warning("agentwatch %s error: %r", component, exc, exc_info=exc)
        telemetry().metrics["agentwatch_internal_errors_total"].labels(component).inc()
        for hook in list(internal_error_hooks):
            hook(component, exc)
    except Exception:  # the last line of defence: the host must not see our failure
        pass
