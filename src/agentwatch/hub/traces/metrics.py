"""The trace store's own metrics, on the hub's registry."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .store import Evicted

__all__ = ["TraceMetrics"]


class TraceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter(
            "agentwatch_hub_otlp_received",
            "Spans and log records stored from OTLP requests.",
            ["signal"],
            registry=registry,
        )
        self.rejected = Counter(
            "agentwatch_hub_otlp_rejected",
            "Spans and log records not stored: invalid (partial success), backpressure (429, "
            "the sender retries) or store_error (503, the sender retries).",
            ["signal", "reason"],
            registry=registry,
        )
        self.evicted = Counter(
            "agentwatch_hub_traces_evicted",
            "Traces dropped by retention or the size limit, by their status.",
            ["status"],
            registry=registry,
        )
        self.logs_evicted = Counter(
            "agentwatch_hub_logs_evicted",
            "Log records outside any trace dropped by retention.",
            registry=registry,
        )
        self.commit_seconds = Histogram(
            "agentwatch_hub_trace_commit_seconds",
            "Time to commit one group of batches to the trace store.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.queued = Gauge(
            "agentwatch_hub_trace_queue_rows",
            "Spans and log records accepted by the intake and waiting for a commit.",
            registry=registry,
        )
        self.committing = Gauge(
            "agentwatch_hub_trace_commit_rows",
            "Spans and log records in the commit running now (stays up while the store is slow).",
            registry=registry,
        )
        self.stored_bytes = Gauge(
            "agentwatch_hub_trace_store_bytes",
            "Approximate bytes of the traces and logs kept (what traces.max_bytes bounds).",
            registry=registry,
        )

    def watch(self, queued: Callable[[], int], committing: Callable[[], int]) -> None:
        self.queued.set_function(queued)
        self.committing.set_function(committing)

    def committed(self, spans: int, logs: int, seconds: float) -> None:
        if spans:
            self.received.labels("traces").inc(spans)
        if logs:
            self.received.labels("logs").inc(logs)
        self.commit_seconds.observe(seconds)

    def count_evicted(self, evicted: Evicted) -> None:
        if evicted.ok_traces:
            self.evicted.labels("ok").inc(evicted.ok_traces)
        if evicted.error_traces:
            self.evicted.labels("error").inc(evicted.error_traces)
        if evicted.logs:
            self.logs_evicted.inc(evicted.logs)
