"""A lean server span for the request hot path.

The SDK span pays for generality on every request: locked bounded attribute maps, a
``ReadableSpan`` copy at ``end()``, traceback formatting in ``record_exception``. Most
request spans are sampled out, so :class:`ServerSpan` records into plain Python
structures and becomes a real ``ReadableSpan`` only when its trace is kept — in the export
thread, off the request path (:func:`to_readable`). Exception stack traces go through the
cache of ``_stacktrace``.

It is a full ``opentelemetry.trace.Span``: child spans from the SDK tracer parent to it,
instrumentations may set attributes or record exceptions on it. It is used only when
agentwatch's processor is the provider's only processor (the default set-up); otherwise
the middleware starts an ordinary SDK span so every processor sees it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState
from opentelemetry.util.types import Attributes, AttributeValue

from ._sampling import HeadSampler
from ._stacktrace import format_exception

__all__ = ["ServerSpan", "ServerSpanFactory", "to_readable"]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_EMPTY_STATE = TraceState()
_UNSET = Status(StatusCode.UNSET)


class ServerSpan(trace.Span):
    """A recording SERVER span kept in plain structures until its trace is kept."""

    kind = SpanKind.SERVER

    def __init__(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        attributes: dict[str, Any],
        on_end: Callable[[Any], None],
        factory: ServerSpanFactory,
    ) -> None:
        self.name = name
        self.context = context
        self.parent = parent
        self.attributes = attributes
        self.events: list[Event] = []
        self.status = _UNSET
        self.start_time = time.time_ns()
        self.end_time: int | None = None
        self._on_end = on_end
        self.factory = factory

    def get_span_context(self) -> SpanContext:
        return self.context

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        if self.end_time is None:
            self.attributes.update(attributes)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if self.end_time is None:
            self.attributes[key] = value

    def add_event(
        self, name: str, attributes: Attributes = None, timestamp: int | None = None
    ) -> None:
        if self.end_time is None:
            self.events.append(Event(name, attributes, timestamp or time.time_ns()))

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        return None  # server spans carry no links; kept for API completeness

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.name = name

    def is_recording(self) -> bool:
        return self.end_time is None

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self.end_time is not None:
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if self.status.status_code is not StatusCode.OK:
            self.status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        if self.end_time is None:
            event_attributes = exception_attributes(exception)
            event_attributes.update(attributes or {})
            self.events.append(Event("exception", event_attributes, timestamp or time.time_ns()))

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is None:
            self.end_time = end_time or time.time_ns()
            self._on_end(self)

    def to_readable(self) -> ReadableSpan:
        return to_readable(self)

    # the rest of the ReadableSpan interface, read by exporters that take lean spans
    links: tuple[Any, ...] = ()
    dropped_attributes = 0
    dropped_events = 0
    dropped_links = 0

    @property
    def resource(self) -> Resource:
        return self.factory.resource

    @property
    def instrumentation_scope(self) -> InstrumentationScope:
        return self.factory.scope


def exception_attributes(exception: BaseException) -> dict[str, Any]:
    """The semantic-convention attributes of an ``exception`` event (stack trace cached)."""
    return {
        "exception.type": type(exception).__qualname__,
        "exception.message": str(exception),
        "exception.stacktrace": format_exception(exception),
        "exception.escaped": "False",
    }


def record_exception(span: trace.Span, exception: BaseException) -> None:
    """``span.record_exception`` with the stack trace formatted through the cache.

    Formatting happens now, not at export, so the request's frames are not kept alive.
    """
    if span.is_recording():
        span.add_event("exception", exception_attributes(exception))


def to_readable(span: ServerSpan) -> ReadableSpan:
    """The SDK form of a kept server span (called in the export thread)."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.factory.resource,
        attributes=dict(span.attributes),
        events=span.events,
        links=(),
        kind=SpanKind.SERVER,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.factory.scope,
    )


class ServerSpanFactory:
    """Starts :class:`ServerSpan`s for a provider whose only processor is ``processor``."""

    def __init__(self, provider: TracerProvider, processor: SpanProcessor) -> None:
        self._provider = provider
        self._processor = processor
        self.resource: Resource = provider.resource
        self.scope = InstrumentationScope("agentwatch")
        self._ids = provider.id_generator
        sampler = provider.sampler
        self._head = sampler if isinstance(sampler, HeadSampler) else None

    def usable(self) -> bool:
        """True while agentwatch's processor is the provider's only one."""
        active = getattr(self._provider, "_active_span_processor", None)
        processors: Sequence[Any] = getattr(active, "_span_processors", ())
        return self._head is not None and len(processors) == 1 and processors[0] is self._processor

    def start(
        self, name: str, parent: SpanContext | None, attributes: dict[str, Any]
    ) -> ServerSpan:
        if parent is not None and parent.is_valid:
            trace_id, state = parent.trace_id, parent.trace_state or _EMPTY_STATE
        else:
            trace_id, state, parent = self._ids.generate_trace_id(), _EMPTY_STATE, None
        assert self._head is not None
        flags = _SAMPLED if self._head.keeps(trace_id) else _NOT_SAMPLED
        context = SpanContext(trace_id, self._ids.generate_span_id(), False, flags, state)
        return ServerSpan(name, context, parent, attributes, self._processor.on_end, self)
