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

from opentelemetry.sdk.trace import Event
from opentelemetry.trace import (
    DEFAULT_TRACE_STATE,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    TraceState,
)

from ._serverspan import (
    SERVER_SPAN_KEYS,
    ExceptionAttributes,
    ServerSpan,
    body_size,
    user_agent,
)

__all__ = ["EncodedSpan", "TraceRequestEncoder", "any_value"]

_log = logging.getLogger("agentwatch")
EncodedSpan = tuple[int, bytes]  # (resource and scope group, Span message)

_MASK64, _INT64_MIN, _INT64_MAX = (1 << 64) - 1, -(1 << 63), (1 << 63) - 1
_HAS_IS_REMOTE = 0x100  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = 0x200  # SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_ONE_BYTE = [bytes((n,)) for n in range(0x80)]
_CONTINUED = [bytes((n | 0x80,)) for n in range(0x80)]  # a varint byte with more to come
_FLAGS = [n.to_bytes(4, "little") for n in range(0x400)]  # fixed32 span flags
_DOUBLE = struct.Struct("<d").pack
_TRUE, _FALSE = b"\x10\x01", b"\x10\x00"  # AnyValue.bool_value
_KINDS = {id(kind): bytes((0x30, kind.value + 1)) for kind in SpanKind}  # Span.kind
_STATUS = {id(code): bytes((0x7A, 2, 0x18, code.value)) for code in StatusCode}
_STATUS[id(StatusCode.UNSET)] = b"\x7a\x00"
_FLAGS_AND_TIMES = struct.Struct("<2sIBQBQ").pack  # flags, start and end time of a span
_IDS = struct.Struct(">2sQQ2sQ").pack  # trace_id, span_id
_IDS_AND_PARENT = struct.Struct(">2sQQ2sQ2sQ").pack  # trace_id, span_id, parent_span_id
_SERVER_KIND = _KINDS[id(SpanKind.SERVER)]
_EXCEPTION_KEYS = (
    "exception.type",
    "exception.message",
    "exception.stacktrace",
    "exception.escaped",
)
_EXCEPTION_MESSAGE = b"\x0a\x11exception.message"
_EXCEPTION_STACKTRACE = b"\x0a\x14exception.stacktrace"
_EXCEPTION_HEAD = b"\x12\x09exception\x09"  # Span.Event name, then the tag of its time
_EXCEPTION_HEAD_SIZE = len(_EXCEPTION_HEAD) + 8
_CACHE_SIZE = 4096  # entries per cache before it starts over
_VALUES_PER_KEY = 256  # distinct values of one attribute key remembered
_CACHED_PAIR_BYTES = 512  # longer attributes (stack traces, prompts) are encoded every time
_CACHED_VALUE_LENGTH = 256  # names and keys longer than this are encoded every time
_SERVER_BLOCKS = 1024  # shared parts of server spans remembered (method, route, status...)
_OWN_VALUES = 1024  # paths, client addresses, user agents, body sizes remembered (each)
_STATUSES = 256  # Status objects remembered by identity
_STACKS = 64  # encoded frames of distinct stack traces remembered (a few KB each)


def _varint(value: int) -> bytes:
    """A non-negative int as a protobuf varint."""
    if value < 0x80:
        return _ONE_BYTE[value]
    if value < 0x4000:
        return _CONTINUED[value & 0x7F] + _ONE_BYTE[value >> 7]
    if value < 0x200000:
        return _CONTINUED[value & 0x7F] + _CONTINUED[(value >> 7) & 0x7F] + _ONE_BYTE[value >> 14]
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


def _span_head(context: Any, parent: Any, start: int, end: int) -> bytes:
    """Trace and span ids, parent span id, flags, start and end time of a ``Span``."""
    trace_id = context.trace_id
    flags = (context.trace_flags & 0xFF) | _HAS_IS_REMOTE
    high, low = trace_id >> 64, trace_id & _MASK64
    if parent is None:
        ids = _IDS(b"\x0a\x10", high, low, b"\x12\x08", context.span_id)
    else:
        ids = _IDS_AND_PARENT(
            b"\x0a\x10", high, low, b"\x12\x08", context.span_id, b"\x22\x08", parent.span_id
        )
        if parent.is_remote:
            flags |= _IS_REMOTE
    return ids + _FLAGS_AND_TIMES(b"\x85\x01", flags, 0x39, start, 0x41, end)


def _string_attribute(tag: bytes, key_field: bytes, text: str) -> bytes:
    """An attribute field (``tag``) of a str value, ``key_field`` its encoded key.

    Raises ``UnicodeEncodeError`` for a str with lone surrogates (the caller drops it).
    """
    data = text.encode()
    return _string_header(tag, key_field, len(data)) + data


def _short_string(heads: list[bytes], text: Any) -> bytes | None:
    """The attribute field of a short str from the ``heads`` of its key by length; None
    for anything else (the caller takes the generic path)."""
    if type(text) is str:
        try:
            data = text.encode()
        except UnicodeEncodeError:
            return None
        if len(data) < len(heads):
            return heads[len(data)] + data
    return None


def _string_header(tag: bytes, key_field: bytes, size: int) -> bytes:
    """What precedes the ``size`` bytes of a str value in an attribute field (``tag``)."""
    if size + len(key_field) < 124:  # each length fits one byte
        lengths = _ONE_BYTE[len(key_field) + size + 4], _ONE_BYTE[size + 2], _ONE_BYTE[size]
        return b"".join((tag, lengths[0], key_field, b"\x12", lengths[1], b"\x0a", lengths[2]))
    inner = _varint(size)
    value_size = _varint(1 + len(inner) + size)
    length = _varint(len(key_field) + 2 + len(value_size) + len(inner) + size)
    return b"".join((tag, length, key_field, b"\x12", value_size, b"\x0a", inner))


# what precedes the value in the Span.attributes field of url.path and client.address, by
# the value's length (as long as every length fits one byte)
_PATH_HEADS = [_string_header(b"\x4a", b"\x0a\x08url.path", n) for n in range(114)]
_CLIENT_HEADS = [_string_header(b"\x4a", b"\x0a\x0eclient.address", n) for n in range(108)]
_MESSAGE_HEADS = [_string_header(b"\x1a", _EXCEPTION_MESSAGE, n) for n in range(105)]


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
        self._last_group: tuple[Any, Any, int] = (_MISSING, _MISSING, -1)
        # agentwatch's ServerSpan: shared part by ServerSpan.shared_key(), own values by value
        self._server_blocks: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}
        self._agents: dict[bytes, bytes] = {}
        self._lengths: dict[bytes, bytes] = {}
        self._status_fields: dict[int, tuple[Any, bytes]] = {}
        self._exception_fields: dict[str, tuple[str, bytes, bytes]] = {}
        self._stack_frames: dict[int, tuple[str, bytes, dict[int, bytes]]] = {}

    def encode(self, spans: Sequence[Any]) -> bytes:
        """The request carrying ``spans``: resource spans, then scope spans, then spans."""
        return self.encode_request(self.encode_spans(spans))

    def encode_spans(self, spans: Sequence[Any]) -> list[EncodedSpan]:
        """Each span's ``Span`` message, tagged with its (resource, scope) group.

        The part of encoding that reads the spans: the export queue calls it when a trace is
        kept, so the queue holds bytes and the export thread only frames and sends them.
        """
        encoded: list[EncodedSpan] = []
        last = self._last_group  # a group number never changes: read and set without a lock
        resource: Any
        scope: Any
        for span in spans:
            if type(span) is ServerSpan and _CONTEXTS_UNPACK:
                factory = span.factory
                resource, scope = factory.resource, factory.scope
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
        parts = [_span_head(context, span.parent, span.start_time or 0, span.end_time or 0)]
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
        events = span.events
        if events:
            self._events(events, parts)
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

    def _server_span(self, span: ServerSpan) -> bytes:
        """The ``Span`` message of agentwatch's lean server span, what ``_span`` makes of it.

        What it shares with other requests (name, kind, method, scheme, version, server,
        route, status code, error type) is one cached block; path, client, user agent and
        body size are cached by their raw values. A span whose given attributes override
        one of those, or that has not ended, takes the generic path.
        """
        given = span.given_attributes
        end = span.end_time
        if end is None or (given and not SERVER_SPAN_KEYS.isdisjoint(given)):
            return self._span(span)
        try:
            key = span.shared_key()
            block = self._server_blocks.get(key) or self._server_block(span, key)
        except TypeError:  # a server address that cannot be a key (a list)
            return self._span(span)
        trace_id, span_id, _, trace_flags, state, _ = span.context  # see _unpacks_contexts
        flags = (trace_flags & 0xFF) | _HAS_IS_REMOTE
        high, low = trace_id >> 64, trace_id & _MASK64
        parent = span.parent
        if parent is None:
            ids = _IDS(b"\x0a\x10", high, low, b"\x12\x08", span_id)
        else:
            ids = _IDS_AND_PARENT(
                b"\x0a\x10", high, low, b"\x12\x08", span_id, b"\x22\x08", parent.span_id
            )
            if parent.is_remote:
                flags |= _IS_REMOTE
        times = _FLAGS_AND_TIMES(b"\x85\x01", flags, 0x39, span.start_time, 0x41, end)
        name = span.given_name
        if name is not None:
            block = (self._names.get(name) or _text_field(self._names, b"\x2a", name), block[1])
        parts = [ids, times, *block]
        if state is not DEFAULT_TRACE_STATE and state:
            parts.append(b"\x1a" + _string(state.to_header()))
        self._own_attributes(span.request, parts)
        if given:
            self._attributes(self._span_pairs, given, parts)
        events = span.recorded_events
        if events:
            self._events(events, parts)
        status = span.status
        known = self._status_fields.get(id(status))
        parts.append(
            known[1] if known is not None and known[0] is status else self._status_field(status)
        )
        return b"".join(parts)

    def _server_block(self, span: ServerSpan, key: tuple[Any, ...]) -> tuple[bytes, bytes]:
        """The name field, and the kind and shared attribute fields, of spans like ``span``."""
        name = span.default_name()
        name_field = self._names.get(name) or _text_field(self._names, b"\x2a", name)
        parts = [_SERVER_KIND]
        self._attributes(self._span_pairs, span.shared_attributes(), parts)
        block = (name_field, b"".join(parts))
        if len(self._server_blocks) >= _SERVER_BLOCKS:
            self._server_blocks.clear()
        self._server_blocks[key] = block
        return block

    def _own_attributes(self, request: Any, parts: list[bytes]) -> None:
        """``url.path``, ``client.address``, ``user_agent.original``, ``http.request.body.size``
        as ``add_own_request_attributes`` makes them, cached by the raw values."""
        path = request[1]
        parts.append(_short_string(_PATH_HEADS, path) or self._own_field("url.path", path))
        client = request[4]
        if client:
            address = client[0]
            field = _short_string(_CLIENT_HEADS, address)
            parts.append(field or self._own_field("client.address", address))
        headers = dict(request[5])
        agent = headers.get(b"user-agent")
        if agent is not None:
            field = self._agents.get(agent) if type(agent) is bytes else None
            if field is None:
                field = self._own(self._agents, agent, "user_agent.original", user_agent(agent))
            parts.append(field)
        length = headers.get(b"content-length")
        if length is not None:
            field = self._lengths.get(length) if type(length) is bytes else None
            if field is None:
                size = body_size(length)
                field = b"" if size is None else self._own_field("http.request.body.size", size)
                _remember_own(self._lengths, length, field)
            parts.append(field)

    def _own(self, cache: dict[Any, bytes], raw: Any, key: str, value: Any) -> bytes:
        """The field of ``(key, value)``, remembered in ``cache`` by ``raw`` when short."""
        field = self._own_field(key, value)
        _remember_own(cache, raw, field)
        return field

    def _own_field(self, key: str, value: Any, tag: bytes = b"\x4a") -> bytes:
        field = self._field(tag, (key, value))
        if field is None or isinstance(field, bytes):
            return field or b""
        return b"".join(field)

    def _status_field(self, status: Any) -> bytes:
        """A ``Span.status`` field, remembered by the identity of the ``Status`` object."""
        code, description = status.status_code, status.description
        if description:
            key = (id(code), description)
            field = self._statuses.get(key) or self._status(key, code, description)
        else:
            field = _STATUS.get(id(code)) or bytes((0x7A, 2, 0x18, code.value))
        if len(self._status_fields) >= _STATUSES:
            self._status_fields.clear()
        self._status_fields[id(status)] = (status, field)  # keeps it alive: its id is not reused
        return field

    def _events(self, events: Sequence[Any], parts: list[bytes]) -> None:
        """Append a ``Span.events`` field per event."""
        for event in events:
            if event.name == "exception":
                field = self._exception_field(event)
                if field is not None:
                    parts += field
                    continue
            pieces = self._event(event)
            parts += (b"\x5a", _varint(sum(map(len, pieces))), *pieces)

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

    def _exception_field(self, event: Any) -> tuple[bytes, ...] | None:
        """The ``Span.events`` field of an ``exception`` event with the four semantic-convention
        attributes (str values, in their order), in few steps: type and escaped cached,
        message and stack trace encoded without a lookup (they rarely repeat), the frames of
        an :class:`ExceptionAttributes` stack from a cache. None for any other event."""
        attributes = event.attributes
        if not attributes or tuple(attributes) != _EXCEPTION_KEYS:
            return None
        kind, message, stack, escaped = attributes.values()
        if type(kind) is not str or type(message) is not str or type(escaped) is not str:
            return None
        fixed = self._exception_fields.get(kind)
        if fixed is None or fixed[0] != escaped:
            fixed = self._exception_fixed(kind, escaped)
        try:
            message_field = _short_string(_MESSAGE_HEADS, message) or _string_attribute(
                b"\x1a", _EXCEPTION_MESSAGE, message
            )
            lean = type(attributes) is ExceptionAttributes and stack is attributes.stacktrace
            if lean:
                stack_head, data, end = self._stack_pieces(attributes)
            elif type(stack) is str:
                data, end = stack.encode(), b""
                stack_head = _string_header(b"\x1a", _EXCEPTION_STACKTRACE, len(data))
            else:
                return None
        except UnicodeEncodeError:
            return None  # the generic path drops the attribute, with a warning
        dropped = 0 if lean and type(event) is Event else event.dropped_attributes
        tail = fixed[2] + b"\x20" + _varint(dropped) if dropped else fixed[2]
        size = _EXCEPTION_HEAD_SIZE + len(fixed[1]) + len(message_field) + len(stack_head)
        size += len(data) + len(end) + len(tail)
        time = (event.timestamp or 0).to_bytes(8, "little")
        head = (b"\x5a", _varint(size), _EXCEPTION_HEAD, time, fixed[1], message_field, stack_head)
        return (b"".join(head), data, end, tail)

    def _stack_pieces(self, attributes: ExceptionAttributes) -> tuple[bytes, bytes, bytes]:
        """What precedes the stack trace ``stack_frames + stack_tail`` in its field, and the
        bytes of the two parts; the frames' bytes (and the preceding bytes, by the tail's
        length) cached by the identity of the cached frames text."""
        frames, tail = attributes.stack_frames, attributes.stack_tail
        known = self._stack_frames.get(id(frames))
        if known is None or known[0] is not frames:
            known = (frames, frames.encode(), {})
            if len(self._stack_frames) >= _STACKS:
                self._stack_frames.clear()
            self._stack_frames[id(frames)] = known  # keeps it alive: its id is not reused
        data, end = known[1], tail.encode()
        heads = known[2]
        head = heads.get(len(end))
        if head is None:
            head = _string_header(b"\x1a", _EXCEPTION_STACKTRACE, len(data) + len(end))
            if len(heads) < _VALUES_PER_KEY:
                heads[len(end)] = head
        return head, data, end

    def _exception_fixed(self, kind: str, escaped: str) -> tuple[str, bytes, bytes]:
        """``escaped``, the ``exception.type`` and ``exception.escaped`` fields, remembered
        by ``kind``."""
        type_field = self._own_field("exception.type", kind, b"\x1a")
        fixed = (escaped, type_field, self._own_field("exception.escaped", escaped, b"\x1a"))
        if len(self._exception_fields) >= _STATUSES:
            self._exception_fields.clear()
        self._exception_fields[kind] = fixed
        return fixed

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
        """Append one field per attribute; repeated pairs come from ``cache``.

        Only str and int values are looked up (the only ones remembered), and no str too
        long to be remembered: hashing a new stack trace costs more than encoding it.
        """
        strings, ints = cache.strings.get, cache.ints.get
        append = parts.append
        for pair in attributes.items():
            value = pair[1]
            kind = type(value)
            if kind is str:
                encoded = strings(pair) if len(value) <= _CACHED_PAIR_BYTES else None
            else:
                encoded = ints(pair) if kind is int else None
            if encoded is None:
                self._pair(cache, pair, parts)
            else:
                append(encoded)

    def _pair(self, cache: _PairCache, pair: tuple[str, Any], parts: list[bytes]) -> None:
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
            return None
        size = _varint(value_size)
        length = _varint(len(key_field) + 1 + len(size) + value_size)
        if value_size > _CACHED_PAIR_BYTES:
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
                parts.append(b"\x0a" + _string(scope.name or ""))
                if scope.version:
                    parts.append(b"\x12" + _string(scope.version))
                if getattr(scope, "attributes", None):
                    self._attributes(self._other_pairs[b"\x1a"], scope.attributes, parts)
            cached = _remember(self._scopes, scope, parts)
        return cached[1], cached[2]


_MISSING = object()


def _unpacks_contexts() -> bool:
    """True when a ``SpanContext`` is the tuple (trace_id, span_id, is_remote, flags, state,
    is_valid), as the ServerSpan path reads it (one unpacking, not five properties)."""
    flags, state = TraceFlags(1), TraceState([("k", "v")])
    context = SpanContext(0xABC, 0xDEF, True, flags, state)
    return isinstance(context, tuple) and tuple(context) == (0xABC, 0xDEF, True, flags, state, True)


_CONTEXTS_UNPACK = _unpacks_contexts()


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


def _remember_own(cache: dict[Any, bytes], raw: Any, field: bytes) -> None:
    """Remember the field of a server span's own value (str or bytes, short) by that value."""
    kind = type(raw)
    if (kind is str or kind is bytes) and len(field) <= _CACHED_PAIR_BYTES:
        if len(cache) >= _OWN_VALUES:
            cache.clear()
        cache[raw] = field


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
