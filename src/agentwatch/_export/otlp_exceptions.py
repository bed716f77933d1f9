"""``exception`` events of the OTLP encoder, in few steps.

An event with the four semantic-convention attributes (``exception.type``, ``.message``,
``.stacktrace``, ``.escaped``, str values, in that order) is written without looking its
attributes up: what only the stack decides — the type and escaped fields, the frames'
bytes, the bytes around the event's time and message by the sizes of message and tail — is
remembered per distinct stack, found by the identity of its frames text (the cached text of
a repeated stack, ``agentwatch._semconv.ExceptionAttributes.stack_frames``). The bytes are
those :class:`~agentwatch._export.otlp_fields.SpanFields` writes for any event; the tests
hold them to it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from opentelemetry.sdk.trace import Event

from .._semconv import ExceptionAttributes, Raised
from .otlp_wire import VALUES_PER_KEY, string_attribute, string_header, varint

__all__ = ["ExceptionEvents"]

_KEYS = ("exception.type", "exception.message", "exception.stacktrace", "exception.escaped")
_TYPE = b"\x0a\x0eexception.type"
_MESSAGE = b"\x0a\x11exception.message"
_STACKTRACE = b"\x0a\x14exception.stacktrace"
_ESCAPED = b"\x0a\x11exception.escaped"
_HEAD = b"\x12\x09exception\x09"  # Span.Event name, then the tag of its time
_HEAD_SIZE = len(_HEAD) + 8
_STACKS = 64  # encoded frames of distinct stack traces remembered (a few KB each)
# what precedes the value of exception.message by its length (while each length fits a byte)
_MESSAGE_HEADS = [string_header(b"\x1a", _MESSAGE, n) for n in range(105)]


class _Heads(NamedTuple):
    """What an exception event holds around its time and message."""

    lead: bytes  # the field's tag and length and the event's name (then the time)
    middle: bytes  # the type field and the message's head (then the message)
    stack: bytes  # the head of the stack trace (then the frames, the tail, the escaped field)


class _Stack(NamedTuple):
    """What the exception events of one stack (with one type and escaped value) share."""

    frames: str  # the frames text, kept alive so its id is not reused while remembered
    type: str
    escaped: str
    type_field: bytes
    data: bytes  # the frames' bytes
    escaped_field: bytes
    heads: dict[tuple[int, int], _Heads]  # by (message size, tail size)
    fixed_size: int  # of the event's name, time, type field and frames


class ExceptionEvents:
    """``Span.events`` fields of ``exception`` events, each in four pieces (the frames'
    bytes are not copied once more).

    Several threads may use one instance (its cache is a dict whose single operations the
    GIL makes atomic; a race at worst encodes a stack twice).
    """

    def __init__(self) -> None:
        self._stacks: dict[int, _Stack] = {}

    def field(self, event: Any) -> tuple[bytes, ...] | None:
        """The field of an ``exception`` event with the four attributes; None for any other
        event, or text that is not UTF-8 (the generic path drops it, with a warning)."""
        attributes = event.attributes
        if not attributes or tuple(attributes) != _KEYS:
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
        return self._pieces(kind, message, frames, tail, escaped, event.timestamp, dropped)

    def raised_field(self, raised: Raised) -> tuple[bytes, ...] | None:
        """The field of the exception a lean server span kept as its parts."""
        return self._pieces(
            raised.type, raised.message, raised.frames, raised.tail, "False", raised.time, 0
        )

    def _pieces(
        self,
        kind: str,
        message: str,
        frames: str,
        tail: str,
        escaped: str,
        timestamp: int | None,
        dropped: int,
    ) -> tuple[bytes, ...] | None:
        stack = self._stacks.get(id(frames))
        try:
            if (
                stack is None
                or stack.frames is not frames
                or stack.type != kind
                or stack.escaped != escaped
            ):
                stack = self._stack(kind, escaped, frames)
            text, end = message.encode(), tail.encode()
        except UnicodeEncodeError:
            return None
        time = (timestamp or 0).to_bytes(8, "little")
        if dropped:
            tail_field = stack.escaped_field + b"\x20" + varint(dropped)
            heads = _heads(stack, len(text), len(end), len(tail_field))
        else:
            tail_field = stack.escaped_field
            sizes = (len(text), len(end))
            heads = stack.heads.get(sizes) or _remember_heads(stack, sizes)
        head = b"".join((heads.lead, time, heads.middle, text, heads.stack))
        return (head, stack.data, end, tail_field)

    def _stack(self, kind: str, escaped: str, frames: str) -> _Stack:
        data = frames.encode()  # UnicodeEncodeError for a file name with lone surrogates
        type_field = string_attribute(b"\x1a", _TYPE, kind)
        stack = _Stack(
            frames,
            kind,
            escaped,
            type_field,
            data,
            string_attribute(b"\x1a", _ESCAPED, escaped),
            {},
            _HEAD_SIZE + len(type_field) + len(data),
        )
        if len(self._stacks) >= _STACKS:
            self._stacks.clear()
        self._stacks[id(frames)] = stack
        return stack


def _heads(stack: _Stack, message_size: int, tail_size: int, tail_field_size: int) -> _Heads:
    """The heads of an event of ``stack`` by the sizes of message, tail and escaped field."""
    if message_size < len(_MESSAGE_HEADS):
        message_head = _MESSAGE_HEADS[message_size]
    else:
        message_head = string_header(b"\x1a", _MESSAGE, message_size)
    stack_head = string_header(b"\x1a", _STACKTRACE, len(stack.data) + tail_size)
    size = stack.fixed_size + len(message_head) + message_size + len(stack_head) + tail_size
    lead = b"\x5a" + varint(size + tail_field_size) + _HEAD
    return _Heads(lead, stack.type_field + message_head, stack_head)


def _remember_heads(stack: _Stack, sizes: tuple[int, int]) -> _Heads:
    """:func:`_heads` of an event without dropped attributes, remembered in the stack by
    (message size, tail size): an error storm repeats a few sizes."""
    message_size, tail_size = sizes
    heads = _heads(stack, message_size, tail_size, len(stack.escaped_field))
    if len(stack.heads) < VALUES_PER_KEY:
        stack.heads[sizes] = heads
    return heads
