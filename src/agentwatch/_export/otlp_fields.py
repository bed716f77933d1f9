"""The fields of an OTLP ``Span`` message, written from any span.

:class:`SpanFields` takes SDK ``ReadableSpan``\\ s or any object with the same attributes and
writes what the stock OTLP encoder does, with two additions the proto asks for: the span's
own W3C trace flags in bits 0-7 of ``flags`` (spans and links), and the trace state of
links. What repeats from span to span is encoded once and reused, in bounded caches: span
and event names, attribute keys, statuses with a message, and whole ``(key, value)``
attribute pairs with a short scalar value (``("http.request.method", "GET")``).
``exception`` events take the shorter way of :class:`~agentwatch._export.otlp_exceptions.
ExceptionEvents`; the lean server span's message (``otlp_lean``) is built from these same
fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .otlp_exceptions import ExceptionEvents
from .otlp_wire import (
    CACHE_SIZE,
    CACHED_PAIR_BYTES,
    CACHED_VALUE_LENGTH,
    FLAGS,
    HAS_IS_REMOTE,
    IS_REMOTE,
    KINDS,
    STATUS,
    PairCache,
    any_value,
    prefixed,
    span_head,
    string,
    text_field,
    varint,
    warn_dropped,
)

__all__ = ["SpanFields"]


class SpanFields:
    """Writes ``Span`` messages and their fields, caching what repeats.

    Several threads may use one instance at once (its caches are dicts whose single
    operations the GIL makes atomic; a race at worst encodes a value twice).
    """

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._names: dict[str, bytes] = {}
        self._event_names: dict[str, bytes] = {}
        self._statuses: dict[tuple[int, str], bytes] = {}
        self.span_pairs = PairCache(b"\x4a")  # Span.attributes
        self._event_pairs = PairCache(b"\x1a")  # Span.Event.attributes
        self._link_pairs = PairCache(b"\x22")  # Span.Link.attributes
        self.exceptions = ExceptionEvents()

    def span(self, span: Any) -> bytes:
        """The ``Span`` message of one span."""
        context = span.context
        parts = [span_head(context, span.parent, span.start_time or 0, span.end_time or 0)]
        if context.trace_state:
            parts.append(b"\x1a" + string(context.trace_state.to_header()))
        parts.append(self.name(span.name))
        kind = span.kind
        parts.append(KINDS.get(id(kind)) or bytes((0x30, kind.value + 1)))
        attributes = span.attributes
        if attributes:
            self.attributes(self.span_pairs, attributes, parts)
        self._tail(span, parts)
        return b"".join(parts)

    def name(self, name: str) -> bytes:
        """The ``Span.name`` field."""
        return self._names.get(name) or text_field(self._names, b"\x2a", name)

    def _tail(self, span: Any, parts: list[bytes]) -> None:
        """Events, links, dropped counts and status of a span."""
        events = span.events
        if events:
            self.events(events, parts)
        for link in span.links:
            body = self._link(link)
            parts += (b"\x6a", varint(len(body)), body)
        if span.dropped_attributes:
            parts.append(b"\x50" + varint(span.dropped_attributes))
        if span.dropped_events:
            parts.append(b"\x60" + varint(span.dropped_events))
        if span.dropped_links:
            parts.append(b"\x70" + varint(span.dropped_links))
        parts.append(self.status(span.status))

    def events(self, events: Sequence[Any], parts: list[bytes]) -> None:
        """Append a ``Span.events`` field per event."""
        for event in events:
            if event.name == "exception":
                field = self.exceptions.field(event)
                if field is not None:
                    parts += field
                    continue
            pieces = self._event(event)
            parts += (b"\x5a", varint(sum(map(len, pieces))), *pieces)

    def status(self, status: Any) -> bytes:
        """The ``Span.status`` field; one with a message is remembered when it is short."""
        code, description = status.status_code, status.description
        if not description:
            return STATUS.get(id(code)) or bytes((0x7A, 2, 0x18, code.value))
        key = (id(code), description)
        known = self._statuses.get(key)
        if known is not None:
            return known
        encoded = b"\x7a" + prefixed(bytes((0x18, code.value)) + b"\x12" + string(description))
        if len(description) <= CACHED_VALUE_LENGTH:
            if len(self._statuses) >= CACHE_SIZE:
                self._statuses.clear()
            self._statuses[key] = encoded
        return encoded

    def _event(self, event: Any) -> list[bytes]:
        """The ``Span.Event`` message of one event, in pieces (not copied once more)."""
        name = event.name
        parts = [
            self._event_names.get(name) or text_field(self._event_names, b"\x12", name),
            b"\x09" + (event.timestamp or 0).to_bytes(8, "little"),
        ]
        attributes = event.attributes
        if attributes:
            self.attributes(self._event_pairs, attributes, parts)
        if event.dropped_attributes:
            parts.append(b"\x20" + varint(event.dropped_attributes))
        return parts

    def _link(self, link: Any) -> bytes:
        """The ``Span.Link`` message of one link."""
        context = link.context
        flags = (context.trace_flags & 0xFF) | HAS_IS_REMOTE
        if context.is_remote:
            flags |= IS_REMOTE
        parts = [
            b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
            b"\x12\x08" + context.span_id.to_bytes(8, "big"),
            b"\x35" + FLAGS[flags],
        ]
        if context.trace_state:
            parts.append(b"\x1a" + string(context.trace_state.to_header()))
        if link.attributes:
            self.attributes(self._link_pairs, link.attributes, parts)
        if link.dropped_attributes:
            parts.append(b"\x28" + varint(link.dropped_attributes))
        return b"".join(parts)

    def attributes(
        self, cache: PairCache, attributes: Mapping[str, Any], parts: list[bytes]
    ) -> None:
        """Append one field per attribute; repeated pairs come from ``cache``.

        Every pair is looked up as it comes (the fewest steps for the short values spans
        are made of); stack traces, the long values that never repeat, are encoded by the
        exception-event path without a lookup.
        """
        strings, ints = cache.strings.get, cache.ints.get
        append = parts.append
        for pair in attributes.items():
            try:
                encoded = strings(pair)
            except TypeError:  # an unhashable value (a list)
                encoded = None
            if encoded is None:
                if type(pair[1]) is int:  # (key, value), as dict.items() gives it
                    encoded = ints(pair)
                if encoded is None:
                    self._pair(cache, pair, parts)
                    continue
            append(encoded)

    def _pair(self, cache: PairCache, pair: tuple[str, Any], parts: list[bytes]) -> None:
        """Append one attribute field not in ``cache`` (remembered when it may repeat)."""
        field = self._field(cache.tag, pair)
        if isinstance(field, bytes):
            cache.remember(pair, field)
            parts.append(field)
        elif field is not None:
            parts += field

    def attribute(self, key: str, value: Any, tag: bytes = b"\x4a") -> bytes:
        """One attribute field in one piece (b"", with a warning, for a value OTLP cannot
        carry)."""
        field = self._field(tag, (key, value))
        if field is None or isinstance(field, bytes):
            return field or b""
        return b"".join(field)

    def _field(self, tag: bytes, pair: tuple[str, Any]) -> bytes | tuple[bytes, ...] | None:
        """The ``tag`` field of one attribute: bytes, or in pieces when long (a stack trace,
        not copied once more); None, with a warning, for a value OTLP cannot carry."""
        key, value = pair
        try:
            key_field = self._keys.get(key) or text_field(self._keys, b"\x0a", key)
            if type(value) is str:  # the common case in one copy: AnyValue.string_value
                data = value.encode()
                inner = varint(len(data))
                pieces: tuple[bytes, ...] = (b"\x0a", inner, data)
                value_size = 1 + len(inner) + len(data)
            else:
                value_field = any_value(value)
                pieces = (value_field,)
                value_size = len(value_field)
        except (TypeError, ValueError, AttributeError, RecursionError) as exc:
            warn_dropped(key, exc)
            return None
        size = varint(value_size)
        length = varint(len(key_field) + 1 + len(size) + value_size)
        if value_size > CACHED_PAIR_BYTES:
            return (tag, length, key_field, b"\x12", size, *pieces)
        return b"".join((tag, length, key_field, b"\x12", size, *pieces))
