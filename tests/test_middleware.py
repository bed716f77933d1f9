"""The ASGI middleware: route templates, exclusions, server spans, in-progress, init()."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from tests._apps import build_app, init_for_test, sample

import agentwatch
from agentwatch._asgi.middleware import route_template
from agentwatch.testing import InMemorySpanExporter


async def _get(
    app, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, headers=headers)


def _nested_app() -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/api/workflows")

    @router.post("/{name}/trigger")
    async def trigger(name: str) -> dict[str, str]:
        return {"name": name}

    app.include_router(router)
    sub = FastAPI()

    @sub.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app.mount("/v1", sub)

    async def static(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse("file")

    app.mount("/static", Starlette(routes=[Route("/{path:path}", static)]))
    return app


@pytest.mark.parametrize(
    ("method", "path", "route", "status"),
    [
        ("POST", "/api/workflows/onboarding/trigger", "/api/workflows/{name}/trigger", "200"),
        ("POST", "/api/workflows/billing/trigger", "/api/workflows/{name}/trigger", "200"),
        ("GET", "/v1/items/42", "/v1/items/{item_id}", "200"),
        ("GET", "/static/css/site.css", "/static/{path:path}", "200"),
        ("GET", "/no/such/path/123", "unmatched", "404"),
        ("GET", "/api/workflows/x/trigger", "/api/workflows/{name}/trigger", "405"),
    ],
)
async def test_labels_carry_the_route_template_never_the_raw_path(
    method, path, route, status
) -> None:
    app = _nested_app()
    handle, exporter = init_for_test(app, ratio=1.0)
    response = await _get(app, path, method=method)
    assert str(response.status_code) == status
    assert (
        sample(
            handle.registry,
            "http_requests_total",
            {"method": method, "route": route, "status": status},
        )
        == 1
    )
    handle.force_flush()
    (span,) = exporter.get_finished_spans()
    assert span.kind is SpanKind.SERVER
    assert span.name == (method if route == "unmatched" else f"{method} {route}")
    assert span.attributes["http.response.status_code"] == int(status)
    assert span.attributes["url.path"] == path
    handle.shutdown()


async def test_metrics_and_health_paths_are_excluded_and_in_progress_returns_to_zero() -> None:
    app = build_app()
    handle, exporter = init_for_test(app, ratio=1.0)
    await _get(app, "/ok/1")
    await _get(app, "/metrics")
    await _get(app, "/health/live")
    body = (await _get(app, "/metrics")).text
    assert 'route="/metrics"' not in body and 'route="/health' not in body
    assert sample(handle.registry, "http_requests_in_progress", {"method": "GET"}) == 0
    assert (
        sample(
            handle.registry,
            "http_request_duration_seconds_count",
            {"method": "GET", "route": "/ok/{item_id}"},
        )
        == 1
    )
    assert sample(
        handle.registry, "http_response_size_bytes_sum", {"method": "GET", "route": "/ok/{item_id}"}
    ) == len(b'{"id":1}')
    handle.force_flush()
    assert [s.name for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER] == [
        "GET /ok/{item_id}"
    ]
    handle.shutdown()


async def test_unhandled_exception_is_a_500_with_error_status_and_recorded_exception() -> None:
    app = build_app()
    handle, exporter = init_for_test(app, ratio=0.0)
    response = await _get(app, "/fail/9")
    assert response.status_code == 500
    handle.force_flush()
    server = next(s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert server.status.status_code is StatusCode.ERROR
    assert server.attributes["error.type"] == "RuntimeError"
    assert any(e.name == "exception" for e in server.events)
    assert (
        sample(
            handle.registry,
            "http_request_errors_total",
            {"method": "GET", "route": "/fail/{item_id}", "error_type": "RuntimeError"},
        )
        == 1
    )
    assert (
        sample(
            handle.registry,
            "http_requests_total",
            {"method": "GET", "route": "/fail/{item_id}", "status": "500"},
        )
        == 1
    )
    handle.shutdown()


async def test_inbound_traceparent_is_continued() -> None:
    app = build_app()
    handle, exporter = init_for_test(app, ratio=1.0)
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response = await _get(app, "/ok/1", {"traceparent": parent, "tracestate": "vendor=opaque"})
    handle.force_flush()
    server = next(s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert format(server.context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert (
        server.parent is not None
        and server.parent.is_remote
        and format(server.parent.span_id, "016x") == "00f067aa0ba902b7"
    )
    assert server.context.trace_state.get("vendor") == "opaque"
    assert (
        response.headers["traceresponse"] == f"00-{parent[3:35]}-{server.context.span_id:016x}-01"
    )
    handle.shutdown()


async def test_init_twice_registers_nothing_twice_and_wraps_once() -> None:
    app = build_app()
    handle, _ = init_for_test(app)
    again = agentwatch.init(app, service_name="other")
    assert again is handle
    await _get(app, "/ok/1")
    assert (
        sample(
            handle.registry,
            "http_requests_total",
            {"method": "GET", "route": "/ok/{item_id}", "status": "200"},
        )
        == 1
    )
    handle.shutdown()
    fresh, _ = init_for_test(app)  # after shutdown a new init starts afresh and re-wraps
    await _get(app, "/ok/1")
    assert (
        sample(
            fresh.registry,
            "http_requests_total",
            {"method": "GET", "route": "/ok/{item_id}", "status": "200"},
        )
        == 1
    )
    fresh.shutdown()


def test_a_non_starlette_app_is_refused_with_the_way_out() -> None:
    async def raw_app(scope, receive, send):  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(agentwatch.ConfigurationError, match="wrap"):
        agentwatch.init(
            raw_app, registry=CollectorRegistry(), tracer_provider=TracerProvider(), environ={}
        )


def test_existing_global_provider_is_reused_or_refused_as_configured() -> None:
    """Run in a subprocess: the global TracerProvider can be set once per process."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from prometheus_client import CollectorRegistry
        import agentwatch
        from agentwatch.testing import InMemorySpanExporter
        mine = TracerProvider()
        trace.set_tracer_provider(mine)
        try:
            agentwatch.init(registry=CollectorRegistry(), environ={"AGENTWATCH_EXISTING_TRACER_PROVIDER": "refuse"}, exporter=InMemorySpanExporter())
        except agentwatch.ConfigurationError as exc:
            print("refused:", exc)
        exporter = InMemorySpanExporter()
        aw = agentwatch.init(registry=CollectorRegistry(), environ={}, exporter=exporter, success_sample_ratio=1.0)
        assert aw.tracer_provider is mine and trace.get_tracer_provider() is mine
        with trace.get_tracer("app").start_as_current_span("app-span"):
            pass
        aw.force_flush()
        print("reused:", [s.name for s in exporter.get_finished_spans()])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "refused: existing_tracer_provider='refuse'" in out
    assert "reused: ['app-span']" in out


def test_route_template_of_an_unrouted_scope() -> None:
    assert route_template({"path": "/x"}, "") == "unmatched"
    assert trace.get_current_span() is not None
    assert InMemorySpanExporter().traces() == {}


def _sdk_and_lean_spans(path: str, headers: dict[str, str]) -> list[dict[str, object]]:
    """The server span of one request, once lean (the default) and once the SDK's (a second
    processor on the provider makes the middleware start ordinary SDK spans)."""
    import asyncio

    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    seen = []
    for extra in (False, True):
        app = build_app()
        handle, exporter = init_for_test(app, ratio=1.0)
        other = InMemorySpanExporter()
        if extra:
            handle.tracer_provider.add_span_processor(SimpleSpanProcessor(other))  # type: ignore[attr-defined]
        asyncio.run(_get(app, path, headers=headers))
        handle.force_flush()
        server = next(s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER)
        seen.append(
            {
                "name": server.name,
                "attributes": dict(server.attributes or {}),
                "status": (server.status.status_code, server.status.description),
                "events": [e.name for e in server.events],
                "parent": server.parent.span_id if server.parent else None,
            }
        )
        handle.shutdown()
    return seen


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/ok/3", {"user-agent": "probe/1.0"}),
        ("/fail/4", {}),
        ("/nowhere", {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}),
    ],
)
def test_a_lean_server_span_reads_like_the_sdk_span_it_stands_for(
    path: str, headers: dict[str, str]
) -> None:
    lean, sdk = _sdk_and_lean_spans(path, headers)
    assert lean == sdk


async def test_headers_given_as_any_iterable_are_read_once_each() -> None:
    seen: list[list[tuple[bytes, bytes]]] = []

    async def echo(request):  # type: ignore[no-untyped-def]
        seen.append(list(request.scope["headers"]))
        return PlainTextResponse("ok")

    handle, exporter = init_for_test(None, ratio=1.0)
    wrapped = handle.wrap(Starlette(routes=[Route("/ok/{item_id}", echo, methods=["POST"])]))
    traceparent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/ok/1",
        "raw_path": b"/ok/1",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("t", 80),
        "headers": iter([(b"traceparent", traceparent), (b"content-length", b"2")]),
    }
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await wrapped(scope, receive, send)
    handle.force_flush()
    spans = exporter.get_finished_spans()
    assert [format(s.context.trace_id, "032x") for s in spans] == [
        "0af7651916cd43dd8448eb211c80319c"
    ]
    assert seen == [[(b"traceparent", traceparent), (b"content-length", b"2")]]  # the app too
    labels = {"method": "POST", "route": "/ok/{item_id}"}
    assert sample(handle.registry, "http_request_size_bytes_sum", labels) == 2
    handle.shutdown()


async def test_a_failing_request_leaves_no_reference_cycle_behind() -> None:
    import gc

    app = build_app()
    handle, _ = init_for_test(app, ratio=0.0)
    scope = {"type": "http", "method": "GET", "path": "/fail/1", "headers": [], "query_string": b""}

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        return None

    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            with pytest.raises(RuntimeError):
                await app(dict(scope), receive, send)
        unreachable = gc.collect()
    finally:
        gc.enable()
    handle.shutdown()
    assert unreachable < 20  # a cycle per request would leave hundreds (frames, scopes)


async def test_a_provider_outliving_its_handle_is_left_as_found() -> None:
    from agentwatch._asgi.serverspan import ServerSpan

    provider = TracerProvider(sampler=agentwatch.ErrorPrioritySampler(1.0))
    kinds: list[type] = []
    for _ in range(2):
        app = FastAPI()

        @app.get("/which")
        async def which() -> dict[str, str]:
            kinds.append(type(trace.get_current_span()))
            return {}

        handle = agentwatch.init(
            app,
            registry=CollectorRegistry(),
            tracer_provider=provider,
            exporter=InMemorySpanExporter(),
            environ={},
        )
        await _get(app, "/which")
        handle.shutdown()
        assert provider._active_span_processor._span_processors == ()  # type: ignore[attr-defined]
    assert kinds == [ServerSpan, ServerSpan]  # the second handle's spans are lean again
