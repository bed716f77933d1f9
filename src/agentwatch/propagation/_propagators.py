"""W3C Trace Context (Level 2) and W3C Baggage propagators, and helpers for queues.

The header rules are in :mod:`agentwatch.propagation._w3c`. These propagators read *every* value of a
header, in any letter case, from any common carrier (dicts, dicts of lists, Starlette or
httpx headers, ``email.message.Message``, lists of ``(name, value)`` pairs, bytes or str),
so a repeated ``traceparent`` is seen — and rejected, starting a new trace — and repeated
``tracestate`` or ``baggage`` fields are joined.

>>> install_propagators()   # doctest: +SKIP   (opentelemetry.propagate now uses both)
>>> headers = inject_headers()                 # for a queue message
>>> context = extract_headers([(b"traceparent", b"00-…")])  # doctest: +SKIP

Level 2 ``random-trace-id`` flag: an incoming trace keeps the flag it arrived with; a
trace started in this process gets it when ``random_trace_ids`` is true (the SDK's default
id generator draws all 128 bits at random).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, TypeVar, overload

from opentelemetry import baggage as otel_baggage
from opentelemetry import trace
from opentelemetry.context import Context, create_key, get_value
from opentelemetry.propagate import get_global_textmap, set_global_textmap
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from .._state import report_internal_error
from .._tracing.context import CURRENT_SPAN_KEY
from ._w3c import (
    EMPTY_TRACE_STATE,
    RANDOM,
    SAMPLED,
    format_baggage,
    format_traceparent,
    format_tracestate,
    parse_baggage,
    parse_traceparent,
    parse_tracestate,
)

__all__ = [
    "BaggagePropagator",
    "HeadersGetter",
    "TraceContextPropagator",
    "extract_asgi",
    "extract_headers",
    "format_traceresponse",
    "header_values",
    "headers_getter",
    "inject_headers",
    "install_propagators",
    "parse_traceresponse",
    "scan_asgi_headers",
]

_REMOTE_PARENT = create_key("agentwatch-remote-parent")
# Trace ids continued from callers that did not set the random flag (most recent first
# out), so spans nested anywhere under them never claim it.
_NOT_RANDOM: dict[int, None] = {}
_NOT_RANDOM_MAX = 4096
_EMPTY = Context()
# The context key of baggage, learnt through the public API.
_BAGGAGE_KEY = next(iter(otel_baggage.set_baggage("k", "v", _EMPTY)))
_HeadersT = TypeVar("_HeadersT", bound=MutableMapping[str, str])


def _text(value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    return str(value)


def _items(carrier: Any) -> Iterable[tuple[Any, Any]]:
    multi = getattr(carrier, "multi_items", None)  # httpx.Headers: items() folds repeats
    if multi is not None:
        return multi()  # type: ignore[no-any-return]
    items = getattr(carrier, "items", None)  # dict, Starlette Headers, Message, CIMultiDict
    if items is not None:
        return items()  # type: ignore[no-any-return]
    return carrier  # type: ignore[no-any-return]


def header_values(carrier: Any, name: str) -> list[str]:
    """Every value of header ``name`` (lowercase) in ``carrier``, names matched in any case."""
    values: list[str] = []
    if carrier is None:
        return values
    for key, value in _items(carrier):
        if _text(key).lower() == name:
            if isinstance(value, (list, tuple)):
                values.extend(_text(item) for item in value)
            else:
                values.append(_text(value))
    return values


class HeadersGetter(Getter[Any]):
    """An OpenTelemetry ``Getter`` returning all values of a header, in any case."""

    def get(self, carrier: Any, key: str) -> list[str] | None:
        return header_values(carrier, key.lower()) or None

    def keys(self, carrier: Any) -> list[str]:
        return [_text(key) for key, _ in _items(carrier)]


headers_getter = HeadersGetter()


def _read(carrier: Any, name: str, getter: Getter[Any]) -> list[str]:
    if getter is default_getter:  # its dict lookup is case-sensitive and single-valued
        return header_values(carrier, name)
    return list(getter.get(carrier, name) or ())


def _remember_not_random(trace_id: int) -> None:
    _NOT_RANDOM[trace_id] = None
    if len(_NOT_RANDOM) > _NOT_RANDOM_MAX:
        try:
            del _NOT_RANDOM[next(iter(_NOT_RANDOM))]
        except (KeyError, RuntimeError, StopIteration):  # another thread got there first
            pass


def _remote_parent(traceparent: str, tracestate: Iterable[str] | None) -> SpanContext | None:
    parsed = parse_traceparent(traceparent)
    if parsed is None:
        return None
    if not parsed.flags & RANDOM:
        _remember_not_random(parsed.trace_id)
    elif _NOT_RANDOM:
        _NOT_RANDOM.pop(parsed.trace_id, None)
    state = parse_tracestate(tracestate) if tracestate else EMPTY_TRACE_STATE
    return SpanContext(parsed.trace_id, parsed.parent_id, True, TraceFlags(parsed.flags), state)


def _with_parent(base: Context, traceparent: str, tracestate: Iterable[str] | None) -> Context:
    parent = _remote_parent(traceparent, tracestate)
    if parent is None:
        return base
    return Context({**base, CURRENT_SPAN_KEY: NonRecordingSpan(parent), _REMOTE_PARENT: parent})


def _with_baggage(base: Context, entries: dict[str, str]) -> Context:
    if not entries:
        return base
    existing = base.get(_BAGGAGE_KEY)
    if isinstance(existing, dict) and existing:
        entries = {**existing, **entries}
    return Context({**base, _BAGGAGE_KEY: entries})


class _HeaderPropagator(TextMapPropagator):
    """The textmap plumbing: a fresh base context, every value of a header, plain writes."""

    _fields: tuple[str, ...] = ()

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        base = context if context is not None else Context()
        return self._extract(lambda name: _read(carrier, name, getter), base)

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        for name, value in self._headers(context):
            setter.set(carrier, name, value)

    @property
    def fields(self) -> set[str]:
        return set(self._fields)

    def _extract(self, read: Callable[[str], list[str]], base: Context) -> Context:
        raise NotImplementedError

    def _headers(self, context: Context | None) -> list[tuple[str, str]]:
        raise NotImplementedError


class TraceContextPropagator(_HeaderPropagator):
    """W3C ``traceparent`` and ``tracestate`` (Trace Context Level 2).

    ``random_trace_ids``: trace ids started in this process are random, so they carry the
    Level 2 ``random-trace-id`` flag (true for the SDK's default id generator).
    """

    _fields = ("traceparent", "tracestate")

    def __init__(self, *, random_trace_ids: bool = True) -> None:
        self._random_ids = random_trace_ids

    def _extract(self, read: Callable[[str], list[str]], base: Context) -> Context:
        parents = read("traceparent")
        if len(parents) != 1:  # none, or repeated: invalid, a new trace starts here
            return base
        return _with_parent(base, parents[0], read("tracestate"))

    def _headers(self, context: Context | None) -> list[tuple[str, str]]:
        span_context = trace.get_current_span(context).get_span_context()
        if not span_context.is_valid:
            return []
        flags = self.trace_flags(span_context, context)
        value = format_traceparent(span_context.trace_id, span_context.span_id, flags)
        headers = [("traceparent", value)]
        if span_context.trace_state:
            headers.append(("tracestate", format_tracestate(span_context.trace_state)))
        return headers

    def trace_flags(self, span_context: SpanContext, context: Context | None = None) -> int:
        """The flags sent for ``span_context``: its sampled bit and the random bit."""
        random = RANDOM if self._random_trace_id(span_context, context) else 0
        return (span_context.trace_flags & SAMPLED) | random

    def _random_trace_id(self, span_context: SpanContext, context: Context | None) -> bool:
        remote = get_value(_REMOTE_PARENT, context)
        if isinstance(remote, SpanContext) and remote.trace_id == span_context.trace_id:
            return bool(remote.trace_flags & RANDOM)  # continued: keep the caller's flag
        if span_context.is_remote:
            return bool(span_context.trace_flags & RANDOM)
        parent = getattr(trace.get_current_span(context), "parent", None)
        if isinstance(parent, SpanContext) and parent.is_remote:
            return bool(parent.trace_flags & RANDOM)  # extracted by another propagator
        return self._random_ids and span_context.trace_id not in _NOT_RANDOM  # started here


class BaggagePropagator(_HeaderPropagator):
    """W3C ``baggage``: percent-encoded values, properties kept (``BaggageValue``)."""

    _fields = ("baggage",)

    def _extract(self, read: Callable[[str], list[str]], base: Context) -> Context:
        values = read("baggage")
        return _with_baggage(base, parse_baggage(values)) if values else base

    def _headers(self, context: Context | None) -> list[tuple[str, str]]:
        entries = otel_baggage.get_all(context)
        header = format_baggage(entries) if entries else ""
        return [("baggage", header)] if header else []


_TRACE_CONTEXT = TraceContextPropagator()
_BAGGAGE = BaggagePropagator()


def install_propagators(*, random_trace_ids: bool = True) -> TextMapPropagator:
    """Make both propagators the global textmap; returns the previous one (to restore)."""
    previous = get_global_textmap()
    trace_context = TraceContextPropagator(random_trace_ids=random_trace_ids)
    set_global_textmap(CompositePropagator([trace_context, BaggagePropagator()]))
    return previous


def extract_asgi(headers: Iterable[tuple[bytes, bytes]]) -> Context:
    """The request's remote context from ASGI ``scope["headers"]`` (names are lowercase)."""
    context, _ = scan_asgi_headers(headers)
    return context


def scan_asgi_headers(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[Context, dict[bytes, bytes]]:
    """The remote context of an ASGI request, and its headers as a dict (the last of
    repeated ones wins) for whoever reads single-valued headers next.

    The middleware's hot path: a request without trace context costs one dict built in C;
    one with it gets a full pass, so repeated headers are seen (and judged as the W3C
    rules say).
    """
    if not isinstance(headers, (list, tuple)):  # read twice below
        headers = list(headers)
    found = dict(headers)
    if b"traceparent" not in found and b"baggage" not in found:
        return _EMPTY, found
    traceparent: bytes | None = None
    parents = 0
    states: list[bytes] | None = None
    bags: list[bytes] | None = None
    for name, value in headers:
        if name == b"traceparent":
            parents += 1
            traceparent = value
        elif name == b"tracestate":
            states = [value] if states is None else [*states, value]
        elif name == b"baggage":
            bags = [value] if bags is None else [*bags, value]
    return _remote_context(traceparent if parents == 1 else None, states, bags), found


def _remote_context(
    traceparent: bytes | None, states: list[bytes] | None, bags: list[bytes] | None
) -> Context:
    values: dict[str, object] = {}
    if traceparent is not None:
        state = [item.decode("latin-1") for item in states] if states else None
        parent = _remote_parent(traceparent.decode("latin-1"), state)
        if parent is not None:
            values[CURRENT_SPAN_KEY] = NonRecordingSpan(parent)
            values[_REMOTE_PARENT] = parent
    if bags is not None:
        entries = parse_baggage(item.decode("latin-1") for item in bags)
        if entries:
            values[_BAGGAGE_KEY] = entries
    return Context(values) if values else _EMPTY


@overload
def inject_headers(headers: None = None, context: Context | None = None) -> dict[str, str]: ...
@overload
def inject_headers(headers: _HeadersT, context: Context | None = None) -> _HeadersT: ...
def inject_headers(
    headers: MutableMapping[str, str] | None = None, context: Context | None = None
) -> MutableMapping[str, str]:
    """Write ``traceparent``, ``tracestate`` and ``baggage`` of ``context`` (default: the
    current one) into ``headers`` (default: a new dict) and return them.

    >>> producer.send("jobs", value, headers=list(inject_headers().items()))  # doctest: +SKIP
    """
    carrier: MutableMapping[str, str] = {} if headers is None else headers
    try:
        _TRACE_CONTEXT.inject(carrier, context)
        _BAGGAGE.inject(carrier, context)
    except Exception as exc:  # publishing a message must not fail because of tracing
        report_internal_error("propagation", exc)
    return carrier


def extract_headers(headers: Any, context: Context | None = None) -> Context:
    """The remote context carried by message headers: a mapping (values str, bytes or lists
    of them) or a list of ``(name, value)`` pairs as Kafka and AMQP clients give them.

    >>> token = otel_context.attach(extract_headers(message.headers()))  # doctest: +SKIP
    """
    base = context if context is not None else Context()
    try:
        extracted = _TRACE_CONTEXT.extract(headers, base, headers_getter)
        return _BAGGAGE.extract(headers, extracted, headers_getter)
    except Exception as exc:  # a malformed carrier starts a new trace, never an error
        report_internal_error("propagation", exc)
        return base


def format_traceresponse(span_context: SpanContext, context: Context | None = None) -> str:
    """The Level 2 ``traceresponse`` value for a server span ("" if the span is invalid).

    ``child-id`` is the server span's id; flags are its sampled bit and the random bit.
    """
    if not span_context.is_valid:
        return ""
    flags = _TRACE_CONTEXT.trace_flags(span_context, context)
    return format_traceparent(span_context.trace_id, span_context.span_id, flags)


def parse_traceresponse(value: str | bytes) -> SpanContext | None:
    """The callee's span context from a ``traceresponse`` value, or None if invalid."""
    parsed = parse_traceparent(_text(value))
    if parsed is None:
        return None
    return SpanContext(parsed.trace_id, parsed.parent_id, True, TraceFlags(parsed.flags))
