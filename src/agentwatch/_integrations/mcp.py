"""``instrument_mcp()``: MCP tool calls as ``tool_call`` spans, trace context in ``_meta``.

>>> agentwatch.instrument_mcp()     # pip install 'agentwatch[mcp]'

Every ``ClientSession.call_tool`` of the ``mcp`` library becomes an ``execute_tool``
span with the tool pack (``tool_calls_total{tool,server,status}`` — ``server`` is the
name the server gave in its initialize answer), and a result with ``isError`` counts as a
failure. The W3C trace context travels in the request's ``params._meta`` (``traceparent``,
``tracestate``, ``baggage``), as the MCP and OpenTelemetry conventions specify: mcp 2.x
injects it itself from the current span; for older versions agentwatch adds it through
``call_tool(meta=...)``. On the server side, mcp 2.x continues the trace from ``_meta``;
elsewhere use :func:`context_from_meta`.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.context import Context

from .._genai.runs import ToolCall
from .._state import report_internal_error
from .patching import require

__all__ = ["context_from_meta", "instrument_mcp", "uninstrument_mcp"]

_ORIGINAL = "__agentwatch_original__"


def native_propagation() -> bool:
    """True when the installed mcp injects the trace context into ``_meta`` itself."""
    return importlib.util.find_spec("mcp.shared._otel") is not None


def _server_name(session: Any) -> str:
    try:
        info = getattr(session, "server_info", None)
        if info is None:
            result = getattr(session, "initialize_result", None) or getattr(
                session, "_initialize_result", None
            )
            info = getattr(result, "server_info", None) or getattr(result, "serverInfo", None)
        name = getattr(info, "name", None)
        return str(name) if name else "mcp"
    except Exception:  # a session that was never initialised
        return "mcp"


def _with_trace_context(meta: Any) -> dict[str, Any]:
    from ..propagation import inject_headers

    carrier: dict[str, Any] = dict(meta) if isinstance(meta, Mapping) else {}
    carrier.update(inject_headers())
    return carrier


def _wrap(original: Callable[..., Any], inject: bool) -> Callable[..., Any]:
    @functools.wraps(original)
    async def call_tool(
        session: Any, name: str, arguments: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        operation = ToolCall(str(name), _server_name(session), arguments=arguments)
        async with operation:
            if inject:
                try:
                    kwargs["meta"] = _with_trace_context(kwargs.get("meta"))
                except Exception as exc:
                    report_internal_error("mcp", exc)
            result = await original(session, name, arguments, *args, **kwargs)
            operation.set_result(result)
            return result

    return call_tool


def instrument_mcp(*, inject_meta: bool | None = None) -> None:
    """Record every MCP tool call of ``mcp.ClientSession`` (idempotent).

    ``inject_meta``: put the trace context in ``_meta`` ourselves; by default only when the
    installed mcp does not do it.
    """
    session_module = require("mcp.client.session", "mcp", "instrument_mcp()")
    owner = session_module.ClientSession
    current = owner.__dict__["call_tool"]
    if hasattr(current, _ORIGINAL):
        return
    inject = (not native_propagation()) if inject_meta is None else inject_meta
    wrapper = _wrap(current, inject)
    setattr(wrapper, _ORIGINAL, current)
    owner.call_tool = wrapper


def uninstrument_mcp() -> None:
    session_module = require("mcp.client.session", "mcp", "instrument_mcp()")
    owner = session_module.ClientSession
    original = getattr(owner.__dict__.get("call_tool"), _ORIGINAL, None)
    if original is not None:
        owner.call_tool = original


def context_from_meta(meta: Mapping[str, Any] | None) -> Context:
    """The trace context carried in a request's ``_meta`` (for MCP servers without it)."""
    from ..propagation import extract_headers

    return extract_headers(dict(meta or {}))
