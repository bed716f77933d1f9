"""The OpenTelemetry semantic conventions agentwatch writes by hand.

HTTP server spans (the ``http.*``, ``url.*``, ``server.*``, ``client.*`` and
``user_agent.*`` attributes, built from a :data:`Request`), the method names HTTP knows, and
``exception`` events (:class:`ExceptionAttributes`, and :data:`Raised`, the parts of one the
lean server span keeps). The request (``_asgi``) builds them, client spans
(``propagation``) name their methods by them, the OTLP encoder (``_export``) writes the same
attributes straight from the parts. Pure functions and types: imports nothing of agentwatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = [
    "KNOWN_METHODS",
    "SERVER_SPAN_KEYS",
    "ExceptionAttributes",
    "Raised",
    "Request",
    "add_own_request_attributes",
    "add_response_attributes",
    "body_size",
    "exception_event_attributes",
    "header_map",
    "request_attributes",
    "shared_request_attributes",
    "user_agent",
]

KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


class Request(NamedTuple):
    """What a server span's attributes are built from, read once from the ASGI scope (and
    turned into attributes only when the span is read)."""

    scheme: str
    path: str
    version: str  # the HTTP version
    server: Any  # ASGI's (host, port), or None
    client: Any  # ASGI's (host, port), or None
    headers: Any  # a dict by name, or the scope's (name, value) pairs


class Raised(NamedTuple):
    """What a lean server span keeps of the exception the app raised out of: the parts of
    its ``exception`` event (see :func:`exception_event_attributes`)."""

    type: str
    message: str
    frames: str  # the cached header and frames text of the stack trace
    tail: str  # the exception's own lines
    time: int  # when it was recorded, ns


def header_map(request: Request) -> Mapping[bytes, bytes]:
    """The request's headers by name (the last of repeated ones wins)."""
    headers = request.headers
    return headers if type(headers) is dict else dict(headers)


def request_attributes(method: str, request: Request) -> dict[str, Any]:
    """The HTTP semantic-convention attributes of a request (method, URL, peers, agent).

    Those most requests share come first (:func:`shared_request_attributes`), then those of
    this request (:func:`add_own_request_attributes`).
    """
    attributes = shared_request_attributes(method, request.scheme, request.version, request.server)
    add_own_request_attributes(attributes, request)
    return attributes


def shared_request_attributes(
    method: str, scheme: str, version: str, server: Any
) -> dict[str, Any]:
    """Method, scheme, protocol version and server: what most requests share."""
    attributes: dict[str, Any] = {}
    if method in KNOWN_METHODS:
        attributes["http.request.method"] = method
    else:
        attributes["http.request.method"] = "_OTHER"
        attributes["http.request.method_original"] = method
    attributes["url.scheme"] = scheme
    attributes["network.protocol.version"] = version
    if server:  # ASGI's (host, port); the port is None for a unix socket
        attributes["server.address"] = server[0]
        if server[1] is not None:
            attributes["server.port"] = server[1]
    return attributes


def add_response_attributes(
    attributes: dict[str, Any], route: str | None, status_code: int, error_type: str
) -> None:
    """Add what the middleware learns when the response is known."""
    attributes["http.response.status_code"] = status_code
    if route is not None:
        attributes["http.route"] = route
    if error_type:
        attributes["error.type"] = error_type


def add_own_request_attributes(attributes: dict[str, Any], request: Request) -> None:
    """Add what differs from request to request: path, client, user agent, body size."""
    attributes["url.path"] = request.path
    client = request.client
    if client:
        attributes["client.address"] = client[0]
    headers = header_map(request)
    agent = headers.get(b"user-agent")
    if agent is not None:
        attributes["user_agent.original"] = user_agent(agent)
    length = headers.get(b"content-length")
    if length is not None:
        size = body_size(length)
        if size is not None:
            attributes["http.request.body.size"] = size


def user_agent(header: bytes) -> str:
    """The ``user_agent.original`` attribute of a ``user-agent`` header value."""
    return header.decode("latin-1")


def body_size(header: bytes) -> int | None:
    """The ``http.request.body.size`` attribute of a ``content-length`` header value."""
    return int(header) if header.isdigit() else None


# every attribute key a ServerSpan builds from its request and response
SERVER_SPAN_KEYS = frozenset(
    {
        "http.request.method",
        "http.request.method_original",
        "url.scheme",
        "network.protocol.version",
        "server.address",
        "server.port",
        "http.response.status_code",
        "http.route",
        "error.type",
        "url.path",
        "client.address",
        "user_agent.original",
        "http.request.body.size",
    }
)


class ExceptionAttributes(dict[str, Any]):
    """The attributes of an ``exception`` event: a plain dict to every reader.

    It also keeps what its ``exception.stacktrace`` was joined from — ``stack_frames``, the
    cached frames text (the same object whenever the stack repeats), and ``stack_tail``, the
    exception's own lines — and that value itself (``stacktrace``, to tell it was not
    replaced), so an encoder can reuse what it made of the frames.
    """

    __slots__ = ("stack_frames", "stack_tail", "stacktrace")
    stack_frames: str
    stack_tail: str
    stacktrace: str


def exception_event_attributes(kind: str, message: str, frames: str, tail: str) -> dict[str, Any]:
    """The attributes of an ``exception`` event whose stack trace is ``frames + tail``."""
    stack = frames + tail
    attributes = ExceptionAttributes()  # item by item: faster than from pairs
    attributes["exception.type"] = kind
    attributes["exception.message"] = message
    attributes["exception.stacktrace"] = stack
    attributes["exception.escaped"] = "False"
    attributes.stack_frames, attributes.stack_tail = frames, tail
    attributes.stacktrace = stack
    return attributes
