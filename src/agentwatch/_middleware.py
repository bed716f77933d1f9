"""Pure ASGI middleware: one server span and the HTTP pack per request.

It sits outermost (outside Starlette's error middleware), so the 500 a crash turns into is
counted and the application's exception handlers run inside the request's span. Paths
owned by agentwatch (``/metrics``, ``/health/...``) are answered here, before routing.
Labels carry the **route template** (``/api/workflows/{name}/trigger``); a request no
route matched is labelled ``unmatched``, never with its raw path.

Budget: a handful of dict lookups, one span, five metric updates. No I/O, no lock held
across an ``await``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from contextvars import Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from starlette.routing import Mount

from ._metrics import Metrics
from ._serverspan import record_exception
from ._state import report_internal_error
from ._window import RequestWindow

__all__ = ["UNMATCHED", "AgentwatchMiddleware", "route_template"]

UNMATCHED = "unmatched"
ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]
_KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


def route_template(scope: MutableMapping[str, Any], root_path_before: str) -> str:
    """The matched route's template, with any mount prefix; ``unmatched`` if none."""
    route = scope.get("route")
    path: str | None = getattr(route, "path", None)
    if path is None:
        return UNMATCHED
    prefix = str(scope.get("root_path", ""))[len(root_path_before) :]
    if isinstance(route, Mount):
        outer = prefix[: len(prefix) - len(path)] if prefix.endswith(path) else prefix
        return outer + route.path_format
    return prefix + path


class _Exchange:
    __slots__ = ("response_size", "status")

    def __init__(self) -> None:
        self.status = 0
        self.response_size = 0


class AgentwatchMiddleware:
    """Wraps an ASGI app; built by ``init()`` — users call ``handle.wrap(app)`` for raw ASGI."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        start_span: Callable[[str, otel_context.Context | None, dict[str, Any]], trace.Span],
        endpoints: MutableMapping[str, ASGIApp],
        exclude_paths: Sequence[str],
        window: RequestWindow,
        extract: Callable[[Any], otel_context.Context | None],
        on_exception: Callable[[BaseException], None] | None = None,
        on_lifespan: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self._start_span = start_span
        self._endpoints = endpoints
        self._exclude = tuple(exclude_paths)
        self._window = window
        self._extract = extract
        self._on_exception = on_exception
        self._on_lifespan = on_lifespan
        self._requests = metrics["http_requests_total"]
        self._duration = metrics["http_request_duration_seconds"]
        self._in_progress = metrics["http_requests_in_progress"]
        self._request_size = metrics["http_request_size_bytes"]
        self._response_size = metrics["http_response_size_bytes"]
        self._errors = metrics["http_request_errors_total"]

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            endpoint = self._endpoint_for(path)
            if endpoint is not None:
                await endpoint(scope, receive, send)
            elif path.startswith(self._exclude):
                await self.app(scope, receive, send)
            else:
                await self._traced(scope, receive, send)
        elif kind == "lifespan" and self._on_lifespan is not None:
            await self.app(scope, self._lifespan_receive(receive), send)
        else:
            await self.app(scope, receive, send)

    def _endpoint_for(self, path: str) -> ASGIApp | None:
        for prefix, endpoint in self._endpoints.items():
            if path == prefix or path.startswith(prefix + "/"):
                return endpoint
        return None

    def _lifespan_receive(self, receive: Any) -> Callable[[], Awaitable[Any]]:
        hook = self._on_lifespan
        assert hook is not None

        async def wrapped() -> Any:
            message = await receive()
            await hook(message.get("type", ""))
            return message

        return wrapped

    async def _traced(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        start = time.perf_counter()
        try:
            method, span, token, in_progress = self._begin(scope)
        except Exception as exc:  # a request we cannot instrument is still served
            report_internal_error("middleware", exc)
            await self.app(scope, receive, send)
            return
        root_path = scope.get("root_path", "")
        exchange = _Exchange()

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                _add_traceresponse(message, span, exchange.status)
            elif message["type"] == "http.response.body":
                exchange.response_size += len(message.get("body", b""))
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException as exc:
            error = exc
            raise
        finally:
            try:
                self._finish(
                    scope, root_path, method, span, exchange, error, time.perf_counter() - start
                )
            except Exception as exc:  # never let our bookkeeping break the response
                report_internal_error("middleware", exc)
            finally:
                in_progress.dec()
                otel_context.detach(token)

    def _begin(
        self, scope: MutableMapping[str, Any]
    ) -> tuple[str, trace.Span, Token[otel_context.Context], Any]:
        method = scope["method"]
        headers = scope.get("headers", ())
        parent = self._extract(headers)
        span = self._start_span(method, parent, _request_attributes(scope, method, headers))
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        in_progress = self._in_progress.labels(method)
        in_progress.inc()
        return method, span, token, in_progress

    def _finish(
        self,
        scope: MutableMapping[str, Any],
        root_path: str,
        method: str,
        span: trace.Span,
        exchange: _Exchange,
        error: BaseException | None,
        duration: float,
    ) -> None:
        route = route_template(scope, root_path)
        status = exchange.status
        error_type = ""
        if error is not None and isinstance(error, asyncio.CancelledError):
            status = status or 499  # the client went away; not a server error
        elif error is not None:
            status = status if status >= 500 else 500
            error_type = type(error).__qualname__
            record_exception(span, error)
            _mark(error, span)
            if self._on_exception is not None:
                self._on_exception(error)
        elif status >= 500:
            error_type = str(status)
        label_method = method if method in _KNOWN_METHODS else "_OTHER"
        if route != UNMATCHED:
            span.update_name(f"{label_method} {route}")
            span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if error_type:
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR, error_type))
        span.end()
        self._record(label_method, route, status, error_type, exchange, duration, scope)

    def _record(
        self,
        method: str,
        route: str,
        status: int,
        error_type: str,
        exchange: _Exchange,
        duration: float,
        scope: MutableMapping[str, Any],
    ) -> None:
        self._requests.labels(method, route, str(status)).inc()
        self._duration.labels(method, route).observe(duration)
        self._response_size.labels(method, route).observe(exchange.response_size)
        length = scope.get("agentwatch.request_size")
        if length is not None:  # requests that declare a body
            self._request_size.labels(method, route).observe(length)
        if error_type:
            self._errors.labels(method, route, error_type).inc()
        self._window.record(duration, bool(error_type))


def _add_traceresponse(message: MutableMapping[str, Any], span: trace.Span, status: int) -> None:
    """W3C Trace Context Level 2: tell the caller our span, sampled when it will be kept."""
    context = span.get_span_context()
    if context.is_valid:
        flags = 1 if (context.trace_flags & 1 or status >= 500) else 0
        value = f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}".encode()
        message["headers"] = [*message.get("headers", ()), (b"traceresponse", value)]


def _mark(error: BaseException, span: trace.Span) -> None:
    """Remember the span on the exception, so logs written after the request still link it."""
    try:
        error.__agentwatch_span_context__ = span.get_span_context()  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # exceptions with __slots__
        pass


def _request_attributes(
    scope: MutableMapping[str, Any], method: str, headers: Any
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "http.request.method": method if method in _KNOWN_METHODS else "_OTHER",
        "url.scheme": scope.get("scheme", "http"),
        "url.path": scope["path"],
        "network.protocol.version": scope.get("http_version", "1.1"),
    }
    if method not in _KNOWN_METHODS:
        attributes["http.request.method_original"] = method
    server = scope.get("server")
    if server:
        attributes["server.address"] = server[0]
        if server[1] is not None:
            attributes["server.port"] = server[1]
    client = scope.get("client")
    if client:
        attributes["client.address"] = client[0]
    for name, value in headers:
        if name == b"user-agent":
            attributes["user_agent.original"] = value.decode("latin-1")
        elif name == b"content-length":
            size = value.decode("latin-1")
            if size.isdigit():
                scope["agentwatch.request_size"] = int(size)
                attributes["http.request.body.size"] = int(size)
    return attributes
