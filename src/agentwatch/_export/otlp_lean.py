"""The ``Span`` message of agentwatch's lean server span, straight from its parts.

:class:`ServerSpanFields` writes a :class:`~agentwatch._export.spans.LeanServerSpan` without
building its attribute dict: what it shares with other requests (name, kind, method,
scheme, version, server, route, status code, error type) is one block cached by
``shared_key()``; path, client, user agent and body size follow, the last three one block
remembered by their raw values (one client and agent send many requests); the exception it
raised takes :class:`~agentwatch._export.otlp_exceptions.ExceptionEvents`. Everything else
— names, given attributes, recorded events, statuses — is written by the
:class:`~agentwatch._export.otlp_fields.SpanFields` it is given, and a span it cannot write
this way goes to that generic path whole. The bytes are those of the generic path: the
tests hold them to it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from opentelemetry.trace import DEFAULT_TRACE_STATE, SpanKind

from .._semconv import SERVER_SPAN_KEYS, Request, body_size, header_map, user_agent
from .otlp_fields import SpanFields
from .otlp_wire import (
    CACHED_PAIR_BYTES,
    FLAGS_AND_TIMES,
    HAS_IS_REMOTE,
    IDS,
    IDS_AND_PARENT,
    IS_REMOTE,
    KINDS,
    MASK64,
    short_string,
    string,
    string_header,
)
from .spans import LeanServerSpan

__all__ = ["ServerSpanFields"]

_SERVER_KIND = KINDS[id(SpanKind.SERVER)]
_SERVER_BLOCKS = 1024  # shared parts of server spans remembered (method, route, status...)
_PEERS = 1024  # blocks of client address, user agent and body size remembered
_STATUSES = 256  # Status objects remembered by identity
# what precedes the value in the attribute field of url.path and client.address by the
# value's length (as long as each length fits a byte)
_PATH_HEADS = [string_header(b"\x4a", b"\x0a\x08url.path", n) for n in range(114)]
_CLIENT_HEADS = [string_header(b"\x4a", b"\x0a\x0eclient.address", n) for n in range(108)]


class _Block(NamedTuple):
    """What server spans with equal ``shared_key()``\\ s share."""

    name: bytes  # the name field
    fields: bytes  # the kind and the shared attribute fields


class _KnownStatus(NamedTuple):
    status: Any  # kept alive, so its id is not reused while remembered
    field: bytes


class ServerSpanFields:
    """Writes lean server spans' ``Span`` messages (see the module).

    Several threads may use one instance (dict caches, as :class:`SpanFields`).
    """

    def __init__(self, fields: SpanFields) -> None:
        self._fields = fields
        self._blocks: dict[tuple[Any, ...], _Block] = {}
        self._peers: dict[tuple[Any, ...], bytes] = {}  # client, agent[, length] -> fields
        self._statuses: dict[int, _KnownStatus] = {}

    def span(self, span: LeanServerSpan) -> bytes:
        """The ``Span`` message of ``span``: what ``SpanFields.span`` makes of it.

        A span whose given attributes override one of those the request makes, or that has
        not ended, takes the generic path.
        """
        given = span.given_attributes
        end = span.end_time
        if end is None or (given and not SERVER_SPAN_KEYS.isdisjoint(given)):
            return self._fields.span(span)
        try:
            key = span.shared_key()
            block = self._blocks.get(key) or self._block(span, key)
        except TypeError:  # a server address that cannot be a key (a list)
            return self._fields.span(span)
        trace_id, span_id, _, trace_flags, state, _ = span.context  # see TraceRequestEncoder
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
        parts = [ids, times, block.name if name is None else self._fields.name(name), block.fields]
        if state is not DEFAULT_TRACE_STATE and state:
            parts.append(b"\x1a" + string(state.to_header()))
        self._request(span.request, parts)
        if given:
            self._fields.attributes(self._fields.span_pairs, given, parts)
        if not self._events(span, parts):
            return self._fields.span(span)
        status = span.status
        known = self._statuses.get(id(status))
        parts.append(
            known.field if known is not None and known.status is status else self._status(status)
        )
        return b"".join(parts)

    def _events(self, span: LeanServerSpan, parts: list[bytes]) -> bool:
        """Append the span's events; False for a raised exception whose text is not UTF-8
        (the generic path drops it, warning)."""
        events = span.recorded_events
        if events:
            self._fields.events(events, parts)
        raised = span.raised
        if raised is not None:
            field = self._fields.exceptions.raised_field(raised)
            if field is None:
                return False
            parts += field
        return True

    def _block(self, span: LeanServerSpan, key: tuple[Any, ...]) -> _Block:
        """The name field, and the kind and shared attribute fields, of spans like ``span``."""
        parts = [_SERVER_KIND]
        self._fields.attributes(self._fields.span_pairs, span.shared_attributes(), parts)
        block = _Block(self._fields.name(span.default_name()), b"".join(parts))
        if len(self._blocks) >= _SERVER_BLOCKS:
            self._blocks.clear()
        self._blocks[key] = block
        return block

    def _request(self, request: Request, parts: list[bytes]) -> None:
        """``url.path``, ``client.address``, ``user_agent.original``, ``http.request.body.size``
        as ``add_own_request_attributes`` makes them: the path encoded, the other three one
        block remembered by their raw values."""
        path = request.path
        parts.append(short_string(_PATH_HEADS, path) or self._fields.attribute("url.path", path))
        client, headers = request.client, header_map(request)
        address = client[0] if client else None  # ASGI's (host, port)
        agent, length = headers.get(b"user-agent"), headers.get(b"content-length")
        key = (address, agent) if length is None else (address, agent, length)
        try:
            field = self._peers.get(key)
        except TypeError:  # a client address that cannot be a key
            field = None
        parts.append(field if field is not None else self._peer_fields(key, address, agent, length))

    def _peer_fields(self, key: tuple[Any, ...], address: Any, agent: Any, length: Any) -> bytes:
        """The fields of client address, user agent and body size, remembered by their raw
        values (``key``) when those are short str or bytes."""
        attribute = self._fields.attribute
        parts = []
        if address is not None:
            field = short_string(_CLIENT_HEADS, address)
            parts.append(field or attribute("client.address", address))
        if agent is not None:
            parts.append(attribute("user_agent.original", user_agent(agent)))
        if length is not None:
            size = body_size(length)
            if size is not None:
                parts.append(attribute("http.request.body.size", size))
        field = b"".join(parts)
        if (
            all(type(raw) in (str, bytes, type(None)) for raw in key)
            and len(field) <= CACHED_PAIR_BYTES
        ):
            if len(self._peers) >= _PEERS:
                self._peers.clear()
            self._peers[key] = field
        return field

    def _status(self, status: Any) -> bytes:
        """A ``Span.status`` field, remembered by the identity of the ``Status`` object."""
        field = self._fields.status(status)
        if len(self._statuses) >= _STATUSES:
            self._statuses.clear()
        self._statuses[id(status)] = _KnownStatus(status, field)
        return field
