"""One sentry-sdk isolation scope per request, carrying that request.

The middleware enters :meth:`RequestIsolation.enter` before the app runs and leaves it
after the request ended (after an unhandled error was captured). Inside, the request has
its own isolation and current scopes (as ``sentry_sdk.isolation_scope()``, the 2.x API, gives): tags, user,
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
never on the request path. Only with a DSN set.

The forks are lazy: the request's isolation and current scopes (a ``Scope`` subclass)
hold only the scope they fork until something reads one of their fields (a tag set, a
breadcrumb, an event captured); then they take every field from ``Scope.fork()`` of
it. So the success path pays two small objects and the context variables (about 18,000
instructions, against 50,000 for ``sentry_sdk.isolation_scope()``, which copies both
scopes on every request). The isolation is the same: whatever a request sets lands in
its own scopes, never in the scopes it came from.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from functools import partial
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


def _add_request(
    isolation: RequestIsolation, scope: Mapping[str, Any], root_path: str, event: Any, hint: Any
) -> Any:
    """The event processor of one request's isolation scope (sentry-sdk's Event and Hint):
    adds the request and the route, built now, when an event is captured."""
    try:
        if "request" not in event:
            event["request"] = request_data(scope, isolation.redactor)
        route = isolation.route_of(scope, root_path)
        if route and not event.get("transaction"):
            event["transaction"] = route
            event["transaction_info"] = {"source": "route"}
    except Exception as exc:  # an event without its request still goes out
        report_internal_error("errors", exc)
    return event


_LOCK = threading.Lock()  # one materialization at a time (a request's threads share its scopes)


def _lazy_fork_class() -> type | None:
    """A sentry-sdk ``Scope`` that becomes a fork of its parent on first use (None when
    this sentry-sdk's ``Scope`` has no ``__slots__``: then each request forks eagerly)."""
    from sentry_sdk.scope import Scope

    slots = Scope.__dict__.get("__slots__")
    if not isinstance(slots, tuple) or not slots:
        return None
    members = {name: Scope.__dict__[name] for name in slots}  # the fields' descriptors

    class LazyFork(Scope):  # type: ignore[misc]
        """Holds only its parent (and the request's event processor) until something
        reads a field of the scope: then every field is taken from a fork of the parent,
        as ``Scope.fork()`` would have at the start of the request. A request that never
        touches Sentry never pays for a fork."""

        __slots__ = ("_aw_parent", "_aw_processor")

        def __getattr__(self, name: str) -> Any:  # only called for a field not set yet
            member = members.get(name)
            if member is None:
                raise AttributeError(name)
            _materialize(self)
            return member.__get__(self, LazyFork)

    def _materialize(lazy: Any) -> None:
        with _LOCK:
            try:
                parent = lazy._aw_parent
            except AttributeError:  # another thread did it, or a copy (every field set)
                return
            fork = parent.fork()
            for member in members.values():
                try:
                    member.__get__(lazy, LazyFork)
                except AttributeError:  # not written since the request started
                    member.__set__(lazy, member.__get__(fork, Scope))
            processor = lazy._aw_processor
            if processor is not None:
                lazy._event_processors.append(processor)
            del lazy._aw_parent

    return LazyFork


class RequestIsolation:
    """Gives each request its own isolation and current scopes (see the module docstring).

    ``route_of(scope, root_path_before)``: the matched route template or None (the
    middleware's own function, given by ``init()``: this package does not import it).
    """

    def __init__(self, redactor: Redactor, route_of: RouteOf) -> None:
        from sentry_sdk.scope import Scope

        self.redactor = redactor
        self.route_of = route_of
        self._lazy = _lazy_fork_class()
        self._new = object.__new__
        self._isolation = Scope.get_isolation_scope
        self._set_isolation = Scope.set_isolation_scope
        self._current = Scope.get_current_scope
        self._set_current = Scope.set_current_scope

    def enter(self, scope: Mapping[str, Any]) -> Any:
        """Make forks of the isolation and current scopes current, the isolation one with
        the request's event processor; what :meth:`exit` takes back (the scopes before).

        The forks are lazy: a request that never touches Sentry allocates two small
        objects, no copy of a scope."""
        # the root path before routing mounts add to it (they update the scope in place)
        processor = partial(_add_request, self, scope, str(scope.get("root_path", "")))
        isolation, current = self._isolation(), self._current()
        lazy: Any = self._lazy
        forked: Any
        forked_current: Any
        if lazy is None:
            forked = isolation.fork()
            forked.add_event_processor(processor)
            forked_current = current.fork()
        else:
            forked = self._new(lazy)
            forked._aw_parent, forked._aw_processor = isolation, processor
            forked_current = self._new(lazy)
            forked_current._aw_parent, forked_current._aw_processor = current, None
        self._set_isolation(forked)
        self._set_current(forked_current)
        return isolation, current

    def exit(self, before: Any) -> None:
        """The scopes before the request are current again."""
        isolation, current = before
        self._set_current(current)
        self._set_isolation(isolation)
