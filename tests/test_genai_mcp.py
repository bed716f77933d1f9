"""MCP tool calls with the real ``mcp`` library against a real MCP server (stdio)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry
from tests._apps import sample

import agentwatch
from agentwatch._integrations.mcp import context_from_meta, instrument_mcp, uninstrument_mcp
from agentwatch.testing import InMemorySpanExporter

SERVER = str(Path(__file__).with_name("mcp_docs_server.py"))


@pytest.fixture
def traced() -> Iterator[tuple[agentwatch.Agentwatch, InMemorySpanExporter]]:
    """init() on the global provider: the mcp library's own spans use it too."""
    exporter = InMemorySpanExporter()
    handle = agentwatch.init(
        registry=CollectorRegistry(), exporter=exporter, success_sample_ratio=1.0, environ={}
    )
    try:
        yield handle, exporter
    finally:
        uninstrument_mcp()
        handle.shutdown()


async def _call_tools(tmp_path: Path) -> tuple[dict[str, Any], Any]:
    params = StdioServerParameters(command=sys.executable, args=[SERVER])
    with (tmp_path / "server.err").open("w") as errors:
        async with (
            stdio_client(params, errlog=errors) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            async with agentwatch.agent_run("researcher", "search"):
                seen = await session.call_tool("whoami", {"question": "refunds"})
                failed = await session.call_tool("broken", {"question": "refunds"})
    return json.loads(seen.content[0].text), failed


@pytest.mark.parametrize("inject_meta", [None, True], ids=["mcp propagates", "agentwatch injects"])
async def test_trace_context_crosses_to_the_mcp_server(
    traced: tuple[agentwatch.Agentwatch, InMemorySpanExporter],
    tmp_path: Path,
    inject_meta: bool | None,
) -> None:
    handle, exporter = traced
    instrument_mcp(inject_meta=inject_meta)
    server_side, failed = await _call_tools(tmp_path)
    handle.force_flush()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    tool = spans["execute_tool whoami"]
    agent = spans["invoke_agent researcher"]
    assert tool.parent is not None and tool.parent.span_id == agent.context.span_id  # type: ignore[union-attr]
    assert server_side["trace_id"] == f"{tool.context.trace_id:032x}"  # type: ignore[union-attr]
    sender = spans["MCP send tools/call whoami"]
    assert sender.kind is SpanKind.CLIENT
    assert sender.parent is not None and sender.parent.span_id == tool.context.span_id  # type: ignore[union-attr]
    assert server_side["parent_span_id"] == f"{sender.context.span_id:016x}"  # type: ignore[union-attr]
    assert server_side["meta"]["traceparent"].split("-")[1] == server_side["trace_id"]
    assert server_side["span_name"] == "tools/call whoami"
    assert (tool.attributes or {})["tool.server"] == "docs-mcp"
    assert failed.is_error
    assert spans["execute_tool broken"].status.status_code is StatusCode.ERROR
    registry = handle.registry
    assert (
        sample(
            registry,
            "tool_calls_total",
            {"tool": "whoami", "server": "docs-mcp", "status": "success"},
        )
        == 1
    )
    errors = {"tool": "broken", "server": "docs-mcp", "error_type": "tool_error"}
    assert sample(registry, "tool_errors_total", errors) == 1
    assert (
        sample(
            registry, "tool_call_duration_seconds_count", {"tool": "whoami", "server": "docs-mcp"}
        )
        == 1
    )


def test_context_from_meta_reads_the_w3c_fields() -> None:
    meta = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "progressToken": 3,
    }
    from opentelemetry import trace

    context = trace.get_current_span(context_from_meta(meta)).get_span_context()
    assert f"{context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert context.is_remote
