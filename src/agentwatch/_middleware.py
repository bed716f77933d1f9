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
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from time import perf_counter
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Status, StatusCode, set_span_in_context
from starlette.routing import Mount

from ._metrics import Metrics
from ._propagation import CURRENT_SPAN_KEY
from ._serverspan import KNOWN_METHODS, Request, ServerSpan, record_exception, request_of
from ._state import report_internal_error
from ._window import RequestWindow

__all__ = ["UNMATCHED", "AgentwatchMiddleware", "route_template"]

UNMATCHED = "unmatched"
ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


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
    """One request's state between ``http.response.start`` and the end of the app."""

    __slots__ = ("request_size", "response_size", "span", "status")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self.status = 0
        self.response_size = 0
        self.request_size: int | None = None


class AgentwatchMiddleware:
    """Wraps an ASGI app; built by ``init()`` — users call ``handle.wrap(app)`` for raw ASGI."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        start_span: Callable[[str, otel_context.Context | None, Request], trace.Span],
        endpoints: MutableMapping[str, ASGIApp],
        exclude_paths: Sequence[str],
        window: RequestWindow,
        extract: Callable[[Any], tuple[otel_context.Context, int | None]],
        on_exception: Callable[[BaseException], None] | None = None,
        on_lifespan: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self._start_span = start_span
        self._endpoints = endpoints
        self._exclude = tuple(exclude_paths)
        self._endpoint_count = -1
        self._skip: tuple[str, ...] = ()
        self._window = window
        self._extract = extract
        self._on_exception = on_exception
        self._on_lifespan = on_lifespan
        self._series = HttpSeries(metrics)
        self._in_progress = metrics["http_requests_in_progress"]

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if not path.startswith(self._skipped()):
                await self._traced(scope, receive, send)
                return
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

    def _skipped(self) -> tuple[str, ...]:
        """Prefixes of the paths that may not be traced: our endpoints and the excluded."""
        if len(self._endpoints) != self._endpoint_count:  # an endpoint was mounted since
            self._endpoint_count = len(self._endpoints)
            self._skip = (*self._endpoints, *self._exclude)
        return self._skip

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
        start = perf_counter()
        try:
            method = scope["method"]
            parent, request_size = self._extract(scope.get("headers", ()))
            span = self._start_span(method, parent, request_of(scope))
            token = otel_context.attach(
                set_span_in_context(span, parent) if parent else Context({CURRENT_SPAN_KEY: span})
            )
            in_progress = self._in_progress.labels(method)
            in_progress.inc()
        except Exception as exc:  # a request we cannot instrument is still served
            report_internal_error("middleware", exc)
            await self.app(scope, receive, send)
            return
        root_path = scope.get("root_path", "")
        exchange = _Exchange(span)

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.body":
                exchange.response_size += len(message.get("body", b""))
            elif message["type"] == "http.response.start":
                exchange.status = message["status"]
                _add_traceresponse(message, span, exchange.status)
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException as exc:
            error = exc
            raise
        finally:
            try:
                exchange.request_size = request_size
                self._finish(scope, root_path, method, exchange, error, perf_counter() - start)
            except Exception as exc:  # never let our bookkeeping break the response
                report_internal_error("middleware", exc)
            finally:
                in_progress.dec()
                otel_context.detach(token)

    def _finish(
        self,
        scope: MutableMapping[str, Any],
        root_path: str,
        method: str,
        exchange: _Exchange,
        error: BaseException | None,
        duration: float,
    ) -> None:
        route = route_template(scope, root_path)
        status = exchange.status
        error_type = ""
        span = exchange.span
        if error is not None:
            status, error_type = self._failed(span, error, status)
        elif status >= 500:
            error_type = str(status)
        if type(span) is ServerSpan:
            span.respond(None if route == UNMATCHED else route, status, error_type)
        else:
            _end_sdk_span(span, method, route, status, error_type)
        label_method = method if method in KNOWN_METHODS else "_OTHER"
        self._series.record(label_method, route, status, error_type, duration, exchange)
        self._window.record(duration, bool(error_type))

    def _failed(self, span: trace.Span, error: BaseException, status: int) -> tuple[int, str]:
        """The status and error type of a request the app raised out of."""
        if isinstance(error, asyncio.CancelledError):
            return status or 499, ""  # the client went away; not a server error
        record_exception(span, error)
        _mark(error, span)
        if self._on_exception is not None:
            self._on_exception(error)
        return (status if status >= 500 else 500), type(error).__qualname__


class HttpSeries:
    """The HTTP pack's children per (method, route, status), looked up once per request."""

    _MAX_CACHED = 2048

    def __init__(self, metrics: Metrics) -> None:
        self._requests = metrics["http_requests_total"]
        self._duration = metrics["http_request_duration_seconds"]
        self._request_size = metrics["http_request_size_bytes"]
        self._response_size = metrics["http_response_size_bytes"]
        self._errors = metrics["http_request_errors_total"]
        self._cache: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def record(
        self,
        method: str,
        route: str,
        status: int,
        error_type: str,
        duration: float,
        exchange: _Exchange,
    ) -> None:
        key = (method, route, status)
        children = self._cache.get(key)
        if children is None:
            children = self._children(key)
        requests, durations, sizes = children
        requests.inc()
        durations.observe(duration)
        sizes.observe(exchange.response_size)
        if error_type:
            self._errors.labels(method, route, error_type).inc()
        if exchange.request_size is not None:  # requests that declare a body
            self._request_size.labels(method, route).observe(exchange.request_size)

    def _children(self, key: tuple[str, str, int]) -> tuple[Any, Any, Any]:
        method, route, status = key
        children = (
            self._requests.labels(method, route, str(status)),
            self._duration.labels(method, route),
            self._response_size.labels(method, route),
        )
        # a combination past a budget keeps counting its overflow on every request
        metrics = (self._requests, self._duration, self._response_size)
        overflowed = any(m.is_overflow(c) for m, c in zip(metrics, children, strict=True))
        if len(self._cache) < self._MAX_CACHED and not overflowed:
            self._cache[key] = children
        return children


def _end_sdk_span(span: trace.Span, method: str, route: str, status: int, error_type: str) -> None:
    if route != UNMATCHED:
        span.update_name(f"{method if method in KNOWN_METHODS else 'HTTP'} {route}")
        span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if error_type:
        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR, error_type))
    span.end()


def _add_traceresponse(message: MutableMapping[str, Any], span: trace.Span, status: int) -> None:
    """W3C Trace Context Level 2: tell the caller our span, sampled when it will be kept."""
    context = span.get_span_context()
    if context.is_valid:
        flags = b"01" if (context.trace_flags & 1 or status >= 500) else b"00"
        value = b"00-%032x-%016x-%s" % (context.trace_id, context.span_id, flags)
        message["headers"] = [*message.get("headers", ()), (b"traceresponse", value)]


def _mark(error: BaseException, span: trace.Span) -> None:
    """Remember the span on the exception, so logs written after the request still link it."""
    try:
        error.__agentwatch_span_context__ = span.get_span_context()  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # exceptions with __slots__
        pass
