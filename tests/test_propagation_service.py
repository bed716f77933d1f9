"""The W3C trace-context test harness's protocol, end to end through agentwatch.

A service built the way the harness expects (POST a JSON list of ``{url, arguments}``; the
service POSTs ``arguments`` to each ``url``) runs behind ``agentwatch.init()``: the
middleware extracts, the handler's httpx calls inject. The callbacks land on a real
recording server on 127.0.0.1 and are judged as the harness judges them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from tests._apps import init_for_test
from tests._http_recorder import Server, recording_server

from agentwatch.propagation._w3c import parse_tracestate

TID = "12345678901234567890123456789012"
TP = f"00-{TID}-1234567890123456-01"
FORMAT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-0[0-3]")
Headers = list[tuple[str, str]]


def _service() -> FastAPI:
    app = FastAPI()

    @app.post("/test")
    async def test(request: Request) -> dict[str, int]:
        calls = await request.json()
        async with httpx.AsyncClient() as client:
            for call in calls:
                await client.post(call["url"], json=call["arguments"])
        return {"calls": len(calls)}

    return app


@pytest.fixture
def server() -> Iterator[Server]:
    with recording_server() as srv:
        yield srv


@pytest.fixture
def service() -> Iterator[FastAPI]:
    app = _service()
    handle, _ = init_for_test(app, ratio=1.0)
    try:
        yield app
    finally:
        handle.shutdown()


async def _callbacks(app: FastAPI, srv: Server, headers: Headers, count: int = 1) -> list[Any]:
    """Send the harness request; the callbacks' (trace-id, parent-id, tracestate)."""
    before = len(srv.received)
    calls = [{"url": f"{srv.url}/{i}", "arguments": []} for i in range(count)]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.post("/test", json=calls, headers=httpx.Headers(headers))
    assert response.status_code == 200
    results = []
    for _, _, received in srv.received[before:]:
        parents = [value for key, value in received if key.lower() == "traceparent"]
        assert len(parents) == 1, f"expect one traceparent header, got {parents!r}"
        match = FORMAT.fullmatch(parents[0])
        assert match is not None, parents[0]
        states = [value for key, value in received if key.lower() == "tracestate"]
        results.append((match.group(1), match.group(2), dict(parse_tracestate(states))))
    assert len(results) == count
    return results


# (case, headers sent to the service, trace id the callback must carry; None: a new one)
TRACEPARENT: list[tuple[str, Headers, str | None]] = [
    ("both missing", [], None),
    ("traceparent only", [("traceparent", TP)], TID),
    ("duplicated", [("traceparent", TP.replace("12-", "11-", 1)), ("traceparent", TP)], None),
    ("name trace-parent", [("trace-parent", TP)], None),
    ("name TrAcEpArEnT", [("TrAcEpArEnT", TP)], TID),
    ("00 with more", [("traceparent", TP + "-what-the-future-will-be-like")], None),
    ("cc with more", [("traceparent", "cc" + TP[2:] + "-what-the-future-will-be-like")], TID),
    ("cc dot", [("traceparent", "cc" + TP[2:] + ".what-the-future-will-be-like")], None),
    ("ff", [("traceparent", "ff" + TP[2:])], None),
    ("trace-id zero", [("traceparent", f"00-{'0' * 32}-1234567890123456-01")], None),
    ("parent-id zero", [("traceparent", f"00-{TID}-{'0' * 16}-01")], None),
    ("flags too long", [("traceparent", TP + "1")], None),
    ("OWS", [("traceparent", "\t " + TP + " \t")], TID),
]


@pytest.mark.parametrize(("case", "headers", "continued"), TRACEPARENT)
async def test_harness_traceparent(service, server, case, headers, continued) -> None:
    ((trace_id, parent_id, _),) = await _callbacks(service, server, headers)
    if continued is None:
        assert trace_id not in (TID, "12345678901234567890123456789011"), case
    else:
        assert trace_id == continued
        assert parent_id != "1234567890123456"


def _bars(first: int, last: int) -> str:
    return ",".join(f"bar{i:02d}={i:02d}" for i in range(first, last + 1))


# (case, tracestate headers, expected tracestate on the callback)
TRACESTATE: list[tuple[str, list[str], dict[str, str]]] = [
    ("inherited", ["foo=1,bar=2"], {"foo": "1", "bar": "2"}),
    (
        "combined",
        ["foo=1,bar=2", "rojo=1,congo=2", "baz=3"],
        {"foo": "1", "bar": "2", "rojo": "1", "congo": "2", "baz": "3"},
    ),
    ("empty", [""], {}),
    ("empty then value", ["", "foo=1"], {"foo": "1"}),
    ("duplicated keys", ["foo=1", "foo=2"], {"foo": "1"}),
    ("illegal key", ["foo.bar=1"], {}),
    ("key with two @", ["foo@@bar=1,bar=2"], {"foo@@bar": "1", "bar": "2"}),
    ("key starting with @", ["@foo=1,bar=2"], {}),
    (
        "32 members",
        [_bars(1, 10), _bars(11, 20), _bars(21, 30), _bars(31, 32)],
        {f"bar{i:02d}": f"{i:02d}" for i in range(1, 33)},
    ),
    ("33 members", [_bars(1, 10), _bars(11, 20), _bars(21, 30), _bars(31, 33)], {}),
    ("key 257", ["foo=1", "z" * 257 + "=1"], {}),
    ("system 15", ["foo=1", "t@" + "v" * 15 + "=1"], {"foo": "1", "t@" + "v" * 15: "1"}),
    (
        "over 512",
        ["a=" + "v" * 200, "b=" + "v" * 200, "c=" + "v" * 200],
        {"a": "v" * 200, "b": "v" * 200},
    ),
    ("value with =", ["foo=bar=baz"], {}),
]


@pytest.mark.parametrize(("case", "states", "expected"), TRACESTATE)
async def test_harness_tracestate(service, server, case, states, expected) -> None:
    headers = [("traceparent", f"00-{TID}-1234567890123456-00")]
    headers += [("tracestate", state) for state in states]
    ((trace_id, _, tracestate),) = await _callbacks(service, server, headers)
    assert trace_id == TID
    assert tracestate == expected
    assert list(tracestate) == list(expected)


async def test_harness_tracestate_without_traceparent_is_dropped(service, server) -> None:
    ((trace_id, _, tracestate),) = await _callbacks(service, server, [("tracestate", "foo=1")])
    assert trace_id != TID and tracestate == {}


@pytest.mark.parametrize(("headers", "same_trace"), [([("traceparent", TP)], True), ([], False)])
async def test_harness_multiple_callbacks(service, server, headers, same_trace) -> None:
    results = await _callbacks(service, server, headers, count=3)
    assert len({parent for _, parent, _ in results}) == 3
    assert len({trace for trace, _, _ in results}) == 1
    assert ({trace for trace, _, _ in results} == {TID}) is same_trace
