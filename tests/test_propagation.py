"""W3C Trace Context Level 2 and Baggage: the cases of the specifications and of the W3C
test suite (w3c/trace-context test/test.py, w3c/baggage test/), through every extractor."""

from __future__ import annotations

import email.message
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import baggage, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanContext, TraceFlags, TraceState
from requests.structures import CaseInsensitiveDict
from starlette.datastructures import Headers

from agentwatch.propagation import (
    BaggagePropagator,
    BaggageValue,
    TraceContextPropagator,
    extract_asgi,
    extract_headers,
    format_traceresponse,
    inject_headers,
    install_propagators,
    parse_traceresponse,
)

TID = "12345678901234567890123456789012"
PID = "1234567890123456"
VALID = f"00-{TID}-{PID}-01"
Pairs = list[tuple[str, str]]


def _asgi(headers: Pairs) -> Context:
    return extract_asgi([(k.lower().encode(), v.encode("latin-1")) for k, v in headers])


def _bytes_pairs(headers: Pairs) -> Context:
    return extract_headers([(k.encode(), v.encode("latin-1")) for k, v in headers])


def _str_pairs(headers: Pairs) -> Context:
    return extract_headers(headers)


def _global(headers: Pairs) -> Context:
    carrier: dict[str, list[str]] = {}
    for key, value in headers:
        carrier.setdefault(key, []).append(value)
    return propagate.extract(carrier)  # the installed composite, with OTel's default getter


EXTRACTORS: dict[str, Callable[[Pairs], Context]] = {
    "asgi": _asgi,
    "bytes-pairs": _bytes_pairs,
    "str-pairs": _str_pairs,
    "global-textmap": _global,
}


@pytest.fixture(autouse=True)
def w3c_textmap() -> Iterator[None]:
    previous = install_propagators()
    try:
        yield
    finally:
        propagate.set_global_textmap(previous)


def _parent(context: Context) -> SpanContext:
    return trace.get_current_span(context).get_span_context()


# (case, headers, trace id continued or None for a new trace) — w3c test.py TraceContextTest.
TRACEPARENT_CASES: list[tuple[str, Pairs, str | None]] = [
    ("missing", [], None),
    ("valid", [("traceparent", VALID)], TID),
    ("not sampled", [("traceparent", f"00-{TID}-{PID}-00")], TID),
    ("duplicated", [("traceparent", f"00-{TID[:-1]}1-{PID}-01"), ("traceparent", VALID)], None),
    ("duplicated identical", [("traceparent", VALID), ("traceparent", VALID)], None),
    ("name trace-parent", [("trace-parent", VALID)], None),
    ("name trace.parent", [("trace.parent", VALID)], None),
    ("name TraceParent", [("TraceParent", VALID)], TID),
    ("name TrAcEpArEnT", [("TrAcEpArEnT", VALID)], TID),
    ("name TRACEPARENT", [("TRACEPARENT", VALID)], TID),
    ("00 trailing dot", [("traceparent", VALID + ".")], None),
    ("00 with future fields", [("traceparent", VALID + "-what-the-future-will-be-like")], None),
    ("cc", [("traceparent", f"cc-{TID}-{PID}-01")], TID),
    ("cc with future fields", [("traceparent", f"cc-{TID}-{PID}-01-what-the-future")], TID),
    ("cc with dot after flags", [("traceparent", f"cc-{TID}-{PID}-01.what-the-future")], None),
    ("cc shorter than 55", [("traceparent", f"cc-{TID}-{PID}-1")], None),
    ("ff", [("traceparent", f"ff-{TID}-{PID}-01")], None),
    ("version .0", [("traceparent", f".0-{TID}-{PID}-01")], None),
    ("version 0.", [("traceparent", f"0.-{TID}-{PID}-01")], None),
    ("version 000", [("traceparent", f"000-{TID}-{PID}-01")], None),
    ("version 0000", [("traceparent", f"0000-{TID}-{PID}-01")], None),
    ("version 0", [("traceparent", f"0-{TID}-{PID}-01")], None),
    ("version uppercase", [("traceparent", f"0A-{TID}-{PID}-01")], None),
    ("trace-id zero", [("traceparent", f"00-{'0' * 32}-{PID}-01")], None),
    ("trace-id .", [("traceparent", f"00-.{TID[1:]}-{PID}-01")], None),
    ("trace-id trailing .", [("traceparent", f"00-{TID[:-1]}.-{PID}-01")], None),
    ("trace-id 33", [("traceparent", f"00-{TID}3-{PID}-01")], None),
    ("trace-id 31", [("traceparent", f"00-{TID[:-1]}-{PID}-01")], None),
    (
        "trace-id uppercase",
        [("traceparent", f"00-4BF92F3577B34DA6A3CE929D0E0E4736-{PID}-01")],
        None,
    ),
    ("parent-id zero", [("traceparent", f"00-{TID}-{'0' * 16}-01")], None),
    ("parent-id .", [("traceparent", f"00-{TID}-.{PID[1:]}-01")], None),
    ("parent-id trailing .", [("traceparent", f"00-{TID}-{PID[:-1]}.-01")], None),
    ("parent-id 17", [("traceparent", f"00-{TID}-{PID}7-01")], None),
    ("parent-id 15", [("traceparent", f"00-{TID}-{PID[:-1]}-01")], None),
    ("parent-id uppercase", [("traceparent", f"00-{TID}-00F067AA0BA902B7-01")], None),
    ("flags .0", [("traceparent", f"00-{TID}-{PID}-.0")], None),
    ("flags 0.", [("traceparent", f"00-{TID}-{PID}-0.")], None),
    ("flags 001", [("traceparent", f"00-{TID}-{PID}-001")], None),
    ("flags 1", [("traceparent", f"00-{TID}-{PID}-1")], None),
    ("flags uppercase", [("traceparent", f"00-{TID}-{PID}-0A")], None),
    ("leading space", [("traceparent", " " + VALID)], TID),
    ("leading tab", [("traceparent", "\t" + VALID)], TID),
    ("trailing space", [("traceparent", VALID + " ")], TID),
    ("trailing tab", [("traceparent", VALID + "\t")], TID),
    ("both OWS", [("traceparent", "\t " + VALID + " \t")], TID),
    ("wrong separator", [("traceparent", f"00_{TID}_{PID}_01")], None),
    ("empty", [("traceparent", "")], None),
    ("comma-joined pair", [("traceparent", f"{VALID},{VALID}")], None),
]


@pytest.mark.parametrize("extract", EXTRACTORS.values(), ids=EXTRACTORS.keys())
@pytest.mark.parametrize(("case", "headers", "continued"), TRACEPARENT_CASES)
def test_traceparent(extract, case: str, headers: Pairs, continued: str | None) -> None:
    parent = _parent(extract(headers))
    if continued is None:
        assert not parent.is_valid, case
    else:
        assert parent.is_valid and parent.is_remote
        assert f"{parent.trace_id:032x}" == continued
        assert f"{parent.span_id:016x}" == PID


@pytest.mark.parametrize(
    ("flags", "kept"),
    [("00", 0), ("01", 1), ("02", 2), ("03", 3), ("09", 1), ("0a", 2), ("ff", 3), ("fc", 0)],
)
def test_only_sampled_and_random_flags_are_kept(flags: str, kept: int) -> None:
    parent = _parent(_asgi([("traceparent", f"00-{TID}-{PID}-{flags}")]))
    assert parent.trace_flags == kept
    assert parent.trace_flags.sampled is bool(kept & 1)
    assert inject_headers(context=_asgi([("traceparent", f"00-{TID}-{PID}-{flags}")])) == {
        "traceparent": f"00-{TID}-{PID}-{kept:02x}"
    }


def _members(n: int, start: int = 1) -> str:
    return ",".join(f"bar{i:02d}={i:02d}" for i in range(start, start + n))


ALL_KEY = "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
ALL_VALUE = "".join(map(chr, range(0x20, 0x2C))) + "".join(map(chr, range(0x2D, 0x3D)))
ALL_VALUE += "".join(map(chr, range(0x3E, 0x7F)))

# (case, tracestate header values, expected tracestate, None when discarded)
TRACESTATE_CASES: list[tuple[str, list[str], dict[str, str] | None]] = [
    ("single", ["foo=1"], {"foo": "1"}),
    ("two members", ["foo=1,bar=2"], {"foo": "1", "bar": "2"}),
    (
        "three headers combined in order",
        ["foo=1,bar=2", "rojo=1,congo=2", "baz=3"],
        {"foo": "1", "bar": "2", "rojo": "1", "congo": "2", "baz": "3"},
    ),
    ("empty header", [""], None),
    ("empty header after", ["foo=1", ""], {"foo": "1"}),
    ("empty header before", ["", "foo=1"], {"foo": "1"}),
    ("empty members", ["foo=1,,, ,\t,bar=2"], {"foo": "1", "bar": "2"}),
    # duplicates: inherited, the first (left-most) member wins
    ("duplicate key", ["foo=1,foo=1"], {"foo": "1"}),
    ("duplicate key other value", ["foo=1,foo=2"], {"foo": "1"}),
    ("duplicate key across headers", ["foo=1", "foo=1"], {"foo": "1"}),
    ("duplicate key across headers other value", ["foo=1", "foo=2"], {"foo": "1"}),
    (
        "duplicate key keeps the others",
        ["foo=1,bar=2,foo=3,baz=4"],
        {"foo": "1", "bar": "2", "baz": "4"},
    ),
    ("all key characters", [f"{ALL_KEY}={ALL_VALUE}"], {ALL_KEY: ALL_VALUE}),
    (
        "all key characters, multi-tenant",
        [f"{ALL_KEY}@a-z0-9_-*/={ALL_VALUE}"],
        {f"{ALL_KEY}@a-z0-9_-*/": ALL_VALUE},
    ),
    ("OWS around commas", ["foo=1 \t , \t bar=2, \t baz=3"], {"foo": "1", "bar": "2", "baz": "3"}),
    (
        "tabs around commas",
        ["foo=1\t \t,\t \tbar=2,\t \tbaz=3"],
        {"foo": "1", "bar": "2", "baz": "3"},
    ),
    ("leading space", [" foo=1"], {"foo": "1"}),
    ("leading tab", ["\tfoo=1"], {"foo": "1"}),
    ("trailing space", ["foo=1 "], {"foo": "1"}),
    ("trailing tab", ["foo=1\t"], {"foo": "1"}),
    ("both", ["\t foo=1 \t"], {"foo": "1"}),
    ("value keeps leading spaces", ["foo=  1"], {"foo": "  1"}),
    ("space before =", ["foo =1"], None),
    ("uppercase key", ["FOO=1"], None),
    ("dot in key", ["foo.bar=1"], None),
    ("key starts with digit", ["1foo=1"], {"1foo": "1"}),
    ("key starts with _", ["_foo=1"], None),
    ("tenant starts with digit", ["1foo@bar=1"], {"1foo@bar": "1"}),
    ("empty system", ["foo@=1,bar=2"], {"foo@": "1", "bar": "2"}),
    ("empty tenant", ["@foo=1,bar=2"], None),
    ("double @", ["foo@@bar=1,bar=2"], {"foo@@bar": "1", "bar": "2"}),
    ("two @", ["foo@bar@baz=1,bar=2"], {"foo@bar@baz": "1", "bar": "2"}),
    ("system starts with digit", ["foo@1bar=1"], {"foo@1bar": "1"}),
    ("uppercase system", ["foo@BAR=1"], None),
    ("dot in system", ["foo@b.r=1"], None),
    ("32 members", [_members(10), _members(10, 11), _members(10, 21), _members(2, 31)], "32"),
    ("33 members", [_members(10), _members(10, 11), _members(10, 21), _members(3, 31)], None),
    ("key of 256", ["foo=1", "z" * 256 + "=1"], {"foo": "1", "z" * 256: "1"}),
    ("key of 257", ["foo=1", "z" * 257 + "=1"], None),
    ("tenant 241, system 14", ["foo=1", "t" * 241 + "@" + "v" * 14 + "=1"], "2"),
    ("tenant 242", ["foo=1", "t" * 242 + "@v=1"], {"foo": "1", "t" * 242 + "@v": "1"}),
    ("system 15", ["foo=1", "t@" + "v" * 15 + "=1"], {"foo": "1", "t@" + "v" * 15: "1"}),
    ("key with @ of 257", ["foo=1", "t" * 128 + "@" + "v" * 128 + "=1"], None),
    ("33 members with duplicates", [_members(32), "bar01=x"], None),
    ("empty members do not count", [_members(32) + ",,, ,"], "32"),
    ("value with =", ["foo=bar=baz"], None),
    ("empty value", ["foo=,bar=3"], None),
    ("value of 256", ["foo=" + "v" * 256], {"foo": "v" * 256}),
    ("value of 257", ["foo=" + "v" * 257], None),
    ("value with tab", ["foo=a\tb"], None),
    ("value with non-ASCII", ["foo=caf\xe9"], None),
    ("member without =", ["foo"], None),
    ("one bad member discards all", ["foo=1,bar=2,BAD=3"], None),
    ("one bad header discards all", ["foo=1", "BAD=3"], None),
]


@pytest.mark.parametrize("extract", EXTRACTORS.values(), ids=EXTRACTORS.keys())
@pytest.mark.parametrize(("case", "values", "expected"), TRACESTATE_CASES)
def test_tracestate(extract, case: str, values: list[str], expected: Any) -> None:
    headers = [("traceparent", VALID)] + [("tracestate", value) for value in values]
    parent = _parent(extract(headers))
    assert f"{parent.trace_id:032x}" == TID  # a bad tracestate never costs the traceparent
    state = parent.trace_state
    if expected is None:
        assert len(state) == 0, case
    elif isinstance(expected, str):
        assert len(state) == int(expected)
    else:
        assert dict(state.items()) == expected
        assert list(state.keys()) == list(expected)  # order kept


def _sized(key: str, size: int) -> str:
    """A member ``key=vvv…`` of exactly ``size`` characters."""
    return f"{key}={'v' * (size - len(key) - 1)}"


# (case, members, keys kept in order) — the spec's truncation: whole members, those over 128
# characters first (right-most first), then from the right, until the value fits in 512.
TRUNCATION_CASES: list[tuple[str, list[str], list[str]]] = [
    ("512 exactly is kept", [_sized(k, 127) for k in "abcd"], ["a", "b", "c", "d"]),
    (
        "513 drops the right-most",
        [*(_sized(k, 128) for k in "abc"), _sized("d", 126)],
        ["a", "b", "c"],
    ),
    (
        "a long member goes first, wherever it is",
        [
            _sized("a", 100),
            _sized("big", 129),
            _sized("b", 100),
            _sized("c", 100),
            _sized("d", 100),
        ],
        ["a", "b", "c", "d"],
    ),
    (
        "the right-most long member goes first",
        [_sized("x", 200), _sized("a", 100), _sized("y", 200), _sized("b", 100)],
        ["x", "a", "b"],
    ),
    (
        "then the other long ones",
        [_sized("x", 255), _sized("y", 255), _sized("z", 255), _sized("a", 10)],
        ["x", "a"],
    ),
    (
        "short ones from the right",
        [_sized(f"k{i:02d}", 40) for i in range(14)],
        [f"k{i:02d}" for i in range(12)],
    ),
    ("one member over 512 leaves nothing", ["z" * 256 + "=" + "v" * 256], []),
]


@pytest.mark.parametrize(("case", "members", "kept"), TRUNCATION_CASES)
def test_tracestate_over_512_characters_is_truncated_by_whole_members(
    case: str, members: list[str], kept: list[str]
) -> None:
    half = len(members) // 2  # split over two header fields: the combined value counts
    context = _asgi(
        [("traceparent", VALID), ("tracestate", ",".join(members[:half]))]
        + ([("tracestate", " , ".join(members[half:]))] if members[half:] else [])
    )
    state = _parent(context).trace_state
    assert list(state.keys()) == kept, case
    assert len(state.to_header()) <= 512
    sent = inject_headers(context=context).get("tracestate", "")
    assert sent == state.to_header()


def test_a_tracestate_built_in_process_is_sent_truncated_to_512() -> None:
    state = TraceState([(f"k{i:02d}", "v" * 60) for i in range(10)])  # 10 x 64 + 9 = 649
    span = trace.NonRecordingSpan(
        SpanContext(int(TID, 16), int(PID, 16), False, TraceFlags(1), state)
    )
    sent = inject_headers(context=trace.set_span_in_context(span))["tracestate"]
    assert sent == ",".join(f"k{i:02d}={'v' * 60}" for i in range(7))  # 7 x 64 + 6 = 454


@pytest.mark.parametrize(
    "traceparent", [None, f"ff-{TID}-{PID}-01", f"00-{'0' * 32}-{PID}-01", "garbage"]
)
def test_tracestate_without_a_valid_traceparent_is_not_used(traceparent: str | None) -> None:
    headers = [("tracestate", "foo=1,bar=2")]
    if traceparent is not None:
        headers.insert(0, ("traceparent", traceparent))
    context = _asgi(headers)
    assert not _parent(context).is_valid
    assert inject_headers(context=context) == {}


def test_extracted_tracestate_behaves_as_an_opentelemetry_tracestate() -> None:
    state = _parent(_asgi([("traceparent", VALID), ("tracestate", "rojo=1,congo=2")])).trace_state
    assert isinstance(state, TraceState)
    assert state.get("congo") == "2"
    assert state.to_header() == "rojo=1,congo=2"
    assert state.add("agentwatch", "x").to_header() == "agentwatch=x,rojo=1,congo=2"
    assert state.update("congo", "3").to_header() == "congo=3,rojo=1"


# (case, baggage header values, expected entries)
BAGGAGE_CASES: list[tuple[str, list[str], dict[str, str]]] = [
    ("simple", ["SomeKey=SomeValue"], {"SomeKey": "SomeValue"}),
    (
        "spec example",
        ["userId=alice,serverNode=DF%2028,isProduction=false"],
        {"userId": "alice", "serverNode": "DF 28", "isProduction": "false"},
    ),
    (
        "split over headers",
        ["userId=alice", "serverNode=DF%2028,isProduction=false"],
        {"userId": "alice", "serverNode": "DF 28", "isProduction": "false"},
    ),
    (
        "OWS everywhere",
        ["userId =   alice", "serverNode = DF%2028, isProduction = false"],
        {"userId": "alice", "serverNode": "DF 28", "isProduction": "false"},
    ),
    ("tabs", ["SomeKey \t = \t SomeValue \t "], {"SomeKey": "SomeValue"}),
    ("value with =", ["SomeKey=SomeValue=equals"], {"SomeKey": "SomeValue=equals"}),
    (
        "percent-encoded",
        ["k=%09%20%22%27%3B%3Dasdf%21%40%23%24%25%5E%26%2A%28%29"],
        {"k": "\t \"';=asdf!@#$%^&*()"},
    ),
    ("UTF-8", ["k=caf%C3%A9%20%E2%98%95"], {"k": "café ☕"}),
    ("plus is a plus", ["k=a+b"], {"k": "a+b"}),
    ("empty value", ["k="], {"k": ""}),
    ("token key characters", ["!#$%&'*+-.^_`|~Az9=v"], {"!#$%&'*+-.^_`|~Az9": "v"}),
    ("invalid UTF-8 dropped alone", ["a=1,bad=%FF,b=2"], {"a": "1", "b": "2"}),
    ("space in key dropped alone", ["a=1,bad key=2,b=3"], {"a": "1", "b": "3"}),
    ("quote in value dropped alone", ['a=1,bad="x",b=3'], {"a": "1", "b": "3"}),
    ("backslash dropped alone", ["a=1,bad=x\\y,b=3"], {"a": "1", "b": "3"}),
    ("space in value dropped alone", ["a=1,bad=x y,b=3"], {"a": "1", "b": "3"}),
    ("no = dropped alone", ["a=1,bad,b=3"], {"a": "1", "b": "3"}),
    ("empty key dropped alone", ["a=1,=x,b=3"], {"a": "1", "b": "3"}),
    ("bad property drops its member", ['a=1;p="q",b=2'], {"b": "2"}),
    ("empty property drops its member", ["a=1;,b=2"], {"b": "2"}),
    ("non-ASCII dropped alone", ["a=1,b=caf\xe9,c=3"], {"a": "1", "c": "3"}),
    ("empty members ignored", ["a=1,, ,b=2"], {"a": "1", "b": "2"}),
    ("duplicate: last wins", ["a=1,a=2"], {"a": "2"}),
    ("keys are case-sensitive", ["a=1,A=2"], {"a": "1", "A": "2"}),
]


@pytest.mark.parametrize("extract", EXTRACTORS.values(), ids=EXTRACTORS.keys())
@pytest.mark.parametrize(("case", "values", "expected"), BAGGAGE_CASES)
def test_baggage(extract, case: str, values: list[str], expected: dict[str, str]) -> None:
    context = extract([("baggage", value) for value in values])
    assert dict(baggage.get_all(context)) == expected, case


PROPERTY_CASES: list[tuple[str, str, str, tuple[tuple[str, str | None], ...]]] = [
    ("key property", "SomeKey=SomeValue;SomeProp", "SomeValue", (("SomeProp", None),)),
    ("kv property", "k=v;ValueProp=PropVal", "v", (("ValueProp", "PropVal"),)),
    (
        "several",
        "k=v;SomeProp;SecondProp=PropValue",
        "v",
        (("SomeProp", None), ("SecondProp", "PropValue")),
    ),
    ("OWS", "k \t = \t v \t ; \t p1 \t ; \t p2 \t = \t x", "v", (("p1", None), ("p2", "x"))),
    ("encoded property value", "k=v;p=a%20b", "v", (("p", "a b"),)),
]


@pytest.mark.parametrize(("case", "header", "value", "properties"), PROPERTY_CASES)
def test_baggage_properties_are_kept(case: str, header: str, value: str, properties) -> None:
    key = header.partition("=")[0].strip()
    entry = baggage.get_baggage(key, _asgi([("baggage", header)]))
    assert isinstance(entry, BaggageValue)
    assert entry == value
    assert entry.properties == properties


def test_baggage_member_limit_keeps_the_first_180() -> None:
    header = ",".join(f"k{i}=v" for i in range(200))
    entries = baggage.get_all(_asgi([("baggage", header)]))
    assert list(entries) == [f"k{i}" for i in range(180)]


def test_baggage_byte_limit_keeps_what_fits_in_8192_bytes() -> None:
    exactly = "a=" + "0123456789" * 819  # 8192 bytes
    assert baggage.get_baggage("a", _asgi([("baggage", exactly)])) == "0123456789" * 819
    over = exactly + "x"
    assert dict(baggage.get_all(_asgi([("baggage", over + ",b=1")]))) == {"b": "1"}
    members = ",".join(f"{i:03d}=0123456789a" for i in range(512))  # 8191 bytes
    kept = baggage.get_all(_asgi([("baggage", members + ",z=12")]))
    assert len(kept) == 180  # the member limit binds first


def test_baggage_inject_encodes_and_keeps_properties() -> None:
    context = baggage.set_baggage("user", "alice smith+co@x.io")
    context = baggage.set_baggage(
        "node", BaggageValue("DF 28", (("ttl", "3 s"), ("flag", None))), context
    )
    context = baggage.set_baggage("bad key", "dropped", context)
    header = inject_headers(context=context)["baggage"]
    assert header == "user=alice%20smith%2Bco%40x.io,node=DF%2028;ttl=3%20s;flag"
    back = baggage.get_all(_asgi([("baggage", header)]))
    assert dict(back) == {"user": "alice smith+co@x.io", "node": "DF 28"}
    assert back["node"].properties == (("ttl", "3 s"), ("flag", None))


def test_baggage_inject_respects_the_limits() -> None:
    context = Context()
    for i in range(300):
        context = baggage.set_baggage(f"k{i}", "v", context)
    assert inject_headers(context=context)["baggage"].count(",") == 179
    big = baggage.set_baggage("big", "x" * 9000, baggage.set_baggage("small", "y"))
    assert inject_headers(context=big) == {"baggage": "small=y"}


def test_extracted_baggage_merges_over_the_given_context() -> None:
    base = baggage.set_baggage("tenant", "acme", baggage.set_baggage("user", "old"))
    context = extract_headers({"baggage": "user=new"}, base)
    assert dict(baggage.get_all(context)) == {"tenant": "acme", "user": "new"}


def _child_headers(context: Context, provider: TracerProvider, depth: int) -> dict[str, str]:
    """Headers sent from ``depth`` nested spans under the extracted (not attached) context."""
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("work", context=context):
        for _ in range(depth - 1):
            with tracer.start_as_current_span("inner"):
                pass
        if depth == 1:
            return inject_headers()
        with tracer.start_as_current_span("a"), tracer.start_as_current_span("b"):
            return inject_headers()


@pytest.mark.parametrize(
    ("incoming", "outgoing_flags"),
    [("00", "01"), ("01", "01"), ("02", "03"), ("03", "03"), ("ff", "03"), ("09", "01")],
)
@pytest.mark.parametrize("depth", [1, 3])
def test_a_continued_trace_keeps_the_callers_random_flag(
    incoming: str, outgoing_flags: str, depth: int
) -> None:
    provider = TracerProvider(sampler=ALWAYS_ON)  # records: the sampled bit is set
    context = _asgi([("traceparent", f"00-{TID}-{PID}-{incoming}")])
    sent = _child_headers(context, provider, depth)["traceparent"]
    version, trace_id, parent_id, flags = sent.split("-")
    assert (version, trace_id, flags) == ("00", TID, outgoing_flags)
    assert parent_id != PID


@pytest.mark.parametrize(("random_ids", "flags"), [(True, "03"), (False, "01")])
def test_a_trace_started_here_is_random_when_the_ids_are(random_ids: bool, flags: str) -> None:
    install_propagators(random_trace_ids=random_ids)
    provider = TracerProvider(sampler=ALWAYS_ON)
    carrier: dict[str, str] = {}
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root") as root, tracer.start_as_current_span("child"):
        propagate.inject(carrier)
    trace_id = f"{root.get_span_context().trace_id:032x}"
    assert carrier["traceparent"].startswith(f"00-{trace_id}-")
    assert carrier["traceparent"].endswith(f"-{flags}")


def test_pass_through_without_a_local_span_forwards_the_same_traceparent() -> None:
    incoming = [("traceparent", f"00-{TID}-{PID}-03"), ("tracestate", "rojo=1 , congo=2")]
    assert inject_headers(context=extract_headers(incoming)) == {
        "traceparent": f"00-{TID}-{PID}-03",
        "tracestate": "rojo=1,congo=2",
    }


def test_round_trip_through_a_child_span_keeps_tracestate_and_baggage() -> None:
    provider = TracerProvider(sampler=ALWAYS_ON)
    context = _asgi(
        [
            ("traceparent", f"00-{TID}-{PID}-01"),
            ("tracestate", "congo=t61rcWkgMzE"),
            ("tracestate", "rojo=00f067aa0ba902b7"),
            ("baggage", "userId=alice;ttl=30"),
        ]
    )
    token = otel_context.attach(context)  # baggage lives in the attached context
    try:
        with provider.get_tracer("t").start_as_current_span("work") as span:
            sent = inject_headers({"x-other": "kept"})
    finally:
        otel_context.detach(token)
    span_id = f"{span.get_span_context().span_id:016x}"
    assert sent == {
        "x-other": "kept",
        "traceparent": f"00-{TID}-{span_id}-01",
        "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
        "baggage": "userId=alice;ttl=30",
    }
    again = extract_headers(sent)
    assert _parent(again).span_id == span.get_span_context().span_id
    assert baggage.get_baggage("userId", again) == "alice"


CARRIERS: list[tuple[str, Callable[[Pairs], Any]]] = [
    ("dict", lambda pairs: dict(pairs)),
    ("dict of lists", lambda pairs: {k: [v] for k, v in pairs}),
    ("dict of bytes", lambda pairs: {k.encode(): v.encode() for k, v in pairs}),
    ("list of str pairs", lambda pairs: list(pairs)),
    ("list of bytes pairs (Kafka)", lambda pairs: [(k, v.encode()) for k, v in pairs]),
    ("starlette Headers", lambda pairs: Headers(raw=[(k.encode(), v.encode()) for k, v in pairs])),
    ("httpx Headers", lambda pairs: httpx.Headers(pairs)),
    ("requests CaseInsensitiveDict", lambda pairs: CaseInsensitiveDict(dict(pairs))),
    ("email Message", lambda pairs: _message(pairs)),
]


def _message(pairs: Pairs) -> email.message.Message:
    message = email.message.Message()
    for key, value in pairs:
        message[key] = value
    return message


@pytest.mark.parametrize(("kind", "build"), CARRIERS, ids=[kind for kind, _ in CARRIERS])
def test_extract_headers_reads_every_carrier_kind(kind: str, build) -> None:
    pairs = [("TraceParent", VALID), ("TraceState", "foo=1"), ("Baggage", "k=v%20w")]
    context = extract_headers(build(pairs))
    assert f"{_parent(context).trace_id:032x}" == TID
    assert _parent(context).trace_state.to_header() == "foo=1"
    assert baggage.get_baggage("k", context) == "v w"


@pytest.mark.parametrize(
    "carrier",
    [
        {"traceparent": [VALID, VALID]},
        {"traceparent": VALID, "TraceParent": VALID},
        [("traceparent", VALID), ("TRACEPARENT", VALID)],
        httpx.Headers([("traceparent", VALID), ("traceparent", VALID)]),
        Headers(raw=[(b"traceparent", VALID.encode()), (b"traceparent", VALID.encode())]),
    ],
    ids=["dict of list", "two cases in a dict", "pairs", "httpx", "starlette"],
)
def test_a_repeated_traceparent_is_seen_in_every_carrier(carrier: Any) -> None:
    assert not _parent(extract_headers(carrier)).is_valid
    assert not _parent(propagate.extract(carrier)).is_valid


@pytest.mark.parametrize("carrier", [None, {}, [], httpx.Headers()])
def test_empty_carriers_give_an_empty_context(carrier: Any) -> None:
    assert extract_headers(carrier) == Context()


def test_extract_asgi_without_trace_headers_builds_nothing() -> None:
    first = extract_asgi([(b"host", b"x"), (b"user-agent", b"y")])
    assert first == Context() and first is extract_asgi([])


def test_the_global_textmap_is_ours_and_names_its_fields() -> None:
    assert propagate.get_global_textmap().fields == {"traceparent", "tracestate", "baggage"}
    assert TraceContextPropagator().fields == {"traceparent", "tracestate"}
    assert BaggagePropagator().fields == {"baggage"}


def test_inject_without_a_valid_span_writes_nothing() -> None:
    assert inject_headers(context=Context()) == {}
    target: dict[str, str] = {"a": "b"}
    assert inject_headers(target, Context()) is target


def test_traceresponse_round_trip() -> None:
    provider = TracerProvider(sampler=ALWAYS_ON)
    with provider.get_tracer("t").start_as_current_span("server") as span:
        value = format_traceresponse(span.get_span_context())
    context = span.get_span_context()
    assert value == f"00-{context.trace_id:032x}-{context.span_id:016x}-03"
    parsed = parse_traceresponse(value.encode())
    assert parsed is not None and parsed.trace_id == context.trace_id
    assert parsed.span_id == context.span_id and parsed.trace_flags == TraceFlags(3)
    assert format_traceresponse(trace.INVALID_SPAN_CONTEXT) == ""
    assert parse_traceresponse(f"ff-{TID}-{PID}-01") is None
