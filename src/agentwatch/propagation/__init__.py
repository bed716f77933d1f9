"""W3C Trace Context (Level 2) and Baggage propagation, and outbound HTTP instrumentation.

``agentwatch.init()`` installs the propagators and instruments httpx and requests; use
this module directly for queues, for scripts without ``init()``, or in tests.

>>> from agentwatch.propagation import inject_headers, extract_headers
>>> headers = inject_headers()                      # publish: trace context of this span
>>> context = extract_headers(message_headers)      # doctest: +SKIP   (consume)

- :class:`TraceContextPropagator`, :class:`BaggagePropagator`: OpenTelemetry textmap
  propagators; :func:`install_propagators` makes both the global textmap.
- :func:`extract_asgi`: the request's context from ASGI ``scope["headers"]``.
- :func:`inject_headers`, :func:`extract_headers`: message headers (str or bytes, dicts
  or lists of pairs, as Kafka and AMQP clients give them).
- :func:`format_traceresponse`, :func:`parse_traceresponse`: the Level 2 response header.
- :func:`instrument_httpx`, :func:`instrument_requests` (and ``uninstrument_*``): trace
  context on every outgoing call, each a CLIENT span; :func:`untraced` turns both off
  for the calls made inside it.
- :class:`BaggageValue`: a baggage value with its W3C properties.

Owns ``_w3c.py`` (the header grammars), ``_propagators.py`` (the propagators and the
helpers for queues and ASGI), ``_outbound.py`` (httpx and requests) and ``_wiring.py``
(what ``init()`` attaches). May import ``_tracing``, the core and the foundation; the
request (``_asgi``) does not import it: ``init()`` hands the middleware its extractor.
"""

from __future__ import annotations

from ._outbound import (
    instrument_httpx,
    instrument_requests,
    redact_url,
    uninstrument_httpx,
    uninstrument_requests,
    untraced,
)
from ._propagators import (
    BaggagePropagator,
    HeadersGetter,
    TraceContextPropagator,
    extract_asgi,
    extract_headers,
    format_traceresponse,
    headers_getter,
    inject_headers,
    install_propagators,
    parse_traceresponse,
)
from ._w3c import BaggageValue

__all__ = [
    "BaggagePropagator",
    "BaggageValue",
    "HeadersGetter",
    "TraceContextPropagator",
    "extract_asgi",
    "extract_headers",
    "format_traceresponse",
    "headers_getter",
    "inject_headers",
    "install_propagators",
    "instrument_httpx",
    "instrument_requests",
    "parse_traceresponse",
    "redact_url",
    "uninstrument_httpx",
    "uninstrument_requests",
    "untraced",
]
