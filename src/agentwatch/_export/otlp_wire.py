"""Protobuf wire primitives of the OTLP encoder: varints, strings, ``AnyValue``, attribute
fields and the cache of repeated ``(key, value)`` attribute fields.

Private to ``otlp`` and ``otlp_lean``; everything is bytes, written without message objects.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.trace import SpanKind, StatusCode

__all__ = [
    "CACHED_PAIR_BYTES",
    "CACHED_VALUE_LENGTH",
    "CACHE_SIZE",
    "FLAGS",
    "FLAGS_AND_TIMES",
    "HAS_IS_REMOTE",
    "IDS",
    "IDS_AND_PARENT",
    "IS_REMOTE",
    "KINDS",
    "MASK64",
    "ONE_BYTE",
    "STATUS",
    "VALUES_PER_KEY",
    "PairCache",
    "any_value",
    "prefixed",
    "short_string",
    "span_head",
    "string",
    "string_attribute",
    "string_header",
    "text_field",
    "varint",
    "warn_dropped",
]

_log = logging.getLogger("agentwatch")

MASK64, _INT64_MIN, _INT64_MAX = (1 << 64) - 1, -(1 << 63), (1 << 63) - 1
HAS_IS_REMOTE = 0x100  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
IS_REMOTE = 0x200  # SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
ONE_BYTE = [bytes((n,)) for n in range(0x80)]
_CONTINUED = [bytes((n | 0x80,)) for n in range(0x80)]  # a varint byte with more to come
FLAGS = [n.to_bytes(4, "little") for n in range(0x400)]  # fixed32 span flags
_DOUBLE = struct.Struct("<d").pack
_TRUE, _FALSE = b"\x10\x01", b"\x10\x00"  # AnyValue.bool_value
KINDS = {id(kind): bytes((0x30, kind.value + 1)) for kind in SpanKind}  # Span.kind
STATUS = {id(code): bytes((0x7A, 2, 0x18, code.value)) for code in StatusCode}
STATUS[id(StatusCode.UNSET)] = b"\x7a\x00"
FLAGS_AND_TIMES = struct.Struct("<2sIBQBQ").pack  # flags, start and end time of a span
IDS = struct.Struct(">2sQQ2sQ").pack  # trace_id, span_id
IDS_AND_PARENT = struct.Struct(">2sQQ2sQ2sQ").pack  # trace_id, span_id, parent_span_id
CACHE_SIZE = 4096  # entries per cache before it starts over
VALUES_PER_KEY = 256  # distinct values of one attribute key remembered
CACHED_PAIR_BYTES = 512  # longer attributes (stack traces, prompts) are encoded every time
CACHED_VALUE_LENGTH = 256  # names and keys longer than this are encoded every time


def varint(value: int) -> bytes:
    """A non-negative int as a protobuf varint."""
    if value < 0x80:
        return ONE_BYTE[value]
    if value < 0x4000:
        return _CONTINUED[value & 0x7F] + ONE_BYTE[value >> 7]
    if value < 0x200000:
        return _CONTINUED[value & 0x7F] + _CONTINUED[(value >> 7) & 0x7F] + ONE_BYTE[value >> 14]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def prefixed(data: bytes) -> bytes:
    """``data`` preceded by its length (the payload of a length-delimited field)."""
    return varint(len(data)) + data


def string(text: str) -> bytes:
    data = text.encode()
    return b"".join((varint(len(data)), data))


def span_head(context: Any, parent: Any, start: int, end: int) -> bytes:
    """Trace and span ids, parent span id, flags, start and end time of a ``Span``."""
    trace_id = context.trace_id
    flags = (context.trace_flags & 0xFF) | HAS_IS_REMOTE
    high, low = trace_id >> 64, trace_id & MASK64
    if parent is None:
        ids = IDS(b"\x0a\x10", high, low, b"\x12\x08", context.span_id)
    else:
        ids = IDS_AND_PARENT(
            b"\x0a\x10", high, low, b"\x12\x08", context.span_id, b"\x22\x08", parent.span_id
        )
        if parent.is_remote:
            flags |= IS_REMOTE
    return ids + FLAGS_AND_TIMES(b"\x85\x01", flags, 0x39, start, 0x41, end)


def string_attribute(tag: bytes, key_field: bytes, text: str) -> bytes:
    """An attribute field (``tag``) of a str value, ``key_field`` its encoded key.

    Raises ``UnicodeEncodeError`` for a str with lone surrogates (the caller drops it).
    """
    data = text.encode()
    return string_header(tag, key_field, len(data)) + data


def short_string(heads: list[bytes], text: Any) -> bytes | None:
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


def string_header(tag: bytes, key_field: bytes, size: int) -> bytes:
    """What precedes the ``size`` bytes of a str value in an attribute field (``tag``)."""
    if size + len(key_field) < 124:  # each length fits one byte
        lengths = ONE_BYTE[len(key_field) + size + 4], ONE_BYTE[size + 2], ONE_BYTE[size]
        return b"".join((tag, lengths[0], key_field, b"\x12", lengths[1], b"\x0a", lengths[2]))
    inner = varint(size)
    value_size = varint(1 + len(inner) + size)
    length = varint(len(key_field) + 2 + len(value_size) + len(inner) + size)
    return b"".join((tag, length, key_field, b"\x12", value_size, b"\x0a", inner))


def any_value(value: Any) -> bytes:
    """The ``AnyValue`` message of one attribute value.

    Raises ``TypeError`` or ``ValueError`` for what OTLP cannot carry (an int beyond int64,
    an object); the caller drops that attribute, as the stock encoder does.
    """
    kind = type(value)
    if kind is str:
        data = value.encode()
        return b"".join((b"\x0a", varint(len(data)), data))
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
    return b"\x18" + varint(value & MASK64)  # negative numbers as 10-byte varints


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
        return b"\x3a" + prefixed(value)
    if isinstance(value, Sequence):
        items = [b"\x0a" + prefixed(any_value(item)) for item in value]
        return b"\x2a" + prefixed(b"".join(items))  # ArrayValue
    if isinstance(value, Mapping):
        pairs = [string(str(k)) + b"\x12" + prefixed(any_value(v)) for k, v in value.items()]
        return b"\x32" + prefixed(b"".join([b"\x0a" + prefixed(b"\x0a" + kv) for kv in pairs]))
    raise TypeError(f"an attribute cannot be a {type(value).__name__}")


_last_warning = 0.0


def warn_dropped(key: object, exc: Exception) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning > 60.0:  # at most one line a minute
        _last_warning = now
        _log.warning("agentwatch: span attribute %r not exported: %s", key, exc)


def text_field(cache: dict[str, bytes], tag: bytes, text: str) -> bytes:
    """``tag`` and ``text`` as a string field, remembered in ``cache`` when short."""
    encoded = tag + string(text)
    if len(text) <= CACHED_VALUE_LENGTH:
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        cache[text] = encoded
    return encoded


class PairCache:
    """Encoded attribute fields (tag included) of repeated ``(key, value)`` pairs.

    Looked up with the very tuples ``dict.items()`` yields. ``strings`` holds only str
    values and ``ints`` only exact ints, so ``("k", 1)``, ``("k", True)`` and ``("k", 1.0)``
    never share an entry. A key whose values do not repeat (``url.path``, a message) stops
    being remembered after ``VALUES_PER_KEY`` values; full, the cache starts over.
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
        if count >= VALUES_PER_KEY:
            return
        if len(self.strings) + len(self.ints) >= CACHE_SIZE:
            self.strings.clear()
            self.ints.clear()
            self.per_key.clear()
        self.per_key[pair[0]] = count + 1
        (self.strings if kind is str else self.ints)[pair] = encoded  # type: ignore[index]
