"""What the export pipeline carries: SDK ``ReadableSpan``\\ s and agentwatch's lean server
spans.

A lean server span (``agentwatch._asgi.serverspan.ServerSpan``) keeps what its request gave
it in plain slots and builds its attributes only when they are read. The export layer sits
below the request and does not import it: it reads it through :class:`LeanServerSpan`, the
protocol it implements. The queue turns it into a ``ReadableSpan`` for exporters that want
one (:meth:`LeanServerSpan.to_readable`); the OTLP encoder writes its message straight from
its parts, to the same bytes.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, TypeGuard

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, Status

from .._semconv import Raised, Request

__all__ = ["LeanServerSpan", "is_lean"]


class LeanServerSpan(Protocol):
    """What the export pipeline reads of a lean server span.

    Its attributes are :meth:`shared_attributes` (equal for equal :meth:`shared_key`\\ s),
    then those of ``request`` (``agentwatch._semconv.add_own_request_attributes``), then
    ``given_attributes``; its events ``recorded_events``, then the exception it ``raised``
    (``agentwatch._semconv.exception_event_attributes`` of its parts); its name
    ``given_name`` or :meth:`default_name`.
    """

    lean_server_span: ClassVar[bool]  # True: how the pipeline tells it from a ReadableSpan

    @property
    def context(self) -> SpanContext: ...
    @property
    def parent(self) -> SpanContext | None: ...
    @property
    def start_time(self) -> int: ...
    @property
    def end_time(self) -> int | None: ...
    @property
    def request(self) -> Request: ...
    @property
    def given_name(self) -> str | None: ...
    @property
    def given_attributes(self) -> dict[str, Any] | None: ...
    @property
    def recorded_events(self) -> list[Event] | None: ...
    @property
    def raised(self) -> Raised | None: ...
    @property
    def status(self) -> Status: ...
    @property
    def resource(self) -> Resource: ...
    @property
    def instrumentation_scope(self) -> InstrumentationScope: ...

    def default_name(self) -> str:
        """The span's name unless one was given."""
        ...

    def shared_attributes(self) -> dict[str, Any]:
        """The attributes most requests share (method, scheme, version, server, response)."""
        ...

    def shared_key(self) -> tuple[Any, ...]:
        """What :meth:`shared_attributes` and :meth:`default_name` are made of."""
        ...

    def to_readable(self) -> ReadableSpan:
        """The SDK form of the span."""
        ...


def is_lean(span: object) -> TypeGuard[LeanServerSpan]:
    """Whether ``span`` is a lean server span rather than a ``ReadableSpan``."""
    return getattr(span, "lean_server_span", False) is True
