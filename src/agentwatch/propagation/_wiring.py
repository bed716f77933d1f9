"""What ``init()`` wires for propagation: the W3C propagators and outbound HTTP clients.

``attach(handle)`` makes agentwatch's W3C Trace Context + Baggage propagators the global
OpenTelemetry textmap and, unless ``instrument_http_clients`` is off, instruments httpx and
requests (whichever is installed) so outgoing calls carry the trace and are CLIENT spans
in the active telemetry. ``shutdown()`` restores the previous textmap and removes the
wrappers this attach installed (not ones the application installed itself).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.propagate import set_global_textmap

from ._outbound import (
    instrument_httpx,
    instrument_requests,
    uninstrument_httpx,
    uninstrument_requests,
)
from ._propagators import install_propagators

__all__ = ["attach"]

_CLIENTS: tuple[tuple[Callable[[], bool], Callable[[], None]], ...] = (
    (instrument_httpx, uninstrument_httpx),
    (instrument_requests, uninstrument_requests),
)


def attach(handle: Any) -> None:
    """Install the propagators and the HTTP client instrumentation for ``handle``."""
    previous = install_propagators()
    handle.add_shutdown_callback(lambda: set_global_textmap(previous))
    if not getattr(handle.settings, "instrument_http_clients", True):
        return
    for instrument, uninstrument in _CLIENTS:
        try:
            installed = instrument()
        except ImportError:  # that client library is not installed: nothing to instrument
            continue
        if installed:
            handle.add_shutdown_callback(uninstrument)
