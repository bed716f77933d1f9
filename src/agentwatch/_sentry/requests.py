"""One sentry-sdk isolation scope per request, carrying that request.

The middleware enters :meth:`RequestIsolation.enter` before the app runs and leaves it
after the request ended (after an unhandled error was captured). Inside, the request has
its own isolation scope (``sentry_sdk.isolation_scope()``, the 2.x API): tags, user,
contexts and breadcrumbs the app sets during one request never reach another, however
many run concurrently. The scope carries an event processor that adds the request to
every event captured in it:

``request``
    ``method``; ``url`` as scheme, host and path (no user info, no query); ``query_string``
    with the values of sensitive parameters (``token``, ``api_key``, ``password``…) masked
    and the rest redacted; ``headers`` without ``Cookie``, ``Authorization``,
    ``Proxy-Authorization``, client addresses (``X-Forwarded-For``, ``X-Real-IP``,
    ``Forwarded``) or any header named like a secret (``X-Api-Key``, ``X-Auth-Token``…):
    those say ``[REDACTED]``. No body, no cookies, no client IP (``send_default_pii`` off).
``transaction``
    The route template (``/items/{id}``), as Sentry's own integrations name it.

It is built when the event is (on the reporter's thread for errors agentwatch captures),
never on the request path. Costs about 15 µs a request (two scope forks in sentry-sdk);
only with a DSN set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .._redact import MASK, SENSITIVE_KEYS, Redactor
from .._state import report_internal_error

__all__ = ["FILTERED", "RequestIsolation", "request_data"]

FILTERED = MASK  # what the scrubbing of every event says for a sensitive key too
_FILTERED_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-forwarded-for",
        "x-real-ip",
        "forwarded",
        "x-csrf-token",
        "x-csrftoken",
        "x-xsrf-token",
    }
)
_SECRET_NAME = re.compile(r"(?:^|[_\-.])(?:key|sig|signature)(?:$|[_\-.])", re.IGNORECASE)
RouteOf = Callable[[Any, str], str | None]


def _is_secret(name: str) -> bool:
    return SENSITIVE_KEYS.search(name) is not None or _SECRET_NAME.search(name) is not None


def _headers(raw: Any, redactor: Redactor) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in raw:
        name = key.decode("latin-1").lower()
        if name in _FILTERED_HEADERS or _is_secret(name):
            headers[name] = FILTERED
        else:
            text = value.decode("latin-1")
            headers[name] = f"{headers[name]}, {text}" if name in headers else text
    return {name: v if v == FILTERED else redactor.redact(v) for name, v in headers.items()}


def _query(raw: bytes, redactor: Redactor) -> str:
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    kept = [(k, FILTERED if _is_secret(k) else redactor.redact(v)) for k, v in pairs]
    return urlencode(kept, safe="[]:")


def _url(scope: Mapping[str, Any]) -> str:
    scheme = scope.get("scheme", "http")
    host = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"host"), "")
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else ""
    host = host.rpartition("@")[2]  # never user info
    return f"{scheme}://{host}{scope.get('root_path', '')}{scope.get('path', '')}"


def request_data(scope: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
    """Sentry's ``request`` of an ASGI HTTP ``scope``, with secrets stripped."""
    data: dict[str, Any] = {"method": scope.get("method", ""), "url": _url(scope)}
    query = scope.get("query_string", b"")
    if query:
        data["query_string"] = _query(query, redactor)
    data["headers"] = _headers(scope.get("headers", ()), redactor)
    return data


class _RequestProcessor:
    """The event processor of one request's isolation scope."""

    __slots__ = ("isolation", "root_path", "scope")

    def __init__(self, isolation: RequestIsolation, scope: Mapping[str, Any]) -> None:
        self.isolation = isolation
        self.scope = scope
        self.root_path = str(scope.get("root_path", ""))  # before routing mounts add to it

    def __call__(self, event: Any, hint: Any) -> Any:  # sentry-sdk's Event and Hint
        try:
            isolation = self.isolation
            if "request" not in event:
                event["request"] = request_data(self.scope, isolation.redactor)
            route = isolation.route_of(self.scope, self.root_path)
            if route and not event.get("transaction"):
                event["transaction"] = route
                event["transaction_info"] = {"source": "route"}
        except Exception as exc:  # an event without its request still goes out
            report_internal_error("errors", exc)
        return event


class RequestIsolation:
    """Enters a fresh isolation scope for each request (see the module docstring).

    ``route_of(scope, root_path_before)``: the matched route template or None (the
    middleware's own function, given by ``init()``: this package does not import it).
    """

    def __init__(self, redactor: Redactor, route_of: RouteOf) -> None:
        self.redactor = redactor
        self.route_of = route_of

    def enter(self, scope: Mapping[str, Any]) -> Any:
        """Enter the request's isolation scope; what :meth:`exit` takes back."""
        import sentry_sdk

        manager = sentry_sdk.isolation_scope()
        isolation = manager.__enter__()
        isolation.add_event_processor(_RequestProcessor(self, scope))
        return manager

    def exit(self, manager: Any) -> None:
        """Leave it: the scopes before the request are current again."""
        manager.__exit__(None, None, None)
