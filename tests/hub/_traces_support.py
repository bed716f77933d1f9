"""The trace part's tests share: a hub served over real HTTP, and spans made with the OTel SDK."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from agentwatch.demo.serving import BackgroundServer
from agentwatch.hub.app import Hub
from agentwatch.hub.configfile import load_config


@contextlib.contextmanager
def served_hub(
    tmp_path: Path, config_text: str = "", *, database: str | None = None, **hub_options: Any
) -> Iterator[tuple[Hub, str]]:
    """The hub on a real port (uvicorn in a thread, lifespan and all); yields (hub, url)."""
    path = tmp_path / "hub.yaml"
    path.write_text(config_text)
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    config = load_config(path, environ=env).with_server(
        database=database or f"sqlite:///{tmp_path}/hub.db"
    )
    hub = Hub(config, environ=env, **hub_options)
    server = BackgroundServer(hub.asgi()).start()
    try:
        yield hub, server.url
    finally:
        server.stop()


class CountingIds(IdGenerator):
    """Trace ids from a base, span ids counting up: the same spans, told apart by trace id."""

    def __init__(self, trace_base: int) -> None:
        self.trace_base = trace_base
        self.next_trace = 0
        self.next_span = 0

    def generate_trace_id(self) -> int:
        self.next_trace += 1
        return (self.trace_base << 64) | self.next_trace

    def generate_span_id(self) -> int:
        self.next_span += 1
        return (self.trace_base << 32) | self.next_span


def agent_spans(
    trace_base: int, *, traces: int = 2, start_ns: int | None = None
) -> list[ReadableSpan]:
    """An agent request per trace: a SERVER span, an LLM CLIENT span with GenAI attributes,
    a failing tool call with an exception; every attribute type, an event and a link."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "agent-api", "deployment.environment": "test"}),
        id_generator=CountingIds(trace_base),
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("agentwatch.tests", "1.2.3")
    t0 = start_ns if start_ns is not None else time.time_ns()
    for n in range(traces):
        base = t0 + n * 1_000_000_000
        with tracer.start_as_current_span(
            "POST /agents/{name}/run", kind=SpanKind.SERVER, start_time=base, end_on_exit=False
        ) as root:
            root.set_attributes(
                {
                    "http.request.method": "POST",
                    "http.route": "/agents/{name}/run",
                    "http.response.status_code": 500,
                    "retry.count": 2,
                    "sample.ratio": 0.25,
                    "flags": ["a", "b"],
                    "ok": False,
                }
            )
            with tracer.start_as_current_span(
                "chat gpt-4o-mini",
                kind=SpanKind.CLIENT,
                start_time=base + 1_000_000,
                end_on_exit=False,
                links=[Link(root.get_span_context(), {"link.kind": "parent"})],
            ) as llm:
                llm.set_attributes(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": "gpt-4o-mini",
                        "gen_ai.usage.input_tokens": 812,
                        "gen_ai.usage.output_tokens": 120,
                        "agentwatch.llm.cost_usd": 0.000194,
                    }
                )
                llm.add_event("gen_ai.choice", {"index": 0}, timestamp=base + 30_000_000)
                llm.end(end_time=base + 40_000_000)
            with tracer.start_as_current_span(
                "execute_tool search",
                start_time=base + 41_000_000,
                end_on_exit=False,
                record_exception=False,
                set_status_on_exception=False,
            ) as tool:
                tool.set_attribute("gen_ai.tool.name", "search")
                try:
                    raise LookupError("index offline")
                except LookupError as exc:
                    tool.record_exception(exc, timestamp=base + 45_000_000)
                tool.set_status(Status(StatusCode.ERROR, "index offline"))
                tool.end(end_time=base + 50_000_000)
            root.set_status(Status(StatusCode.ERROR))
            root.end(end_time=base + 60_000_000)
    provider.shutdown()
    return list(exporter.get_finished_spans())


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s")
        time.sleep(interval)


def trace_ids(spans: Sequence[ReadableSpan]) -> list[str]:
    return sorted({format(s.context.trace_id, "032x") for s in spans})


def get_json(url: str, **params: Any) -> Any:
    response = httpx.get(url, params=params, timeout=10)
    response.raise_for_status()
    return response.json()


def shuffled(items: list[Any], seed: int = 7) -> list[Any]:
    out = list(items)
    random.Random(seed).shuffle(out)
    return out
