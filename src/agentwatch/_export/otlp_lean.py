"""The OTLP encoder's fast path for what agentwatch itself records.

:class:`LeanEncoding` is mixed into :class:`~agentwatch._export.otlp.TraceRequestEncoder`. It
encodes a lean ``ServerSpan`` from its raw slots — what it shares with other requests
(name, kind, method, scheme, version, server, route, status code, error type) as one block
cached by ``ServerSpan.shared_key()``, then path, client, user agent and body size — and an
``exception`` event with the four semantic-convention attributes in few steps, the frames
of an :class:`~agentwatch._semconv.ExceptionAttributes` stack trace encoded once per
distinct stack. The bytes are those of the generic path: the tests hold them to it.

The class it is mixed into provides the generic path and the shared caches: ``_span``,
``_events``, ``_attributes``, ``_field``, ``_status``, ``_names``, ``_statuses`` and
``_span_pairs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import Event
from opentelemetry.trace import DEFAULT_TRACE_STATE, SpanContext, SpanKind, TraceFlags, TraceState

from .._semconv import (
    SERVER_SPAN_KEYS,
    ExceptionAttributes,
    Raised,
    Request,
    body_size,
    header_map,
    user_agent,
)
from .otlp_wire import (
    CACHED_PAIR_BYTES,
    FLAGS_AND_TIMES,
    HAS_IS_REMOTE,
    IDS,
    IDS_AND_PARENT,
    IS_REMOTE,
    KINDS,
    MASK64,
    STATUS,
    VALUES_PER_KEY,
    PairCache,
    short_string,
    string,
    string_header,
    text_field,
    varint,
)
from .spans import LeanServerSpan

__all__ = ["CONTEXTS_UNPACK", "LeanEncoding"]

_SERVER_KIND = KINDS[id(SpanKind.SERVER)]
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
_SERVER_BLOCKS = 1024  # shared parts of server spans remembered (method, route, status...)
_OWN_VALUES = 1024  # blocks of client address, user agent and body size remembered
_STATUSES = 256  # Status objects remembered by identity
_STACKS = 64  # encoded frames of distinct stack traces remembered (a few KB each)
# frames text, type, escaped; the type field, the frames' bytes, the escaped field; the
# event heads by (message size, tail size) (see _event_heads); the size of the event's
# name, time, type and frames
_StackEntry = tuple[
    str, str, str, bytes, bytes, bytes, dict[tuple[int, int], tuple[bytes, bytes, bytes]], int
]

# what precedes the value in the attribute field of url.path, client.address (Span) and
# exception.message (Span.Event), by the value's length (as long as each length fits a byte)
_PATH_HEADS = [string_header(b"\x4a", b"\x0a\x08url.path", n) for n in range(114)]
_CLIENT_HEADS = [string_header(b"\x4a", b"\x0a\x0eclient.address", n) for n in range(108)]
_MESSAGE_HEADS = [string_header(b"\x1a", _EXCEPTION_MESSAGE, n) for n in range(105)]


class LeanEncoding:
    """The fast path of ``ServerSpan``\\ s and exception events (see the module)."""

    _names: dict[str, bytes]
    _statuses: dict[tuple[int, str], bytes]
    _span_pairs: PairCache

    def __init__(self) -> None:
        self._server_blocks: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}
        self._peers: dict[tuple[Any, ...], bytes] = {}  # client, agent[, length] -> fields
        self._status_fields: dict[int, tuple[Any, bytes]] = {}
        self._stacks: dict[int, _StackEntry] = {}

    # -- the generic path, provided by the encoder ---------------------------------------------
    def _span(self, span: Any) -> bytes:
        raise NotImplementedError

    def _events(self, events: Sequence[Any], parts: list[bytes]) -> None:
        raise NotImplementedError

    def _attributes(self, cache: PairCache, attributes: Any, parts: list[bytes]) -> None:
        raise NotImplementedError

    def _field(self, tag: bytes, pair: tuple[str, Any]) -> bytes | tuple[bytes, ...] | None:
        raise NotImplementedError

    def _status(self, key: tuple[int, str], code: Any, description: str) -> bytes:
        raise NotImplementedError

    # -- ServerSpan -----------------------------------------------------------------------------
    def _server_span(self, span: LeanServerSpan) -> bytes:
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
        flags = (trace_flags & 0xFF) | HAS_IS_REMOTE
        high, low = trace_id >> 64, trace_id & MASK64
        parent = span.parent
        if parent is None:
            ids = IDS(b"\x0a\x10", high, low, b"\x12\x08", span_id)
        else:
            ids = IDS_AND_PARENT(
                b"\x0a\x10", high, low, b"\x12\x08", span_id, b"\x22\x08", parent.span_id
            )
            if parent.is_remote:
                flags |= IS_REMOTE
        times = FLAGS_AND_TIMES(b"\x85\x01", flags, 0x39, span.start_time, 0x41, end)
        name = span.given_name
        if name is not None:
            block = (self._names.get(name) or text_field(self._names, b"\x2a", name), block[1])
        parts = [ids, times, *block]
        if state is not DEFAULT_TRACE_STATE and state:
            parts.append(b"\x1a" + string(state.to_header()))
        self._own_attributes(span.request, parts)
        if given:
            self._attributes(self._span_pairs, given, parts)
        events = span.recorded_events
        if events:
            self._events(events, parts)
        raised = span.raised
        if raised is not None:
            field = self._raised_field(raised)
            if field is None:  # text that is not UTF-8: the generic path drops it, warning
                return self._span(span)
            parts += field
        status = span.status
        known = self._status_fields.get(id(status))
        parts.append(
            known[1] if known is not None and known[0] is status else self._status_field(status)
        )
        return b"".join(parts)

    def _server_block(self, span: LeanServerSpan, key: tuple[Any, ...]) -> tuple[bytes, bytes]:
        """The name field, and the kind and shared attribute fields, of spans like ``span``."""
        name = span.default_name()
        name_field = self._names.get(name) or text_field(self._names, b"\x2a", name)
        parts = [_SERVER_KIND]
        self._attributes(self._span_pairs, span.shared_attributes(), parts)
        block = (name_field, b"".join(parts))
        if len(self._server_blocks) >= _SERVER_BLOCKS:
            self._server_blocks.clear()
        self._server_blocks[key] = block
        return block

    def _own_attributes(self, request: Request, parts: list[bytes]) -> None:
        """``url.path``, ``client.address``, ``user_agent.original``, ``http.request.body.size``
        as ``add_own_request_attributes`` makes them: the path encoded, the other three one
        block remembered by their raw values (one client and agent send many requests)."""
        path = request.path
        parts.append(short_string(_PATH_HEADS, path) or self._own_field("url.path", path))
        client, headers = request.client, header_map(request)
        key: tuple[Any, ...] = (client[0] if client else None, headers.get(b"user-agent"))
        length = headers.get(b"content-length")
        if length is not None:
            key += (length,)
        try:
            field = self._peers.get(key)
        except TypeError:  # a client address that cannot be a key
            field = None
        parts.append(field if field is not None else self._peer_fields(key))

    def _peer_fields(self, key: tuple[Any, ...]) -> bytes:
        """The fields of client address, user agent and body size, remembered by their raw
        values (``key``) when those are short str or bytes."""
        address, agent = key[0], key[1]
        parts = []
        if address is not None:
            field = short_string(_CLIENT_HEADS, address)
            parts.append(field or self._own_field("client.address", address))
        if agent is not None:
            parts.append(self._own_field("user_agent.original", user_agent(agent)))
        if len(key) > 2:
            size = body_size(key[2])
            if size is not None:
                parts.append(self._own_field("http.request.body.size", size))
        field = b"".join(parts)
        if (
            all(type(raw) in (str, bytes, type(None)) for raw in key)
            and len(field) <= CACHED_PAIR_BYTES
        ):
            if len(self._peers) >= _OWN_VALUES:
                self._peers.clear()
            self._peers[key] = field
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
            field = STATUS.get(id(code)) or bytes((0x7A, 2, 0x18, code.value))
        if len(self._status_fields) >= _STATUSES:
            self._status_fields.clear()
        self._status_fields[id(status)] = (status, field)  # keeps it alive: its id is not reused
        return field

    # -- exception events -------------------------------------------------------------------
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
        if type(attributes) is ExceptionAttributes and stack is attributes.stacktrace:
            frames, tail = attributes.stack_frames, attributes.stack_tail
            dropped = 0 if type(event) is Event else event.dropped_attributes
        elif type(stack) is str:
            frames, tail, dropped = "", stack, event.dropped_attributes
        else:
            return None
        return self._exception_pieces(
            kind, message, frames, tail, escaped, event.timestamp, dropped
        )

    def _raised_field(self, raised: Raised) -> tuple[bytes, ...] | None:
        """The field of the ``exception`` event a ``ServerSpan`` keeps as its parts."""
        return self._exception_pieces(
            raised.type, raised.message, raised.frames, raised.tail, "False", raised.time, 0
        )

    def _exception_pieces(
        self,
        kind: str,
        message: str,
        frames: str,
        tail: str,
        escaped: str,
        timestamp: int | None,
        dropped: int,
    ) -> tuple[bytes, ...] | None:
        """The event's field in four pieces (the frames' bytes not copied once more); None
        for text that is not UTF-8 encodable (the generic path drops it, with a warning).

        What only the stack decides — the type and escaped fields, the frames' bytes, the
        bytes around time and message by the sizes of message and tail — is one
        :meth:`_stack_entry`, found by the identity of the frames text (the cached text of a
        repeated stack)."""
        entry = self._stacks.get(id(frames))
        try:
            if entry is None or entry[0] is not frames or entry[1] != kind or entry[2] != escaped:
                entry = self._stack_entry(kind, escaped, frames)
            text, end = message.encode(), tail.encode()
        except UnicodeEncodeError:
            return None
        time = (timestamp or 0).to_bytes(8, "little")
        if dropped:
            tail_field = entry[5] + b"\x20" + varint(dropped)
            lead, middle, rest = _event_heads(entry, len(text), len(end), len(tail_field))
            return (b"".join((lead, time, middle, text, rest)), entry[4], end, tail_field)
        sizes = (len(text), len(end))
        heads = entry[6].get(sizes) or _remember_heads(entry, sizes)
        return (b"".join((heads[0], time, heads[1], text, heads[2])), entry[4], end, entry[5])

    def _stack_entry(self, kind: str, escaped: str, frames: str) -> _StackEntry:
        """What the exception fields of ``frames`` (and type, escaped) share; it keeps the
        frames text alive, so its id is not reused while remembered."""
        data = frames.encode()  # UnicodeEncodeError for a file name with lone surrogates
        type_field = self._own_field("exception.type", kind, b"\x1a")
        fixed = _EXCEPTION_HEAD_SIZE + len(type_field) + len(data)
        entry: _StackEntry = (
            frames,
            kind,
            escaped,
            type_field,
            data,
            self._own_field("exception.escaped", escaped, b"\x1a"),
            {},
            fixed,
        )
        if len(self._stacks) >= _STACKS:
            self._stacks.clear()
        self._stacks[id(frames)] = entry
        return entry


def _event_heads(
    entry: _StackEntry, message_size: int, tail_size: int, tail_field_size: int
) -> tuple[bytes, bytes, bytes]:
    """What an exception event of ``entry`` holds around its time and message, by the sizes
    of message, tail and the escaped field: the field's tag and length and the event's name
    (then the time), the type field and the message's head (then the message), the head of
    the stack trace (then the frames, the tail, the escaped field)."""
    if message_size < len(_MESSAGE_HEADS):
        message_head = _MESSAGE_HEADS[message_size]
    else:
        message_head = string_header(b"\x1a", _EXCEPTION_MESSAGE, message_size)
    stack_head = string_header(b"\x1a", _EXCEPTION_STACKTRACE, len(entry[4]) + tail_size)
    size = entry[7] + len(message_head) + message_size + len(stack_head) + tail_size
    lead = b"\x5a" + varint(size + tail_field_size) + _EXCEPTION_HEAD
    return lead, entry[3] + message_head, stack_head


def _remember_heads(entry: _StackEntry, sizes: tuple[int, int]) -> tuple[bytes, bytes, bytes]:
    """:func:`_event_heads` of an event without dropped attributes, remembered in the entry
    by (message size, tail size): an error storm repeats a few sizes."""
    heads = _event_heads(entry, sizes[0], sizes[1], len(entry[5]))
    if len(entry[6]) < VALUES_PER_KEY:
        entry[6][sizes] = heads
    return heads


def _unpacks_contexts() -> bool:
    """True when a ``SpanContext`` is the tuple (trace_id, span_id, is_remote, flags, state,
    is_valid), as the ServerSpan path reads it (one unpacking, not five properties)."""
    flags, state = TraceFlags(1), TraceState([("k", "v")])
    context = SpanContext(0xABC, 0xDEF, True, flags, state)
    return isinstance(context, tuple) and tuple(context) == (0xABC, 0xDEF, True, flags, state, True)


CONTEXTS_UNPACK = _unpacks_contexts()
