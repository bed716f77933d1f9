"""What tracing one queue job costs: publish (PRODUCER span, traceparent into the headers)
plus process (CONSUMER span from the headers, jobs by status, duration), per job.

    python bench/queues.py [--number 20000]

The broker is left out (a round trip to RabbitMQ or Redis costs far more than either
side's instrumentation): the producer's and the worker's halves run back to back in one
process, with a do-nothing job. Compared configurations:

- bare:       the job function alone.
- agentwatch: ``agentwatch.queues.publish`` then ``traced_job`` (init()'d, every trace kept,
              no exporter: spans are recorded, sampled and dropped by the exporter stand-in).
- stock:      what the same takes with the OpenTelemetry SDK (batch span processor) and
              prometheus_client by hand: a PRODUCER span, ``propagate.inject``;
              ``propagate.extract``, a CONSUMER span made current, a Counter and a
              Histogram observation.

Prints the best of seven rounds: microseconds per job and the ratio to stock.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry, Counter, Histogram

import agentwatch
from agentwatch.queues import publish, traced_job
from agentwatch.testing import InMemorySpanExporter


def job(to: str) -> str:
    return to


def _agentwatch() -> Callable[[], object]:
    agentwatch.init(
        registry=CollectorRegistry(),
        exporter=InMemorySpanExporter(),
        success_sample_ratio=1.0,
        log_format="off",
        environ={},
    )
    traced = traced_job("emails")(job)

    def one() -> object:
        with publish("emails", "send") as headers:
            message = dict(headers)
        return traced("a@example.com", trace_headers=message)

    return one


ATTRIBUTES = {
    "messaging.system": "jobs",
    "messaging.destination.name": "emails",
    "messaging.operation.type": "send",
}


def _stock() -> Callable[[], object]:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    tracer = provider.get_tracer("bench")
    registry = CollectorRegistry()
    jobs = Counter("stock_jobs", "jobs", ("queue", "status"), registry=registry)
    seconds = Histogram("stock_job_seconds", "duration", ("queue",), registry=registry)

    def one() -> object:
        with tracer.start_as_current_span(
            "publish emails", kind=SpanKind.PRODUCER, attributes=ATTRIBUTES
        ):
            message: dict[str, str] = {}
            propagate.inject(message)
        parent = propagate.extract(message)
        span = tracer.start_span(
            "process emails", context=parent, kind=SpanKind.CONSUMER, attributes=ATTRIBUTES
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            with seconds.labels("emails").time():
                result = job("a@example.com")
            jobs.labels("emails", "succeeded").inc()
            return result
        finally:
            otel_context.detach(token)
            span.end()

    return one


def _best(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()
    stock = _best(_stock(), args.number)
    figures = {
        "bare": _best(lambda: job("a@example.com"), args.number),
        "stock": stock,
        "agentwatch": _best(_agentwatch(), args.number),
    }
    print(f"{'configuration':<12} {'us/job':>8} {'vs stock':>9}")
    for name, micros in figures.items():
        print(f"{name:<12} {micros:8.1f} {micros / stock:8.2f}x")


if __name__ == "__main__":
    main()
