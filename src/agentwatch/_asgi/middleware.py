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
from bisect import bisect_left
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from contextvars import Token
from threading import get_ident
from time import perf_counter
from typing import Any, NamedTuple, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanContext, Status, StatusCode, set_span_in_context
from starlette.routing import Mount

from .._metrics.registry import Metrics
from .._metrics.tally import OFF, Row, histogram_bounds
from .._metrics.window import RequestWindow
from .._semconv import KNOWN_METHODS, Request
from .._state import report_internal_error
from .._tracing.context import CURRENT_SPAN_KEY, attach, detach
from .._tracing.events import record_exception
from .serverspan import ServerSpan, request_of

__all__ = ["UNMATCHED", "AgentwatchMiddleware", "route_template"]

UNMATCHED = "unmatched"
ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


def route_template(scope: MutableMapping[str, Any], root_path_before: str) -> str:
    """The matched route's template, with any mount prefix; ``unmatched`` if none."""
    route = scope.get("route")
    path: str | None = getattr(route, "path", None)
    if path is None:
        return UNMATCHED
    root_path = scope.get("root_path", "")
    if root_path == root_path_before and not isinstance(route, Mount):
        return path  # the common case: a route of the app itself
    prefix = str(root_path)[len(root_path_before) :]
    if isinstance(route, Mount):
        outer = prefix[: len(prefix) - len(path)] if prefix.endswith(path) else prefix
        return outer + route.path_format
    return prefix + path


class RequestScope(Protocol):
    """Something entered around each traced request (the error reporter's per-request
    isolation): ``enter`` before the app runs, ``exit`` with what it returned after the
    request ended, unhandled error captured."""

    def enter(self, scope: MutableMapping[str, Any]) -> Any: ...

    def exit(self, token: Any) -> None: ...


class _Exchange:
    """One request's state from the middleware's start to its end."""

    __slots__ = (
        "label_method",
        "request_size",
        "response_size",
        "root_path",
        "span",
        "start",
        "status",
        "thread",
        "token",
    )

    def __init__(self, start: float, label_method: str, span: trace.Span, thread: int) -> None:
        self.start = start
        self.label_method = label_method
        self.span = span
        self.thread = thread
        self.status = 0
        self.response_size = 0
        self.request_size: int | None = None
        self.root_path = ""
        self.token: Token[Context]


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
        extract: Callable[[Any], tuple[otel_context.Context, dict[bytes, bytes]]],
        on_exception: Callable[[BaseException], None] | None = None,
        on_lifespan: Callable[[str], Awaitable[None]] | None = None,
        isolation: RequestScope | None = None,
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
        self._isolation = isolation
        self._series = HttpSeries(metrics)

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
        isolation = self._isolation  # the request's own Sentry scopes, when given
        entered = None
        if isolation is not None:
            try:
                entered = isolation.enter(scope)
            except Exception as exc:
                report_internal_error("middleware", exc)
                isolation = None
        try:
            exchange = self._begin(scope)
        except Exception as exc:  # a request we cannot instrument is still served
            report_internal_error("middleware", exc)
            try:
                await self.app(scope, receive, send)
            finally:
                self._leave(isolation, entered)
            return
        context = exchange.span.get_span_context()

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            kind = message["type"]
            if kind == "http.response.body":
                exchange.response_size += len(message.get("body", b""))
            elif kind == "http.response.start":
                exchange.status = message["status"]
                _add_traceresponse(message, context, exchange.status)
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_wrapper)
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._end(scope, exchange, error)
            error = None  # this frame is in the error's traceback: leave no reference cycle
            if isolation is not None:
                self._leave(isolation, entered)

    @staticmethod
    def _leave(isolation: RequestScope | None, entered: Any) -> None:
        """Leave the request's isolation (after its unhandled error was captured)."""
        if isolation is None:
            return
        try:
            isolation.exit(entered)
        except Exception as exc:
            report_internal_error("middleware", exc)

    def _begin(self, scope: MutableMapping[str, Any]) -> _Exchange:
        start = perf_counter()
        method = scope["method"]
        headers = scope.get("headers", ())
        if type(headers) is not list and type(headers) is not tuple:
            headers = scope["headers"] = list(headers)  # read here, then by the app
        parent, found = self._extract(headers)
        span = self._start_span(method, parent, request_of(scope, found))
        label_method = method if method in KNOWN_METHODS else "_OTHER"
        exchange = _Exchange(start, label_method, span, get_ident())
        length = found.get(b"content-length")
        if length is not None and length.isdigit():  # requests that declare a body
            exchange.request_size = int(length)
        exchange.root_path = scope.get("root_path", "")
        self._series.start(label_method, exchange.thread)
        exchange.token = attach(
            set_span_in_context(span, parent) if parent else Context({CURRENT_SPAN_KEY: span})
        )
        return exchange

    def _end(
        self, scope: MutableMapping[str, Any], exchange: _Exchange, error: BaseException | None
    ) -> None:
        try:
            self._finish(scope, exchange, error, perf_counter() - exchange.start)
        except Exception as exc:  # never let our bookkeeping break the response
            report_internal_error("middleware", exc)
        finally:
            self._series.stop(exchange.label_method, exchange.thread)
            try:
                detach(exchange.token)
            except Exception as exc:  # a token from another context: the app's own doing
                report_internal_error("middleware", exc)

    def _finish(
        self,
        scope: MutableMapping[str, Any],
        exchange: _Exchange,
        error: BaseException | None,
        duration: float,
    ) -> None:
        route = route_template(scope, exchange.root_path)
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
            _end_sdk_span(span, route, status, error_type)
        self._series.record(exchange, route, status, error_type, duration)
        self._window.record(duration, bool(error_type))

    def _failed(self, span: trace.Span, error: BaseException, status: int) -> tuple[int, str]:
        """The status and error type of a request the app raised out of."""
        if isinstance(error, asyncio.CancelledError):
            return status or 499, ""  # the client went away; not a server error
        if type(span) is ServerSpan:
            span.record_raised(error)
        else:
            record_exception(span, error)
        _mark(error, span)
        if self._on_exception is not None:
            self._on_exception(error)
        return (status if status >= 500 else 500), type(error).__qualname__


class HttpSeries:
    """The HTTP pack's series per (method, route, status), tallied on the request path.

    A combination seen before is one dict lookup and a few list-cell additions (see
    ``_metrics.tally``); a combination past a series budget, or a request on a thread that does not
    own the row, records into the prometheus_client children directly.
    """

    _MAX_ROWS = 2048

    def __init__(self, metrics: Metrics) -> None:
        self._tallies = metrics.tallies
        self._requests = metrics["http_requests_total"]
        self._duration = metrics["http_request_duration_seconds"]
        self._request_size = metrics["http_request_size_bytes"]
        self._response_size = metrics["http_response_size_bytes"]
        self._errors = metrics["http_request_errors_total"]
        self._in_progress = metrics["http_requests_in_progress"]
        self._rows: dict[tuple[str, str, int], _SeriesRow] = {}
        self._progress: dict[str, Row] = {}

    def start(self, method: str, thread: int) -> None:
        """One more request of ``method`` in progress (``thread``: the caller's ident)."""
        row = self._progress.get(method) or self._progress_row(method)
        if row.owner == thread:
            row.cells[0] += 1
        else:
            self._in_progress.labels(method).inc()

    def _progress_row(self, method: str) -> Row:
        child = self._in_progress.labels(method)
        if self._in_progress.is_overflow(child):
            return OFF
        row = self._progress[method] = self._tallies.row([("gauge", child)])
        return row

    def stop(self, method: str, thread: int) -> None:
        """The request :meth:`start` counted is over."""
        row = self._progress.get(method, OFF)
        if row.owner == thread:
            row.cells[1] += 1
        else:
            self._in_progress.labels(method).dec()

    def record(
        self, exchange: _Exchange, route: str, status: int, error_type: str, duration: float
    ) -> None:
        method = exchange.label_method
        series = self._rows.get((method, route, status)) or self._series(method, route, status)
        row = series.row
        size = exchange.response_size
        if row.owner == exchange.thread:
            cells, at = row.cells, series.size_at
            cells[0] += 1
            cells[1] += duration
            cells[2 + bisect_left(series.duration_bounds, duration)] += 1
            cells[at] += size
            cells[at + 1 + bisect_left(series.size_bounds, size)] += 1
        else:
            requests, durations, sizes = series.children  # prometheus_client children
            requests.inc()
            durations.observe(duration)
            sizes.observe(size)
        if error_type:
            self._errors.tallied(method, route, error_type).inc()
        if exchange.request_size is not None:  # requests that declare a body
            self._request_size.labels(method, route).observe(exchange.request_size)

    def _series(self, method: str, route: str, status: int) -> _SeriesRow:
        children = _Children(
            self._requests.labels(method, route, str(status)),
            self._duration.labels(method, route),
            self._response_size.labels(method, route),
        )
        metrics = (self._requests, self._duration, self._response_size)
        if any(m.is_overflow(c) for m, c in zip(metrics, children, strict=True)):
            return _SeriesRow(children, OFF)  # counted as overflow on every request
        parts = list(zip(("counter", "histogram", "histogram"), children, strict=True))
        series = _SeriesRow(children, self._tallies.row(parts))
        if len(self._rows) < self._MAX_ROWS:
            self._rows[(method, route, status)] = series
        return series


class _Children(NamedTuple):
    """The prometheus_client children of one (method, route, status)."""

    requests: Any
    duration: Any
    response_size: Any


class _SeriesRow:
    """The children of one (method, route, status) and their tally row, if any."""

    __slots__ = ("children", "duration_bounds", "row", "size_at", "size_bounds")

    def __init__(self, children: _Children, row: Row) -> None:
        self.children = children
        self.row = row
        self.duration_bounds = histogram_bounds(children.duration) or ()
        self.size_bounds = histogram_bounds(children.response_size) or ()
        self.size_at = 2 + len(self.duration_bounds)  # cells: requests, duration, size


def _end_sdk_span(span: trace.Span, route: str, status: int, error_type: str) -> None:
    if route != UNMATCHED:
        method = getattr(span, "name", "HTTP")  # started as the method (HTTP when unknown)
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if error_type:
        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR, error_type))
    span.end()


def _add_traceresponse(
    message: MutableMapping[str, Any], context: SpanContext, status: int
) -> None:
    """W3C Trace Context Level 2: tell the caller our span, sampled when it will be kept."""
    if context.is_valid:
        flags = b"01" if (context.trace_flags & 1 or status >= 500) else b"00"
        value = b"00-%032x-%016x-%s" % (context.trace_id, context.span_id, flags)
        message["headers"] = [*message.get("headers", ()), (b"traceresponse", value)]


def _mark(error: BaseException, span: trace.Span) -> None:
    """Remember the span on the exception, so logs written after the request still link it."""
    error.__dict__["__agentwatch_span_context__"] = span.get_span_context()  # __slots__ or not
