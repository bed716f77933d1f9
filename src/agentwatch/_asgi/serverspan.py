"""A lean server span for the request hot path.

The SDK span pays for generality on every request: locked bounded attribute maps, a
``ReadableSpan`` copy at ``end()``, traceback formatting in ``record_exception``. Most
request spans are sampled out, so :class:`ServerSpan` keeps what the request gives it in
plain slots and builds its HTTP semantic-convention attributes only when somebody reads
them — the export thread, for a kept trace (:meth:`ServerSpan.to_readable`, or an
exporter that reads the span directly). Its name (``GET /items/{id}``) is built the same
way. Exception stack traces go through the cache of ``_sentry.stacktrace``.

It is a full ``opentelemetry.trace.Span``: child spans from the SDK tracer parent to it,
instrumentations may set attributes or record exceptions on it. It is used only when
agentwatch's processor is the provider's only processor (the default set-up); otherwise
the middleware starts an ordinary SDK span so every processor sees it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    DEFAULT_TRACE_STATE,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.util.types import Attributes, AttributeValue

from .._compat import span_context_builder, span_processors_of
from .._export.spans import LeanServerSpan
from .._semconv import (
    KNOWN_METHODS,
    Raised,
    Request,
    add_own_request_attributes,
    add_response_attributes,
    exception_event_attributes,
    request_attributes,
    shared_request_attributes,
)
from .._sentry.stacktrace import exception_message, format_exception, stack_parts
from .._tracing.events import exception_attributes
from .._tracing.provider import Tracing
from .._tracing.sampling import RANDOM_MASK, ErrorPriorityProcessor, HeadSampler

__all__ = ["ServerSpan", "ServerSpanFactory", "request_of"]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_UNSET = Status(StatusCode.UNSET)
_time_ns = time.time_ns
# NamedTuple records made on the request path are built by tuple.__new__, as fast as a
# plain tuple (their generated __new__ is a Python function, about 0.3 µs a call)
_record = tuple.__new__


def request_of(scope: Mapping[str, Any], headers: Mapping[bytes, bytes] | None = None) -> Request:
    """The parts of an ASGI ``scope`` a server span's attributes are built from; ``headers``
    the request headers as a dict when the caller has built one already."""
    return _record(
        Request,
        (
            scope.get("scheme", "http"),
            scope["path"],
            scope.get("http_version", "1.1"),
            scope.get("server"),
            scope.get("client"),
            scope.get("headers", ()) if headers is None else headers,
        ),
    )


_ERROR_STATUSES: dict[str, Status] = {}


def _error_status(error_type: str) -> Status:
    """``Status(ERROR, error_type)``, built once per error type (a bounded few)."""
    status = _ERROR_STATUSES.get(error_type)
    if status is None:
        status = Status(StatusCode.ERROR, error_type)
        if len(_ERROR_STATUSES) < 256:
            _ERROR_STATUSES[error_type] = status
    return status


class ServerSpan(trace.Span):
    """A recording SERVER span kept in plain slots until its trace is kept."""

    __slots__ = (
        "_processor",
        "context",
        "end_time",
        "error_type",
        "factory",
        "given_attributes",
        "given_name",
        "method",
        "parent",
        "raised",
        "recorded_events",
        "request",
        "route",
        "start_time",
        "status",
        "status_code",
    )
    lean_server_span: ClassVar[bool] = True  # what the export pipeline recognises
    kind = SpanKind.SERVER
    links: tuple[Any, ...] = ()
    dropped_attributes = 0
    dropped_events = 0
    dropped_links = 0

    def __init__(
        self,
        method: str,
        context: SpanContext,
        parent: SpanContext | None,
        request: Request,
        factory: LeanServerSpans,
    ) -> None:
        self.method = method
        self.context = context
        self.parent = parent
        self.request = request
        self.factory = factory
        self._processor = factory.processor
        # what instrumentations and the app gave through the Span API
        self.given_name: str | None = None
        self.given_attributes: dict[str, Any] | None = None
        self.recorded_events: list[Event] | None = None
        self.raised: Raised | None = None  # what record_raised() kept
        self.status = _UNSET
        self.route: str | None = None
        self.status_code = 0
        self.error_type = ""
        self.start_time = _time_ns()
        self.end_time: int | None = None

    # -- what the middleware calls ------------------------------------------------------------
    def respond(self, route: str | None, status_code: int, error_type: str) -> None:
        """Record the response (route template, status, error type) and end the span."""
        if self.end_time is not None:
            return
        self.route = route
        self.status_code = status_code
        if error_type:
            self.error_type = error_type
            if self.status.status_code is not StatusCode.OK:  # as set_status() decides
                self.status = _error_status(error_type)
        self.end_time = _time_ns()
        self._processor.on_end_server(self, bool(error_type) or self.is_error)

    def record_raised(self, exception: BaseException) -> None:
        """Record the exception the app raised out of (the middleware's ``record_exception``).

        It becomes an ``exception`` event after any others, kept as its parts
        (:class:`~agentwatch._semconv.Raised`: type, message, the cached frames text and the
        exception's own lines of the stack trace, time): :attr:`events` makes the event for
        readers, an encoder may read the parts. Nothing more is made on the request path.
        """
        if self.end_time is None and self.raised is None:
            message = exception_message(exception)
            parts = stack_parts(exception, message)
            frames, tail = parts if parts is not None else ("", format_exception(exception))
            kind = type(exception).__qualname__
            self.raised = _record(Raised, (kind, message, frames, tail, _time_ns()))

    @property
    def is_error(self) -> bool:
        """ERROR status, a recorded exception, or a 5xx answer."""
        if self.status_code >= 500 or self.status.status_code is StatusCode.ERROR:
            return True
        if self.raised is not None:
            return True
        events = self.recorded_events
        return events is not None and any(event.name == "exception" for event in events)

    # -- the ReadableSpan side, read off the request path ----------------------------------
    @property
    def name(self) -> str:
        return self.default_name() if self.given_name is None else self.given_name

    def default_name(self) -> str:
        """``GET /items/{id}``; ``GET`` without a route; ``HTTP`` for an unknown method."""
        method = self.method if self.method in KNOWN_METHODS else "HTTP"
        return method if self.route is None else f"{method} {self.route}"

    @property
    def attributes(self) -> dict[str, Any]:
        """Shared attributes (:meth:`shared_attributes`), then this request's own, then the
        given ones (a given key keeps its place with the given value)."""
        attributes = self.shared_attributes()
        add_own_request_attributes(attributes, self.request)
        if self.given_attributes:
            attributes.update(self.given_attributes)
        return attributes

    def shared_attributes(self) -> dict[str, Any]:
        """The attributes built from the values of :meth:`shared_key` (and nothing else):
        method, scheme, protocol version, server, then the response once ended."""
        request = self.request
        attributes = shared_request_attributes(
            self.method, request.scheme, request.version, request.server
        )
        if self.end_time is not None:
            add_response_attributes(attributes, self.route, self.status_code, self.error_type)
        return attributes

    def shared_key(self) -> tuple[Any, ...]:
        """What :meth:`shared_attributes` and :meth:`default_name` are made of, the types of
        the numbers included (``200`` and ``200.0`` are equal keys but different values).
        Equal keys mean equal attributes and names, so an encoder may cache by it."""
        request = self.request
        server = request.server
        status_code = self.status_code
        port = type(server[1]) if server else None  # ASGI's (host, port)
        return (
            self.method,
            request.scheme,
            request.version,
            server,
            port,
            self.end_time is not None,
            self.route,
            status_code,
            type(status_code),
            self.error_type,
        )

    @property
    def events(self) -> Sequence[Event]:
        raised = self.raised
        if raised is None:
            return self.recorded_events or ()
        attributes = exception_event_attributes(
            raised.type, raised.message, raised.frames, raised.tail
        )
        event = Event("exception", attributes, raised.time)
        return (*(self.recorded_events or ()), event)

    @property
    def resource(self) -> Resource:
        return self.factory.resource

    @property
    def instrumentation_scope(self) -> InstrumentationScope:
        return self.factory.scope

    def to_readable(self) -> ReadableSpan:
        """The SDK form of this span (called in the export thread for a kept trace)."""
        return ReadableSpan(
            name=self.name,
            context=self.context,
            parent=self.parent,
            resource=self.factory.resource,
            attributes=self.attributes,
            events=self.events,
            links=(),
            kind=SpanKind.SERVER,
            status=self.status,
            start_time=self.start_time,
            end_time=self.end_time,
            instrumentation_scope=self.factory.scope,
        )

    # -- the opentelemetry.trace.Span API -----------------------------------------------------
    def get_span_context(self) -> SpanContext:
        return self.context

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        if self.end_time is None:
            if self.given_attributes is None:
                self.given_attributes = {}
            self.given_attributes.update(attributes)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.set_attributes({key: value})

    def add_event(
        self, name: str, attributes: Attributes = None, timestamp: int | None = None
    ) -> None:
        if self.end_time is None:
            if self.recorded_events is None:
                self.recorded_events = []
            self.recorded_events.append(Event(name, attributes, timestamp or _time_ns()))

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        return None  # server spans carry no links; kept for API completeness

    def update_name(self, name: str) -> None:
        if self.end_time is None:
            self.given_name = name

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
        event_attributes = exception_attributes(exception)
        if escaped:
            event_attributes["exception.escaped"] = "True"
        event_attributes.update(attributes or {})
        self.add_event("exception", event_attributes, timestamp)

    def end(self, end_time: int | None = None) -> None:
        """Ending it directly (not through the middleware) records no response."""
        if self.end_time is None:
            self.end_time = end_time or _time_ns()
            self._processor.on_end_server(self, self.is_error)


if TYPE_CHECKING:  # mypy holds ServerSpan to the protocol the export pipeline reads
    _LEAN: type[LeanServerSpan] = ServerSpan


class ServerSpanFactory:
    """Starts each request's server span: a lean :class:`ServerSpan` while agentwatch's
    processor is the provider's only one (the default set-up), else an SDK span, so that
    every processor the application added sees it."""

    def __init__(self, tracing: Tracing) -> None:
        self._tracer = tracing.tracer
        provider, processor = tracing.provider, tracing.processor
        self._lean = (
            LeanServerSpans(provider, processor)
            if processor is not None and isinstance(provider, TracerProvider)
            else None
        )

    def start(self, method: str, parent: Context | None, request: Request) -> trace.Span:
        """The request's server span, child of the remote ``parent`` context if any."""
        lean = self._lean
        if lean is not None and lean.usable():
            parent_span = trace.get_current_span(parent).get_span_context() if parent else None
            return lean.start(method, parent_span, request)
        return self._tracer.start_span(
            method if method in KNOWN_METHODS else "HTTP",
            context=parent,
            kind=SpanKind.SERVER,
            attributes=request_attributes(method, request),
        )


class LeanServerSpans:
    """Starts :class:`ServerSpan`\\ s for a provider whose only processor is ``processor``."""

    def __init__(self, provider: TracerProvider, processor: ErrorPriorityProcessor) -> None:
        self._provider = provider
        self.processor = processor
        self.resource: Resource = provider.resource
        self.scope = InstrumentationScope("agentwatch")
        self._ids = provider.id_generator
        self._random_ids = type(self._ids) is RandomIdGenerator
        sampler = provider.sampler
        head = sampler if isinstance(sampler, HeadSampler) else None
        self._threshold = head.threshold if head is not None else 0
        # the provider's processor tuple while agentwatch's is the only one (adding a
        # processor replaces the tuple)
        self._processors = span_processors_of(provider)
        processors = self._processors() or ()
        only = head is not None and len(processors) == 1 and processors[0] is processor
        self._only: object = processors if only else object()

    def usable(self) -> bool:
        """True while agentwatch's processor is the provider's only one."""
        return self._processors() is self._only

    def start(self, method: str, parent: SpanContext | None, request: Request) -> ServerSpan:
        if parent is not None and parent.is_valid:
            trace_id, state = parent.trace_id, parent.trace_state or DEFAULT_TRACE_STATE
        else:
            trace_id, state, parent = self._trace_id(), DEFAULT_TRACE_STATE, None
        flags = _SAMPLED if (trace_id & RANDOM_MASK) >= self._threshold else _NOT_SAMPLED
        span_id = (
            (random.getrandbits(64) or 1) if self._random_ids else self._ids.generate_span_id()
        )
        context = _span_context(trace_id, span_id, flags, state)
        self.processor.open_root(trace_id)
        return ServerSpan(method, context, parent, request, self)

    def _trace_id(self) -> int:
        if self._random_ids:
            return random.getrandbits(128) or 1
        return self._ids.generate_trace_id()


_span_context = span_context_builder()
