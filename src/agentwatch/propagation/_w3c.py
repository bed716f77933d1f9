"""W3C Trace Context Level 2 and W3C Baggage header values: parse and format.

Pure functions on strings, no OpenTelemetry context; :mod:`agentwatch.propagation._propagators` builds
the propagators on them. Decisions the specifications leave open, and how they are taken:

``traceparent``
    Lowercase hex only; optional whitespace (space, tab) around the value is ignored.
    Version ``ff`` is invalid. Version ``00`` is exactly 55 characters. A higher version is
    parsed by the ``00`` layout from its first 55 characters, and may carry more only
    after a ``-``. All-zero trace-id or parent-id is invalid. Of the flags only
    ``sampled`` (0x01) and Level 2 ``random-trace-id`` (0x02) are kept; every other bit is
    dropped, so it is never propagated.
``tracestate``
    Several header fields are joined with commas (RFC 9110 field order). Empty and
    whitespace-only members are ignored. Keys follow the current Level 2 grammar: a
    lowercase letter or a digit, then up to 255 of ``a-z 0-9 _ - * / @`` (so the Level 1
    ``simple-key`` and ``tenant-id@system-id`` keys, tenant up to 241 and system up to 14,
    are all valid, and so are the keys Level 2 added, ``1foo``, ``foo@``, ``foo@@bar``; a
    key may not start with ``@``). This is the grammar of the W3C test suite since 2026
    (``w3c/trace-context`` ``test/``).
    Values are 1 to 256 printable ASCII characters except ``,`` and ``=``, not ending in a
    space (trailing optional whitespace is dropped). An invalid member, or more than 32
    members, discards the whole ``tracestate`` (the traceparent is kept). A duplicate key
    is not an error (the sender broke the rule, the spec lets the receiver drop foreign
    duplicates): the first, left-most, member wins and the later ones are dropped.
    Size: the combined value propagated is at most 512 characters (the spec's minimum,
    commas included), on input and on output. A longer one is truncated by whole members
    as the spec says: members longer than 128 characters go first, right-most first, then
    members from the right, until it fits.
``baggage``
    Several header fields are joined. Keys are RFC 9110 tokens; values and property
    values are percent-decoded UTF-8 (``+`` is a plus sign, not a space). An invalid
    member (bad key, bad character, bad property, undecodable value) is dropped alone,
    the valid ones are kept. At most 180 members and 8192 bytes are kept, on input and on
    output; members that do not fit are dropped. Properties are kept
    (:class:`BaggageValue`). Duplicate keys: the last one wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple
from urllib.parse import quote, unquote

from opentelemetry.trace import TraceState

from .._compat import trace_state_of

__all__ = [
    "MAX_BAGGAGE_BYTES",
    "MAX_BAGGAGE_MEMBERS",
    "MAX_TRACESTATE_BYTES",
    "MAX_TRACESTATE_MEMBERS",
    "RANDOM",
    "SAMPLED",
    "BaggageValue",
    "TraceParent",
    "format_baggage",
    "format_traceparent",
    "format_tracestate",
    "parse_baggage",
    "parse_traceparent",
    "parse_tracestate",
]

SAMPLED = 0x01
RANDOM = 0x02
MAX_TRACESTATE_MEMBERS = 32
MAX_TRACESTATE_BYTES = 512
LONG_TRACESTATE_MEMBER = 128
MAX_BAGGAGE_MEMBERS = 180
MAX_BAGGAGE_BYTES = 8192
EMPTY_TRACE_STATE = TraceState()

_OWS = " \t"
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_TS_KEY = r"[a-z0-9][_0-9a-z\-*/@]{0,255}"
_TS_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_TS_MEMBER = re.compile(f"({_TS_KEY})=({_TS_VALUE})")
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_OCTETS = r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"
_TOKEN_ONLY = re.compile(_TOKEN)
_BAGGAGE_PAIR = re.compile(rf"({_TOKEN})[ \t]*=[ \t]*({_OCTETS})")
_BAGGAGE_PROPERTY = re.compile(rf"({_TOKEN})(?:[ \t]*=[ \t]*({_OCTETS}))?")

Property = tuple[str, str | None]


class TraceParent(NamedTuple):
    """A valid ``traceparent``: trace-id, parent-id and the flags kept (sampled, random)."""

    trace_id: int
    parent_id: int
    flags: int


def parse_traceparent(value: str) -> TraceParent | None:
    """The trace-id, parent-id and flags of a ``traceparent`` value, or None if invalid.

    >>> parse_traceparent("00-0000000000000000000000000000002a-0000000000000007-ff")
    TraceParent(trace_id=42, parent_id=7, flags=3)
    """
    value = value.strip(_OWS)
    size = len(value)
    if size < 55 or _TRACEPARENT.match(value) is None:
        return None
    version = value[:2]
    if version == "ff" or (size > 55 and (version == "00" or value[55] != "-")):
        return None
    trace_id = int(value[3:35], 16)
    parent_id = int(value[36:52], 16)
    if not trace_id or not parent_id:
        return None
    flags = int(value[53:55], 16) & (SAMPLED | RANDOM)
    return tuple.__new__(TraceParent, (trace_id, parent_id, flags))  # without its slow __new__


def format_traceparent(trace_id: int, span_id: int, flags: int) -> str:
    """A version ``00`` value; flags other than sampled and random are cleared."""
    return f"00-{trace_id:032x}-{span_id:016x}-{flags & (SAMPLED | RANDOM):02x}"


def parse_tracestate(values: Iterable[str]) -> TraceState:
    """The ``TraceState`` of one or more ``tracestate`` field values (empty if invalid).

    >>> parse_tracestate(["rojo=1, congo=2", "rojo=3"]).to_header()
    'rojo=1,congo=2'
    """
    entries: dict[str, str] = {}
    count = 0
    for header in values:
        for raw in header.split(","):
            member = raw.strip(_OWS)
            if not member:
                continue
            match = _TS_MEMBER.fullmatch(member)
            count += 1
            if match is None or count > MAX_TRACESTATE_MEMBERS:
                return EMPTY_TRACE_STATE
            entries.setdefault(match.group(1), match.group(2))
    if not entries:
        return EMPTY_TRACE_STATE
    if _size(entries) > MAX_TRACESTATE_BYTES:
        _truncate(entries)
        if not entries:
            return EMPTY_TRACE_STATE
    # validated above, by the Level 2 grammar (a superset of TraceState's own)
    return trace_state_of(entries)


def format_tracestate(entries: Mapping[str, str]) -> str:
    """A ``tracestate`` value of at most 512 characters, truncated by whole members.

    >>> value = format_tracestate({"a": "x" * 250, "b": "1", "c": "y" * 250, "d": "2"})
    >>> [member.partition("=")[0] for member in value.split(",")]  # 513: c goes
    ['a', 'b', 'd']
    """
    if _size(entries) <= MAX_TRACESTATE_BYTES:
        return ",".join(f"{key}={value}" for key, value in entries.items())
    kept = dict(entries)
    _truncate(kept)
    return ",".join(f"{key}={value}" for key, value in kept.items())


def _size(entries: Mapping[str, str]) -> int:
    return sum(len(key) + len(value) + 2 for key, value in entries.items()) - 1


def _truncate(entries: dict[str, str]) -> None:
    """Drop whole members, the spec's way, until the value fits in 512 characters."""
    size = _size(entries)
    while size > MAX_TRACESTATE_BYTES:
        keys = list(entries)
        long = [key for key in keys if len(key) + len(entries[key]) + 1 > LONG_TRACESTATE_MEMBER]
        victim = long[-1] if long else keys[-1]
        size -= len(victim) + len(entries.pop(victim)) + 2


class BaggageValue(str):
    """A baggage value that carries the member's properties.

    It is the decoded value itself (``baggage.get_baggage("k") == "v"``);
    ``properties`` is a tuple of ``(key, value-or-None)`` pairs, values decoded.

    >>> BaggageValue("alice", (("ttl", "30"), ("sensitive", None))).properties
    (('ttl', '30'), ('sensitive', None))
    """

    properties: tuple[Property, ...]

    def __new__(cls, value: str, properties: Sequence[Property] = ()) -> BaggageValue:
        self = super().__new__(cls, value)
        self.properties = tuple(properties)
        return self


def _decode(text: str) -> str | None:
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        return None


def _parse_properties(text: str) -> list[Property] | None:
    properties: list[Property] = []
    for part in text.split(";"):
        match = _BAGGAGE_PROPERTY.fullmatch(part.strip(_OWS))
        if match is None:
            return None
        raw = match.group(2)
        value = None if raw is None else _decode(raw)
        if raw is not None and value is None:
            return None
        properties.append((match.group(1), value))
    return properties


def _parse_member(member: str) -> tuple[str, str] | None:
    pair, semicolon, rest = member.partition(";")
    match = _BAGGAGE_PAIR.fullmatch(pair.rstrip(_OWS) if semicolon else pair)
    if match is None:
        return None
    key, value = match.groups()
    if "%" in value:
        value = _decode(value)
        if value is None:
            return None
    if not semicolon:
        return key, value
    properties = _parse_properties(rest)
    if properties is None:
        return None
    return key, BaggageValue(value, properties)


def parse_baggage(values: Iterable[str]) -> dict[str, str]:
    """Entries of one or more ``baggage`` field values; invalid members are dropped alone."""
    entries: dict[str, str] = {}
    size = count = 0
    for header in values:
        for raw in header.split(","):
            member = raw.strip(_OWS)
            if not member:
                continue
            parsed = _parse_member(member)
            cost = len(member) + (1 if count else 0)
            if parsed is None or size + cost > MAX_BAGGAGE_BYTES:
                continue
            key, value = parsed
            entries[key] = value
            size += cost
            count += 1
            if count == MAX_BAGGAGE_MEMBERS:
                return entries
    return entries


def _encode(value: str) -> str:
    return quote(value, safe="")


def _format_member(key: str, value: object) -> str:
    text = f"{key}={_encode(str(value))}"
    for name, prop in getattr(value, "properties", ()):
        if _TOKEN_ONLY.fullmatch(name) is not None:
            text += f";{name}" if prop is None else f";{name}={_encode(prop)}"
    return text


def format_baggage(entries: Mapping[str, object]) -> str:
    """A ``baggage`` value: members whose key is not a token, or that do not fit, are left out."""
    members: list[str] = []
    size = 0
    for key, value in entries.items():
        if not isinstance(key, str) or _TOKEN_ONLY.fullmatch(key) is None:
            continue
        member = _format_member(key, value)
        cost = len(member) + (1 if members else 0)
        if size + cost > MAX_BAGGAGE_BYTES:
            continue
        members.append(member)
        size += cost
        if len(members) == MAX_BAGGAGE_MEMBERS:
            break
    return ",".join(members)
