"""A background job queue (asyncio) whose jobs carry the trace context of their producer.

Each job's processing is a CONSUMER span starting a new trace, linked to the request that
enqueued it (the OpenTelemetry messaging conventions for asynchronous work: the request
ends long before the job, and each trace is sampled on its own). The queue pack records
depth, jobs by status and job duration.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind

import agentwatch
from agentwatch.propagation import extract_headers, inject_headers

__all__ = ["JobQueue"]

log = logging.getLogger("agentwatch.demo")
Handler = Callable[[dict[str, Any]], Awaitable[None]]


class JobQueue:
    """``submit()`` from a request; ``workers`` tasks run the handler."""

    def __init__(self, name: str, handler: Handler, *, workers: int = 64) -> None:
        self.name = name
        self.handler = handler
        self.workers = workers
        self._queue: asyncio.Queue[tuple[dict[str, Any], dict[str, str]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]
        self._depth()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def submit(self, payload: dict[str, Any]) -> None:
        self._queue.put_nowait((payload, inject_headers()))
        self._depth()

    def depth(self) -> int:
        """Jobs waiting for a worker."""
        return self._queue.qsize()

    def _depth(self) -> None:
        agentwatch.metric("queue_depth").labels(self.name).set(self._queue.qsize())

    async def _work(self) -> None:
        while True:
            payload, headers = await self._queue.get()
            self._depth()
            try:
                await self._process(payload, headers)
            finally:
                self._queue.task_done()

    async def _process(self, payload: dict[str, Any], headers: dict[str, str]) -> None:
        producer = trace.get_current_span(extract_headers(headers)).get_span_context()
        links = [Link(producer)] if producer.is_valid else []
        attributes = {
            "messaging.system": "asyncio",
            "messaging.operation.type": "process",
            "messaging.destination.name": self.name,
        }
        started = time.perf_counter()
        status = "succeeded"
        tracer = agentwatch.get_tracer()
        with tracer.start_as_current_span(
            f"process {self.name}",
            context=otel_context.Context(),  # a new trace, linked to the producer
            kind=SpanKind.CONSUMER,
            links=links,
            attributes=attributes,
            record_exception=False,
        ):
            try:
                await self.handler(payload)
            except Exception as exc:  # the job fails, the worker goes on
                status = "failed"
                log.exception("job on queue %s failed", self.name)
                agentwatch.mark_error(exc)
        agentwatch.metric("queue_jobs_total").labels(self.name, status).inc()
        agentwatch.metric("queue_job_duration_seconds").labels(self.name).observe(
            time.perf_counter() - started
        )
