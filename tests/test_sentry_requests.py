"""Each request has its own Sentry scope, and its errors carry that request.

A Starlette app behind ``agentwatch.init(sentry_dsn=...)`` runs under a real uvicorn
server; concurrent requests (``asyncio.gather`` over httpx) each set tags, a user, a
context and breadcrumbs, then wait at a barrier until all of them are in flight, so their
scopes are alive together. The odd ones fail. The events reach a local Sentry receiver
(real envelopes on ``/api/1/envelope/``) and each must carry its own request's data and
nothing of the others', and the request itself with its secrets stripped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sentry_sdk
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests._apps import init_for_test, serve_in_thread
from tests._sentry_receiver import SentryReceiver, sentry_receiver

from agentwatch._redact import Redactor
from agentwatch._sentry.requests import RequestIsolation, request_data

CONCURRENT = 8
log = logging.getLogger("tests.sentry_requests")


class Barrier:
    """Holds every request until ``count`` are in flight (their scopes alive together)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.arrived = 0
        self.event: asyncio.Event | None = None

    async def wait(self) -> None:
        if self.event is None:
            self.event = asyncio.Event()  # on the server's loop
        self.arrived += 1
        if self.arrived >= self.count:
            self.event.set()
        await asyncio.wait_for(self.event.wait(), 10)


def _app(barrier: Barrier) -> Starlette:
    async def order(request: Request) -> JSONResponse:
        n = int(request.path_params["n"])
        sentry_sdk.set_tag("order", f"order-{n}")
        sentry_sdk.set_user({"id": f"user-{n}"})
        sentry_sdk.set_context("order", {"number": n})
        sentry_sdk.add_breadcrumb(category="orders", message=f"started order-{n}")
        await barrier.wait()
        log.info("working on order-%s", n)
        if n % 2:
            raise RuntimeError(f"order-{n} failed")
        return JSONResponse({"order": n})

    async def plain(request: Request) -> JSONResponse:
        raise RuntimeError("a request that set nothing")

    routes = [Route("/orders/{n:int}", order), Route("/plain", plain)]
    return Starlette(routes=routes)


@pytest.fixture
def service() -> Iterator[tuple[str, SentryReceiver, Any]]:
    log.setLevel(logging.INFO)
    app = _app(Barrier(CONCURRENT))
    with sentry_receiver() as receiver:
        handle, _ = init_for_test(app, ratio=1.0, sentry_dsn=receiver.dsn, sentry_repeat_seconds=0)
        try:
            with serve_in_thread(app) as url:
                yield url, receiver, handle
        finally:
            handle.shutdown()


def _tokens(event: dict[str, Any]) -> set[str]:
    """Every ``order-N`` / ``user-N`` the event mentions anywhere."""
    return set(re.findall(r"(?:order|user)-\d+", json.dumps(event)))


async def _get_all(url: str) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=20) as client:
        requests = [
            client.get(
                f"/orders/{n}?token=s3cr3t-{n}&page=2",
                headers={
                    "authorization": "Bearer abc.def.ghi-secret",
                    "cookie": "session=cookie-secret",
                    "x-api-key": "key-secret",
                    "x-request-id": f"req-{n}",
                },
            )
            for n in range(CONCURRENT)
        ]
        return await asyncio.gather(*requests)


async def test_concurrent_requests_never_share_scope_data(service: Any) -> None:
    url, receiver, handle = service
    responses = await _get_all(url)
    assert [r.status_code for r in responses] == [500 if n % 2 else 200 for n in range(CONCURRENT)]
    async with httpx.AsyncClient(base_url=url, timeout=20) as client:
        assert (await client.get("/plain")).status_code == 500
    handle.force_flush()
    events = receiver.wait_for(CONCURRENT // 2 + 1)
    assert set(receiver.paths) == {"/api/1/envelope/"}

    by_order = {}
    for event in events:
        message = event["exception"]["values"][0]["value"]
        if message == "a request that set nothing":
            plain = event
        else:
            by_order[int(re.fullmatch(r"order-(\d+) failed", message).group(1))] = event
    assert sorted(by_order) == [n for n in range(CONCURRENT) if n % 2]

    for n, event in by_order.items():
        assert event["tags"]["order"] == f"order-{n}"
        assert event["user"] == {"id": f"user-{n}"}
        assert event["contexts"]["order"] == {"number": n}
        crumbs = [c["message"] for c in event["breadcrumbs"]["values"]]
        assert crumbs == [f"started order-{n}", f"working on order-{n}"]
        assert _tokens(event) == {f"order-{n}", f"user-{n}"}  # nothing of any other request
        request = event["request"]
        assert request["method"] == "GET"
        assert request["url"] == f"{url}/orders/{n}"
        assert event["transaction"] == "/orders/{n:int}"
        assert "page=2" in request["query_string"]
        assert request["headers"]["x-request-id"] == f"req-{n}"
        for header in ("authorization", "cookie", "x-api-key"):
            assert request["headers"][header] == "[REDACTED]"
        text = json.dumps(event)
        for secret in ("s3cr3t", "abc.def", "cookie-secret", "key-secret"):
            assert secret not in text

    # a later request that set nothing carries nothing the others set
    assert _tokens(plain) == set()
    assert "user" not in plain and "order" not in plain.get("tags", {})
    assert plain["request"]["url"] == f"{url}/plain"


# (case, ASGI scope parts, expected request fields)
REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "user info in Host never reaches the URL",
        {"headers": [(b"host", b"bob:pw@api.example.com")], "path": "/x"},
        {"url": "http://api.example.com/x"},
    ),
    (
        "no Host: the server address",
        {"headers": [], "server": ("10.0.0.1", 8080), "path": "/x"},
        {"url": "http://10.0.0.1:8080/x"},
    ),
    (
        "mount prefix kept",
        {"headers": [(b"host", b"h")], "root_path": "/api", "path": "/items"},
        {"url": "http://h/api/items"},
    ),
    (
        "sensitive query values masked, others redacted",
        {"headers": [], "query_string": b"api_key=k1&password=p&q=mail+bob@example.com&sig=x"},
        {
            "query_string": "api_key=[REDACTED]&password=[REDACTED]&q=mail+[REDACTED:email]"
            "&sig=[REDACTED]"
        },
    ),
    (
        "client addresses and secrets filtered, repeated headers joined",
        {
            "headers": [
                (b"x-forwarded-for", b"1.2.3.4"),
                (b"x-auth-token", b"t"),
                (b"accept", b"a"),
                (b"accept", b"b"),
                (b"user-agent", b"curl token=abc"),
            ]
        },
        {
            "headers": {
                "x-forwarded-for": "[REDACTED]",
                "x-auth-token": "[REDACTED]",
                "accept": "a, b",
                "user-agent": "curl token=[REDACTED]",
            }
        },
    ),
]


@pytest.mark.parametrize(("case", "parts", "expected"), REQUESTS)
def test_request_data_strips_secrets(case: str, parts: dict[str, Any], expected: Any) -> None:
    scope = {"type": "http", "method": "POST", "scheme": "http", "path": "/", **parts}
    data = request_data(scope, Redactor())
    assert data["method"] == "POST"
    for key, value in expected.items():
        assert data[key] == value, case


@pytest.mark.parametrize("lazy", [True, False], ids=["lazy forks", "eager forks"])
def test_request_scopes_fork_on_first_use(lazy: bool) -> None:
    """The request's scopes start as the scopes before it, keep what it sets, and leave
    those scopes untouched; events in them get the request's route. Eager forks are the
    fallback for a sentry-sdk whose Scope has no __slots__."""
    isolation = RequestIsolation(Redactor(), lambda scope, root_path: "/orders/{n}")
    if not lazy:
        isolation._lazy = None
    parent = sentry_sdk.get_isolation_scope()
    parent.set_tag("region", "eu")
    try:
        before = isolation.enter({"type": "http", "headers": [], "path": "/orders/1"})
        sentry_sdk.set_tag("order", "order-1")
        sentry_sdk.get_current_scope().set_tag("step", "charge")
        inside = sentry_sdk.get_isolation_scope()
        inside_current = sentry_sdk.get_current_scope()
        isolation.exit(before)
        assert sentry_sdk.get_isolation_scope() is parent
        assert inside is not parent
        assert inside._tags == {"region": "eu", "order": "order-1"}
        assert "order" not in parent._tags
        assert "step" in inside_current._tags
        assert "step" not in sentry_sdk.get_current_scope()._tags
        event: dict[str, Any] = {}
        for processor in inside.fork()._event_processors:
            event = processor(event, {})
        assert event["transaction"] == "/orders/{n}"
        assert event["request"]["url"] == "http:///orders/1"
    finally:
        parent.remove_tag("region")
