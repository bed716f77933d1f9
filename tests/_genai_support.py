"""What the GenAI and demo tests share: a recording init, span lookups, servers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from tests._apps import init_for_test, sample

import agentwatch
from agentwatch._genai import budget as _budget
from agentwatch.demo.llm_server import SimConfig, create_llm_app
from agentwatch.demo.serving import BackgroundServer
from agentwatch.testing import InMemorySpanExporter

QUIET_LLM = SimConfig(
    error_rate=0.0,
    rate_limit_rate=0.0,
    slow_rate=0.0,
    seconds_per_token=0.0,
    base_latency_seconds=0.002,
    seed=7,
)


@dataclass
class Recording:
    """An init()'d agentwatch keeping every trace, and ways to read what it recorded."""

    handle: agentwatch.Agentwatch
    exporter: InMemorySpanExporter

    def spans(self) -> list[ReadableSpan]:
        self.handle.force_flush()
        return self.exporter.get_finished_spans()

    def span(self, name: str) -> ReadableSpan:
        found = [span for span in self.spans() if span.name == name]
        assert len(found) == 1, (
            f"{len(found)} spans named {name!r}: {[s.name for s in self.spans()]}"
        )
        return found[0]

    def value(self, name: str, **labels: str) -> float:
        return sample(self.handle.registry, name, labels)


@contextmanager
def recording(ratio: float = 1.0, **options: Any) -> Iterator[Recording]:
    handle, exporter = init_for_test(ratio=ratio, **options)
    try:
        yield Recording(handle, exporter)
    finally:
        handle.shutdown()
        for item in _budget.budgets():
            _budget.remove_budget(item.name)


@contextmanager
def llm_server(config: SimConfig = QUIET_LLM) -> Iterator[BackgroundServer]:
    """The simulated OpenAI/Anthropic provider on 127.0.0.1."""
    server = BackgroundServer(create_llm_app(config)).start()
    try:
        yield server
    finally:
        server.stop()


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


@dataclass
class DemoRun:
    """The demo service running on 127.0.0.1 with an in-memory exporter."""

    app: Any
    server: BackgroundServer
    llm: BackgroundServer
    exporter: InMemorySpanExporter

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def handle(self) -> agentwatch.Agentwatch:
        handle: agentwatch.Agentwatch = self.app.state.agentwatch
        return handle

    def spans(self) -> list[ReadableSpan]:
        """Kept spans, once every request's server span has ended.

        The client has its response before the server span ends (the span closes after the
        last body message is sent), so wait for the processor to have no open trace.
        """
        processor = self.handle.tracing.processor
        deadline = time.monotonic() + 10
        while processor is not None and processor.pending_traces and time.monotonic() < deadline:
            time.sleep(0.01)
        self.handle.force_flush()
        return self.exporter.get_finished_spans()

    def value(self, name: str, **labels: str) -> float:
        return sample(self.handle.registry, name, labels)


@contextmanager
def demo_service(data_dir: str, *, ratio: float = 1.0, **config: Any) -> Iterator[DemoRun]:
    """The demo agent service (and its simulated provider) served over HTTP on 127.0.0.1."""
    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import CollectorRegistry

    from agentwatch.demo.app import DemoConfig, create_app

    exporter = InMemorySpanExporter()
    options = {
        "exporter": exporter,
        "registry": CollectorRegistry(),
        "tracer_provider": TracerProvider(sampler=agentwatch.ErrorPrioritySampler(ratio)),
        "success_sample_ratio": ratio,
        "environ": {},
    }
    with llm_server() as llm:
        app = create_app(
            DemoConfig(llm.url, data_dir=data_dir, seed=3, init_options=options, **config)
        )
        try:
            server = BackgroundServer(app).start()
            try:
                yield DemoRun(app, server, llm, exporter)
            finally:
                server.stop()
        finally:
            app.state.agentwatch.shutdown()
            for item in _budget.budgets():
                _budget.remove_budget(item.name)
