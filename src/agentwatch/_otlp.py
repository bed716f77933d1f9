"""OTLP trace requests encoded straight to protobuf wire bytes.

:class:`TraceRequestEncoder` turns a batch of spans into the bytes of an
``opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`` without building
protobuf message objects: each span becomes a list of byte strings joined once. What
repeats from span to span is encoded once and reused — the resource and scope of a batch,
span and event names, attribute keys, and whole ``(key, value)`` attribute pairs with a
short scalar value (``("http.request.method", "GET")``), in bounded caches.

It takes SDK ``ReadableSpan``\\ s or any object with the same attributes (agentwatch's lean
``ServerSpan``) and produces what the stock OTLP encoder does, grouped by resource then by
scope, with two additions the proto asks for: the span's own W3C trace flags in bits 0-7 of
``flags`` (spans and links), and the trace state of links.

>>> encoder = TraceRequestEncoder()
>>> body = encoder.encode(spans)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.trace import SpanKind, StatusCode

__all__ = ["EncodedSpan", "TraceRequestEncoder", "any_value"]

_log = logging.getLogger("agentwatch")
EncodedSpan = tuple[int, bytes]  # (resource and scope group, Span message)

_MASK64, _INT64_MIN, _INT64_MAX = (1 << 64) - 1, -(1 << 63), (1 << 63) - 1
_HAS_IS_REMOTE = 0x100  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = 0x200  # SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_ONE_BYTE = [bytes((n,)) for n in range(0x80)]
_FLAGS = [n.to_bytes(4, "little") for n in range(0x400)]  # fixed32 span flags
_DOUBLE = struct.Struct("<d").pack
_TRUE, _FALSE = b"\x10\x01", b"\x10\x00"  # AnyValue.bool_value
_KINDS = {id(kind): bytes((0x30, kind.value + 1)) for kind in SpanKind}  # Span.kind
_STATUS = {id(code): bytes((0x7A, 2, 0x18, code.value)) for code in StatusCode}
_STATUS[id(StatusCode.UNSET)] = b"\x7a\x00"
_FLAGS_AND_TIMES = struct.Struct("<2sIBQBQ").pack  # flags, start and end time of a span
_CACHE_SIZE = 4096  # entries per cache before it starts over
_VALUES_PER_KEY = 256  # distinct values of one attribute key remembered
_CACHED_PAIR_BYTES = 512  # longer attributes (stack traces, prompts) are encoded every time
_CACHED_VALUE_LENGTH = 256  # names and keys longer than this are encoded every time


def _varint(value: int) -> bytes:
    """A non-negative int as a protobuf varint."""
    if value < 0x80:
        return _ONE_BYTE[value]
    if value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _prefixed(data: bytes) -> bytes:
    """``data`` preceded by its length (the payload of a length-delimited field)."""
    return _varint(len(data)) + data


def _string(text: str) -> bytes:
    data = text.encode()
    return b"".join((_varint(len(data)), data))


def any_value(value: Any) -> bytes:
    """The ``AnyValue`` message of one attribute value.

    Raises ``TypeError`` or ``ValueError`` for what OTLP cannot carry (an int beyond int64,
    an object); the caller drops that attribute, as the stock encoder does.
    """
    kind = type(value)
    if kind is str:
        data = value.encode()
        return b"".join((b"\x0a", _varint(len(data)), data))
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is int:
        return _int_value(value)
    if kind is float:
        return b"\x21" + _DOUBLE(value)
    return _other_value(value)


def _int_value(value: int) -> bytes:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError(f"{value} is out of the int64 range")
    return b"\x18" + _varint(value & _MASK64)  # negative numbers as 10-byte varints


def _other_value(value: Any) -> bytes:
    """None, subclasses (enums), bytes, arrays, mappings: in the stock encoder's order."""
    if value is None:
        return b""
    if isinstance(value, str):
        return any_value(str.__str__(value))
    if isinstance(value, int):
        return _int_value(int(value))
    if isinstance(value, float):
        return any_value(float(value))
    if isinstance(value, bytes):
        return b"\x3a" + _prefixed(value)
    if isinstance(value, Sequence):
        items = [b"\x0a" + _prefixed(any_value(item)) for item in value]
        return b"\x2a" + _prefixed(b"".join(items))  # ArrayValue
    if isinstance(value, Mapping):
        pairs = [_string(str(k)) + b"\x12" + _prefixed(any_value(v)) for k, v in value.items()]
        return b"\x32" + _prefixed(b"".join([b"\x0a" + _prefixed(b"\x0a" + kv) for kv in pairs]))
    raise TypeError(f"an attribute cannot be a {type(value).__name__}")


_last_warning = 0.0


def _warn_dropped(key: object, exc: Exception) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning > 60.0:  # at most one line a minute
        _last_warning = now
        _log.warning("agentwatch: span attribute %r not exported: %s", key, exc)


def _text_field(cache: dict[str, bytes], tag: bytes, text: str) -> bytes:
    """``tag`` and ``text`` as a string field, remembered in ``cache`` when short."""
    encoded = tag + _string(text)
    if len(text) <= _CACHED_VALUE_LENGTH:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[text] = encoded
    return encoded


class _PairCache:
    """Encoded attribute fields (tag included) of repeated ``(key, value)`` pairs.

    Looked up with the very tuples ``dict.items()`` yields. ``strings`` holds only str
    values and ``ints`` only exact ints, so ``("k", 1)``, ``("k", True)`` and ``("k", 1.0)``
    never share an entry. A key whose values do not repeat (``url.path``, a message) stops
    being remembered after ``_VALUES_PER_KEY`` values; full, the cache starts over.
    """

    __slots__ = ("ints", "per_key", "strings", "tag")

    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        self.strings: dict[tuple[str, str], bytes] = {}
        self.ints: dict[tuple[str, int], bytes] = {}
        self.per_key: dict[str, int] = {}

    def remember(self, pair: tuple[str, Any], encoded: bytes) -> None:
        kind = type(pair[1])
        if kind is not str and kind is not int:
            return  # floats (0.0 == -0.0), bools, arrays: encoded each time
        count = self.per_key.get(pair[0], 0)
        if count >= _VALUES_PER_KEY:
            return
        if len(self.strings) + len(self.ints) >= _CACHE_SIZE:
            self.strings.clear()
            self.ints.clear()
            self.per_key.clear()
        self.per_key[pair[0]] = count + 1
        (self.strings if kind is str else self.ints)[pair] = encoded  # type: ignore[index]


class TraceRequestEncoder:
    """Encodes span batches as ``ExportTraceServiceRequest`` bytes, caching what repeats.

    One instance per exporter. :meth:`encode_spans` may run on several threads at once (its
    caches are dicts whose single operations the GIL makes atomic; a race at worst encodes
    a value twice); :meth:`encode_request` runs on the export thread.
    """

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._names: dict[str, bytes] = {}
        self._event_names: dict[str, bytes] = {}
        self._statuses: dict[tuple[int, str], bytes] = {}
        self._span_pairs = _PairCache(b"\x4a")  # Span.attributes
        self._event_pairs = _PairCache(b"\x1a")  # Span.Event.attributes
        self._link_pairs = _PairCache(b"\x22")  # Span.Link.attributes
        self._other_pairs = {tag: _PairCache(tag) for tag in (b"\x0a", b"\x1a")}
        self._resources: dict[int, tuple[Any, bytes, bytes]] = {}
        self._scopes: dict[int, tuple[Any, bytes, bytes]] = {}
        self._groups: list[tuple[Any, Any]] = []  # distinct (resource, scope) by number
        self._group_values: dict[tuple[Any, Any], int] = {}
        self._group_ids: dict[tuple[int, int], tuple[int, Any, Any]] = {}
        self._groups_lock = threading.Lock()

    def encode(self, spans: Sequence[Any]) -> bytes:
        """The request carrying ``spans``: resource spans, then scope spans, then spans."""
        return self.encode_request(self.encode_spans(spans))

    def encode_spans(self, spans: Sequence[Any]) -> list[EncodedSpan]:
        """Each span's ``Span`` message, tagged with its (resource, scope) group.

        The part of encoding that reads the spans: the export queue calls it when a trace is
        kept, so the queue holds bytes and the export thread only frames and sends them.
        """
        encoded: list[EncodedSpan] = []
        last: tuple[Any, Any, int] = (_MISSING, _MISSING, -1)
        for span in spans:
            resource, scope = span.resource, span.instrumentation_scope or None
            if resource is not last[0] or scope is not last[1]:
                last = (resource, scope, self._group_of(resource, scope))
            encoded.append((last[2], self._span(span)))
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
            if len(self._group_ids) >= _CACHE_SIZE:
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
                prefix = b"\x12" + _varint(length)
                parts += (prefix, scope_field, *encoded, scope_schema)
                size += len(prefix) + length
            parts.append(resource_schema)
            parts[head] = b"\x0a" + _varint(size)  # ExportTraceServiceRequest.resource_spans
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
            bucket += (b"\x12" + _varint(len(body)), body)  # ScopeSpans.spans
        return groups

    def _span(self, span: Any) -> bytes:
        """The ``Span`` message of one span."""
        context = span.context
        parent = span.parent
        ids = (context.trace_id.to_bytes(16, "big"), context.span_id.to_bytes(8, "big"))
        parts = [b"".join((b"\x0a\x10", ids[0], b"\x12\x08", ids[1]))]
        flags = (context.trace_flags & 0xFF) | _HAS_IS_REMOTE
        if parent is not None:
            parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
            if parent.is_remote:
                flags |= _IS_REMOTE
        start, end = span.start_time or 0, span.end_time or 0
        parts.append(_FLAGS_AND_TIMES(b"\x85\x01", flags, 0x39, start, 0x41, end))
        if context.trace_state:
            parts.append(b"\x1a" + _string(context.trace_state.to_header()))
        name = span.name
        parts.append(self._names.get(name) or _text_field(self._names, b"\x2a", name))
        kind = span.kind
        parts.append(_KINDS.get(id(kind)) or bytes((0x30, kind.value + 1)))
        attributes = span.attributes
        if attributes:
            self._attributes(self._span_pairs, attributes, parts)
        self._span_tail(span, parts)
        return b"".join(parts)

    def _span_tail(self, span: Any, parts: list[bytes]) -> None:
        """Events, links, dropped counts and status of a span."""
        for event in span.events:
            pieces = self._event(event)
            parts += (b"\x5a", _varint(sum(map(len, pieces))), *pieces)
        for link in span.links:
            body = self._link(link)
            parts += (b"\x6a", _varint(len(body)), body)
        if span.dropped_attributes:
            parts.append(b"\x50" + _varint(span.dropped_attributes))
        if span.dropped_events:
            parts.append(b"\x60" + _varint(span.dropped_events))
        if span.dropped_links:
            parts.append(b"\x70" + _varint(span.dropped_links))
        status = span.status
        code, description = status.status_code, status.description
        if description:
            key = (id(code), description)
            parts.append(self._statuses.get(key) or self._status(key, code, description))
        else:
            parts.append(_STATUS.get(id(code)) or bytes((0x7A, 2, 0x18, code.value)))

    def _status(self, key: tuple[int, str], code: Any, description: str) -> bytes:
        """A ``Span.status`` field with a message, remembered when the message is short."""
        body = bytes((0x18, code.value)) + b"\x12" + _string(description)
        encoded = b"\x7a" + _prefixed(body)
        if len(description) <= _CACHED_VALUE_LENGTH:
            if len(self._statuses) >= _CACHE_SIZE:
                self._statuses.clear()
            self._statuses[key] = encoded
        return encoded

    def _event(self, event: Any) -> list[bytes]:
        """The ``Span.Event`` message of one event, in pieces (not copied once more)."""
        name = event.name
        parts = [
            self._event_names.get(name) or _text_field(self._event_names, b"\x12", name),
            b"\x09" + (event.timestamp or 0).to_bytes(8, "little"),
        ]
        attributes = event.attributes
        if attributes:
            self._attributes(self._event_pairs, attributes, parts)
        if event.dropped_attributes:
            parts.append(b"\x20" + _varint(event.dropped_attributes))
        return parts

    def _link(self, link: Any) -> bytes:
        """The ``Span.Link`` message of one link."""
        context = link.context
        flags = (context.trace_flags & 0xFF) | _HAS_IS_REMOTE
        if context.is_remote:
            flags |= _IS_REMOTE
        parts = [
            b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
            b"\x12\x08" + context.span_id.to_bytes(8, "big"),
            b"\x35" + _FLAGS[flags],
        ]
        if context.trace_state:
            parts.append(b"\x1a" + _string(context.trace_state.to_header()))
        if link.attributes:
            self._attributes(self._link_pairs, link.attributes, parts)
        if link.dropped_attributes:
            parts.append(b"\x28" + _varint(link.dropped_attributes))
        return b"".join(parts)

    def _attributes(
        self, cache: _PairCache, attributes: Mapping[str, Any], parts: list[bytes]
    ) -> None:
        """Append one field per attribute; repeated pairs come from ``cache``."""
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

    def _pair(self, cache: _PairCache, pair: tuple[str, Any], parts: list[bytes]) -> None:
        """Append one attribute field not in ``cache`` (remembered when it may repeat).

        A long value (a stack trace) is appended in pieces: one copy fewer of it.
        """
        key, value = pair
        try:
            key_field = self._keys.get(key) or _text_field(self._keys, b"\x0a", key)
            if type(value) is str:  # the common case in one copy: AnyValue.string_value
                data = value.encode()
                inner = _varint(len(data))
                pieces: tuple[bytes, ...] = (b"\x0a", inner, data)
                value_size = 1 + len(inner) + len(data)
            else:
                pieces = (any_value(value),)
                value_size = len(pieces[0])
        except (TypeError, ValueError, AttributeError, RecursionError) as exc:
            _warn_dropped(key, exc)
            return
        size = _varint(value_size)
        length = _varint(len(key_field) + 1 + len(size) + value_size)
        if value_size > _CACHED_PAIR_BYTES:
            parts += (cache.tag, length, key_field, b"\x12", size, *pieces)
            return
        encoded = b"".join((cache.tag, length, key_field, b"\x12", size, *pieces))
        cache.remember(pair, encoded)
        parts.append(encoded)

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
                parts.append(b"\x0a" + _string(scope.name or ""))
                if scope.version:
                    parts.append(b"\x12" + _string(scope.version))
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
    entry = (owner, b"\x0a" + _prefixed(b"".join(parts)), b"\x1a" + _string(url) if url else b"")
    if len(cache) >= 64:
        cache.clear()
    cache[id(owner)] = entry  # the entry keeps the owner alive: its id is not reused
    return entry
