"""A real MCP server (stdio) for the tests: tools report the trace context they run in."""

from __future__ import annotations

import json

from mcp.server.mcpserver import Context, MCPServer
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())
server = MCPServer("docs-mcp")


@server.tool()
async def whoami(question: str, ctx: Context) -> str:
    """The server span this call runs in, its parent, and the raw ``_meta``."""
    span = trace.get_current_span()
    context = span.get_span_context()
    parent = getattr(span, "parent", None)
    meta = ctx.request_context.meta
    return json.dumps(
        {
            "trace_id": f"{context.trace_id:032x}",
            "parent_span_id": f"{parent.span_id:016x}" if parent else None,
            "span_name": getattr(span, "name", None),
            "meta": dict(meta) if meta else {},
        }
    )


@server.tool()
async def broken(question: str) -> str:
    raise ValueError("no documents")


if __name__ == "__main__":
    server.run("stdio")
