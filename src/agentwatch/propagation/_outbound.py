"""Outbound HTTP: W3C context injection and CLIENT spans for httpx and requests.

>>> instrument_httpx()      # every httpx.Client and httpx.AsyncClient request
>>> instrument_requests()   # every requests.Session request (requests.get included)

Each request sent while instrumented gets a ``CLIENT`` span named after its method
(``GET``; ``HTTP`` for a method outside RFC 9110 + PATCH) carrying the stable HTTP
semantic-convention attributes — ``http.request.method``, ``url.full`` (credentials
replaced by ``REDACTED:REDACTED``, secret query values by ``REDACTED``, then the
telemetry's redactor), ``server.address``, ``server.port``,
``http.response.status_code``, ``network.protocol.version`` and ``error.type`` — and
sends ``traceparent`` (parent-id = that span), ``tracestate`` and ``baggage``.

Status follows the client-span rule: ERROR for a response >= 400 (``error.type`` is the
status code) and for an exception (``error.type`` is its class, the exception event is
recorded); the request's own exception then propagates unchanged. The span ends when
``send`` returns: response headers read, a streamed body not included. One span covers a
call with its redirects (``url.full`` is the URL first requested).

Not traced: requests made while OpenTelemetry instrumentation is suppressed (exporters do
that), from agentwatch's export thread, and httpx calls through the in-process
``ASGITransport`` / ``WSGITransport`` (test clients, not network calls).
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import Token
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.context import (
    Context,
    attach,
    detach,
    get_value,
    set_value,
)
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._compat import SUPPRESS_HTTP_INSTRUMENTATION_KEY, SUPPRESS_INSTRUMENTATION_KEY
from .._redact import SENSITIVE_KEYS, Redactor
from .._semconv import KNOWN_METHODS
from .._state import report_internal_error, telemetry
from .._tracing.events import record_exception
from ._propagators import _BAGGAGE, _TRACE_CONTEXT

__all__ = [
    "instrument_httpx",
    "instrument_requests",
    "redact_url",
    "uninstrument_httpx",
    "uninstrument_requests",
    "untraced",
]

_SECRET_QUERY_KEYS = frozenset(("awsaccesskeyid", "signature", "sig", "x-goog-signature"))
_DEFAULT_PORTS = {"http": 80, "https": 443}
_EXPORT_THREAD = "agentwatch-export"
_Started = tuple[trace.Span, Token[Context]]
_Describe = Callable[[], tuple[Any, ...] | None]
_Begin = Callable[[Any, Any], "_Started | None"]
_Version = Callable[[Any], str | None]
_Target = tuple[type, str, Callable[[Callable[..., Any]], Callable[..., Any]]]


def _redact_query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        key, eq, _ = part.partition("=")
        if eq and (key.lower() in _SECRET_QUERY_KEYS or SENSITIVE_KEYS.search(key)):
            part = f"{key}=REDACTED"
        parts.append(part)
    return "&".join(parts)


def redact_url(url: str, redactor: Redactor | None = None) -> str:
    """``url`` fit for ``url.full``: no credentials, no secret query values.

    >>> redact_url("https://bob:pw@api.example.com/v1?sig=abc&page=2")
    'https://REDACTED:REDACTED@api.example.com/v1?sig=REDACTED&page=2'
    """
    scheme, netloc, path, query, fragment = urlsplit(url)
    if "@" in netloc:
        netloc = "REDACTED:REDACTED@" + netloc.rpartition("@")[2]
    if redactor is not None:  # first, so the REDACTED markers below stay as they are
        path, query, fragment = (redactor.redact(part) for part in (path, query, fragment))
    query = _redact_query(query) if query else query
    return urlunsplit((scheme, netloc, path, query, fragment))


def _suppressed() -> bool:
    return bool(
        get_value(SUPPRESS_INSTRUMENTATION_KEY)
        or get_value(SUPPRESS_HTTP_INSTRUMENTATION_KEY)
        or threading.current_thread().name == _EXPORT_THREAD
    )


@contextmanager
def untraced() -> Iterator[None]:
    """HTTP calls made inside get neither a CLIENT span nor trace headers.

    >>> with untraced():
    ...     httpx.get(probe_url)  # doctest: +SKIP
    """
    token = attach(set_value(SUPPRESS_HTTP_INSTRUMENTATION_KEY, True))
    try:
        yield
    finally:
        detach(token)


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    public = [part for part in cls.__module__.split(".") if not part.startswith("_")]
    return ".".join([*public, cls.__qualname__])


class _Instrumentation:
    """What one library's instrumentation patched, and the tracer it records into."""

    def __init__(self) -> None:
        self.patches: list[tuple[type, str, Callable[..., Any]]] = []
        self.provider: trace.TracerProvider | None = None
        self._tracer: trace.Tracer | None = None

    @property
    def active(self) -> bool:
        return bool(self.patches)

    def use(self, provider: trace.TracerProvider | None) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("agentwatch.outbound") if provider else None

    def tracer(self) -> trace.Tracer:
        return self._tracer if self._tracer is not None else telemetry().tracer

    def start(self, method: str, url: str, host: str, port: int | None, headers: Any) -> _Started:
        """Start the CLIENT span, inject its context into ``headers`` and make it current."""
        label = method if method in KNOWN_METHODS else "_OTHER"
        attributes: dict[str, Any] = {
            "http.request.method": label,
            "url.full": redact_url(url, telemetry().redactor),
            "server.address": host,
        }
        if port is not None:
            attributes["server.port"] = port
        if label == "_OTHER":
            attributes["http.request.method_original"] = method
        name = method if label != "_OTHER" else "HTTP"
        span = self.tracer().start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        context = trace.set_span_in_context(span)
        _TRACE_CONTEXT.inject(headers, context)
        _BAGGAGE.inject(headers, context)
        return span, attach(set_value(SUPPRESS_HTTP_INSTRUMENTATION_KEY, True, context))


def _finish(started: _Started, status: int | None, version: str | None) -> None:
    span, token = started
    try:
        detach(token)
        if status is not None:
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_attribute("error.type", str(status))
                span.set_status(Status(StatusCode.ERROR))
        if version:
            span.set_attribute("network.protocol.version", version)
        span.end()
    except Exception as exc:
        report_internal_error("outbound", exc)


def _fail(started: _Started, error: BaseException) -> None:
    span, token = started
    try:
        detach(token)
        error_type = _error_type(error)
        span.set_attribute("error.type", error_type)
        if isinstance(error, Exception):
            record_exception(span, error)
        span.set_status(Status(StatusCode.ERROR, error_type))
        span.end()
    except Exception as exc:
        report_internal_error("outbound", exc)


def _begin(state: _Instrumentation, describe: _Describe) -> _Started | None:
    if not state.active or _suppressed():
        return None
    try:
        request = describe()
        return state.start(*request) if request is not None else None
    except Exception as exc:  # a request we cannot trace is still sent
        report_internal_error("outbound", exc)
        return None


def _sync(original: Callable[..., Any], begin: _Begin, version: _Version) -> Callable[..., Any]:
    def send(owner: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        started = begin(owner, request)
        if started is None:
            return original(owner, request, *args, **kwargs)
        try:
            response = original(owner, request, *args, **kwargs)
        except BaseException as error:
            _fail(started, error)
            raise
        _finish(started, response.status_code, version(response))
        return response

    return send


def _async(original: Callable[..., Any], begin: _Begin, version: _Version) -> Callable[..., Any]:
    async def send(owner: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        started = begin(owner, request)
        if started is None:
            return await original(owner, request, *args, **kwargs)
        try:
            response = await original(owner, request, *args, **kwargs)
        except BaseException as error:
            _fail(started, error)
            raise
        _finish(started, response.status_code, version(response))
        return response

    return send


def _install(
    state: _Instrumentation, provider: trace.TracerProvider | None, targets: list[_Target]
) -> bool:
    if state.active:
        if provider is not None:
            state.use(provider)
        return False
    state.use(provider)
    for owner, name, wrap in targets:
        original = getattr(owner, name)
        wrapper = functools.wraps(original)(wrap(original))
        wrapper.__agentwatch_original__ = original  # type: ignore[attr-defined]
        setattr(owner, name, wrapper)
        state.patches.append((owner, name, original))
    return True


def _uninstall(state: _Instrumentation) -> None:
    for owner, name, original in reversed(state.patches):
        if getattr(getattr(owner, name), "__agentwatch_original__", None) is original:
            setattr(owner, name, original)
    state.patches.clear()  # a wrapper someone else re-wrapped stays, inactive
    state.use(None)


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"agentwatch's {module} instrumentation needs {module}: "
            f"pip install 'agentwatch[{module}]'"
        ) from exc


# --- httpx -----------------------------------------------------------------------------

_httpx = _Instrumentation()
_IN_PROCESS: tuple[type, ...] = ()


def _httpx_describe(client: Any, request: Any) -> tuple[Any, ...] | None:
    pick = getattr(client, "_transport_for_url", None)
    if pick is not None and isinstance(pick(request.url), _IN_PROCESS):
        return None  # an in-process app, not a network call
    url = request.url
    port = url.port if url.port is not None else _DEFAULT_PORTS.get(url.scheme)
    return request.method, str(url), url.host, port, request.headers


def _httpx_begin(client: Any, request: Any) -> _Started | None:
    return _begin(_httpx, lambda: _httpx_describe(client, request))


def _httpx_version(response: Any) -> str | None:
    version = getattr(response, "http_version", "")
    return version.removeprefix("HTTP/") if isinstance(version, str) and version else None


def instrument_httpx(tracer_provider: trace.TracerProvider | None = None) -> bool:
    """Trace and propagate every httpx request; True if this call installed the wrappers.

    ``tracer_provider``: where CLIENT spans go (default: agentwatch's active tracer, looked
    up per request). Calling again installs nothing more; a provider given then replaces
    the one in use.
    """
    global _IN_PROCESS
    httpx = _import("httpx")
    _IN_PROCESS = (httpx.ASGITransport, httpx.WSGITransport)
    return _install(
        _httpx,
        tracer_provider,
        [
            (httpx.Client, "send", lambda send: _sync(send, _httpx_begin, _httpx_version)),
            (httpx.AsyncClient, "send", lambda send: _async(send, _httpx_begin, _httpx_version)),
        ],
    )


def uninstrument_httpx() -> None:
    """Remove the httpx wrappers (no-op when not instrumented)."""
    _uninstall(_httpx)


# --- requests --------------------------------------------------------------------------

_requests = _Instrumentation()
_REQUESTS_VERSIONS = {10: "1.0", 11: "1.1", 20: "2"}


def _requests_describe(request: Any) -> tuple[Any, ...]:
    url = str(request.url)
    parts = urlsplit(url)
    port = parts.port if parts.port is not None else _DEFAULT_PORTS.get(parts.scheme)
    headers: MutableMapping[str, str] = request.headers
    return request.method or "GET", url, parts.hostname or "", port, headers


def _requests_begin(session: Any, request: Any) -> _Started | None:
    return _begin(_requests, lambda: _requests_describe(request))


def _requests_version(response: Any) -> str | None:
    version = getattr(getattr(response, "raw", None), "version", None)
    return _REQUESTS_VERSIONS.get(version) if isinstance(version, int) else None


def instrument_requests(tracer_provider: trace.TracerProvider | None = None) -> bool:
    """Trace and propagate every ``requests`` request; True if this call installed it.

    ``tracer_provider`` as for :func:`instrument_httpx`.
    """
    requests = _import("requests")
    wrap = lambda send: _sync(send, _requests_begin, _requests_version)  # noqa: E731
    return _install(_requests, tracer_provider, [(requests.Session, "send", wrap)])


def uninstrument_requests() -> None:
    """Remove the requests wrapper (no-op when not instrumented)."""
    _uninstall(_requests)
