"""OTLP trace requests encoded straight to protobuf wire bytes.

:class:`TraceRequestEncoder` turns a batch of spans into the bytes of an
``opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`` without building
protobuf message objects: each span becomes a list of byte strings joined once. What
repeats from span to span is encoded once and reused — the resource and scope of a batch,
span and event names, attribute keys, and whole ``(key, value)`` attribute pairs with a
short scalar value (``("http.request.method", "GET")``), in bounded caches.

It takes SDK ``ReadableSpan``\\ s or any object with the same attributes and produces what
the stock OTLP encoder does, grouped by resource then by scope, with two additions the
proto asks for: the span's own W3C trace flags in bits 0-7 of ``flags`` (spans and links),
and the trace state of links. agentwatch's lean ``ServerSpan`` and exception events take a
faster path to the same bytes (``otlp_lean``); the wire primitives are in ``otlp_wire``.

>>> encoder = TraceRequestEncoder()
>>> body = encoder.encode(spans)  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from .otlp_lean import CONTEXTS_UNPACK, LeanEncoding
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

__all__ = ["EncodedSpan", "TraceRequestEncoder", "any_value"]

EncodedSpan = tuple[int, bytes]  # (resource and scope group, Span message)


class TraceRequestEncoder(LeanEncoding):
    """Encodes span batches as ``ExportTraceServiceRequest`` bytes, caching what repeats.

    One instance per exporter. :meth:`encode_spans` may run on several threads at once (its
    caches are dicts whose single operations the GIL makes atomic; a race at worst encodes
    a value twice); :meth:`encode_request` runs on the export thread.
    """

    def __init__(self) -> None:
        super().__init__()  # the caches of the lean path
        self._keys: dict[str, bytes] = {}
        self._names: dict[str, bytes] = {}
        self._event_names: dict[str, bytes] = {}
        self._statuses: dict[tuple[int, str], bytes] = {}
        self._span_pairs = PairCache(b"\x4a")  # Span.attributes
        self._event_pairs = PairCache(b"\x1a")  # Span.Event.attributes
        self._link_pairs = PairCache(b"\x22")  # Span.Link.attributes
        self._other_pairs = {tag: PairCache(tag) for tag in (b"\x0a", b"\x1a")}
        self._resources: dict[int, tuple[Any, bytes, bytes]] = {}
        self._scopes: dict[int, tuple[Any, bytes, bytes]] = {}
        self._groups: list[tuple[Any, Any]] = []  # distinct (resource, scope) by number
        self._group_values: dict[tuple[Any, Any], int] = {}
        self._group_ids: dict[tuple[int, int], tuple[int, Any, Any]] = {}
        self._groups_lock = threading.Lock()
        self._last_group: tuple[Any, Any, int] = (_MISSING, _MISSING, -1)

    def encode(self, spans: Sequence[Any]) -> bytes:
        """The request carrying ``spans``: resource spans, then scope spans, then spans."""
        return self.encode_request(self.encode_spans(spans))

    def encode_spans(self, spans: Sequence[Any]) -> list[EncodedSpan]:
        """Each span's ``Span`` message, tagged with its (resource, scope) group.

        The part of encoding that reads the spans; :meth:`encode_request` frames the result.
        Several threads may call it at once.
        """
        encoded: list[EncodedSpan] = []
        last = self._last_group  # a group number never changes: read and set without a lock
        resource: Any
        scope: Any
        for span in spans:
            if CONTEXTS_UNPACK and getattr(span, "lean_server_span", False):
                resource, scope = span.resource, span.instrumentation_scope
                body = self._server_span(span)
            else:
                resource, scope = span.resource, span.instrumentation_scope or None
                body = self._span(span)
            if resource is not last[0] or scope is not last[1]:
                last = (resource, scope, self._group_of(resource, scope))
            encoded.append((last[2], body))
        self._last_group = last
        return encoded

    def _group_of(self, resource: Any, scope: Any) -> int:
        """The group number of (resource, scope): by identity when seen before, else by
        value, so tracers made per request (a new scope object each time) add no groups."""
        known = self._group_ids.get((id(resource), id(scope)))
        if known is not None and known[1] is resource and known[2] is scope:
            return known[0]
        with self._groups_lock:
            group = self._group_values.get((resource, scope))
            if group is None:
                group = len(self._groups)
                self._groups.append((resource, scope))
                self._group_values[(resource, scope)] = group
            if len(self._group_ids) >= CACHE_SIZE:
                self._group_ids.clear()
            # the entry keeps both objects alive, so their ids are not reused meanwhile
            self._group_ids[(id(resource), id(scope))] = (group, resource, scope)
        return group

    def encode_request(self, spans: Sequence[EncodedSpan]) -> bytes:
        """The ``ExportTraceServiceRequest`` of encoded spans: resource spans, then scope
        spans (equal resources and scopes merged, in order of first appearance)."""
        parts: list[bytes] = []
        for resource, scopes in self._grouped(spans):
            resource_field, resource_schema = self._resource(resource)
            head = len(parts)
            parts += (b"", resource_field)
            size = len(resource_field) + len(resource_schema)
            for scope, encoded in scopes:
                scope_field, scope_schema = self._scope(scope)
                length = len(scope_field) + len(scope_schema) + sum(map(len, encoded))
                prefix = b"\x12" + varint(length)
                parts += (prefix, scope_field, *encoded, scope_schema)
                size += len(prefix) + length
            parts.append(resource_schema)
            parts[head] = b"\x0a" + varint(size)  # ExportTraceServiceRequest.resource_spans
        return b"".join(parts)

    def _grouped(
        self, spans: Sequence[EncodedSpan]
    ) -> list[tuple[Any, list[tuple[Any, list[bytes]]]]]:
        """Span fields by resource then scope, each in order of first appearance."""
        groups: list[tuple[Any, list[tuple[Any, list[bytes]]]]] = []
        buckets: dict[int, list[bytes]] = {}
        for group, body in spans:
            bucket = buckets.get(group)
            if bucket is None:
                resource, scope = self._groups[group]
                bucket = buckets[group] = _bucket(groups, resource, scope)
            bucket += (b"\x12" + varint(len(body)), body)  # ScopeSpans.spans
        return groups

    def _span(self, span: Any) -> bytes:
        """The ``Span`` message of one span."""
        context = span.context
        parts = [span_head(context, span.parent, span.start_time or 0, span.end_time or 0)]
        if context.trace_state:
            parts.append(b"\x1a" + string(context.trace_state.to_header()))
        name = span.name
        parts.append(self._names.get(name) or text_field(self._names, b"\x2a", name))
        kind = span.kind
        parts.append(KINDS.get(id(kind)) or bytes((0x30, kind.value + 1)))
        attributes = span.attributes
        if attributes:
            self._attributes(self._span_pairs, attributes, parts)
        self._span_tail(span, parts)
        return b"".join(parts)

    def _span_tail(self, span: Any, parts: list[bytes]) -> None:
        """Events, links, dropped counts and status of a span."""
        events = span.events
        if events:
            self._events(events, parts)
        for link in span.links:
            body = self._link(link)
            parts += (b"\x6a", varint(len(body)), body)
        if span.dropped_attributes:
            parts.append(b"\x50" + varint(span.dropped_attributes))
        if span.dropped_events:
            parts.append(b"\x60" + varint(span.dropped_events))
        if span.dropped_links:
            parts.append(b"\x70" + varint(span.dropped_links))
        status = span.status
        code, description = status.status_code, status.description
        if description:
            key = (id(code), description)
            parts.append(self._statuses.get(key) or self._status(key, code, description))
        else:
            parts.append(STATUS.get(id(code)) or bytes((0x7A, 2, 0x18, code.value)))

    def _events(self, events: Sequence[Any], parts: list[bytes]) -> None:
        """Append a ``Span.events`` field per event."""
        for event in events:
            if event.name == "exception":
                field = self._exception_field(event)
                if field is not None:
                    parts += field
                    continue
            pieces = self._event(event)
            parts += (b"\x5a", varint(sum(map(len, pieces))), *pieces)

    def _status(self, key: tuple[int, str], code: Any, description: str) -> bytes:
        """A ``Span.status`` field with a message, remembered when the message is short."""
        body = bytes((0x18, code.value)) + b"\x12" + string(description)
        encoded = b"\x7a" + prefixed(body)
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
            self._attributes(self._event_pairs, attributes, parts)
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
            self._attributes(self._link_pairs, link.attributes, parts)
        if link.dropped_attributes:
            parts.append(b"\x28" + varint(link.dropped_attributes))
        return b"".join(parts)

    def _attributes(
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
                if type(pair[1]) is int:
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
                pieces = (any_value(value),)
                value_size = len(pieces[0])
        except (TypeError, ValueError, AttributeError, RecursionError) as exc:
            warn_dropped(key, exc)
            return None
        size = varint(value_size)
        length = varint(len(key_field) + 1 + len(size) + value_size)
        if value_size > CACHED_PAIR_BYTES:
            return (tag, length, key_field, b"\x12", size, *pieces)
        return b"".join((tag, length, key_field, b"\x12", size, *pieces))

    def _resource(self, resource: Any) -> tuple[bytes, bytes]:
        """The ``resource`` and ``schema_url`` fields of a ``ResourceSpans``, cached."""
        cached = self._resources.get(id(resource))
        if cached is None or cached[0] is not resource:
            parts: list[bytes] = []
            if getattr(resource, "attributes", None):
                self._attributes(self._other_pairs[b"\x0a"], resource.attributes, parts)
            cached = _remember(self._resources, resource, parts)
        return cached[1], cached[2]

    def _scope(self, scope: Any) -> tuple[bytes, bytes]:
        """The ``scope`` and ``schema_url`` fields of a ``ScopeSpans``, cached."""
        cached = self._scopes.get(id(scope))
        if cached is None or cached[0] is not scope:
            parts: list[bytes] = []
            if scope is not None:
                parts.append(b"\x0a" + string(scope.name or ""))
                if scope.version:
                    parts.append(b"\x12" + string(scope.version))
                if getattr(scope, "attributes", None):
                    self._attributes(self._other_pairs[b"\x1a"], scope.attributes, parts)
            cached = _remember(self._scopes, scope, parts)
        return cached[1], cached[2]


_MISSING = object()


def _bucket(
    groups: list[tuple[Any, list[tuple[Any, list[bytes]]]]], resource: Any, scope: Any
) -> list[bytes]:
    """The span list of (resource, scope) in ``groups``, matched by equality like the stock
    encoder's dicts; new groups are added at the end."""
    scopes = next((found for known, found in groups if known == resource), None)
    if scopes is None:
        scopes = []
        groups.append((resource, scopes))
    bucket = next((found for known, found in scopes if known == scope), None)
    if bucket is None:
        bucket = []
        scopes.append((scope, bucket))
    return bucket


def _remember(
    cache: dict[int, tuple[Any, bytes, bytes]], owner: Any, parts: list[bytes]
) -> tuple[Any, bytes, bytes]:
    """``owner`` (a resource or scope), its message field and its schema_url field."""
    url = getattr(owner, "schema_url", None)
    entry = (owner, b"\x0a" + prefixed(b"".join(parts)), b"\x1a" + string(url) if url else b"")
    if len(cache) >= 64:
        cache.clear()
    cache[id(owner)] = entry  # the entry keeps the owner alive: its id is not reused
    return entry
