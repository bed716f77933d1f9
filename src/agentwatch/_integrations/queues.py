"""Queue jobs: the producer's span puts ``traceparent`` in the message headers, the worker's
span continues that trace, and the queue pack records jobs by status, duration and depth.

>>> with publish("emails", "send_email") as headers:              # producer
...     queue.enqueue(send_email, to, trace_headers=headers)       # RQ (or arq's enqueue_job)
>>> @traced_job("emails")                                          # worker
... def send_email(to): ...

- :func:`publish`: a PRODUCER span ``publish <queue>`` (messaging attributes); yields the
  headers with the trace context written in.
- :func:`consume`: a CONSUMER span ``process <queue>`` whose parent is the context in the
  headers (the same trace id), current while the job runs; on exit it records
  ``queue_jobs_total{queue,status}`` (``succeeded``, ``failed``, or ``retried`` when the
  job raised an exception the caller names as a retry) and
  ``queue_job_duration_seconds{queue}``; a failure is recorded on the span.
- :func:`traced_job`: a decorator for "call this function with these arguments" queues
  (RQ, arq, Dramatiq, Huey...): the producer passes ``trace_headers=`` as a keyword, the
  wrapper takes it out and runs the function (sync or async) inside :func:`consume`.
- :class:`DepthSampler`: a daemon thread reading each queue's depth every ``interval``
  seconds into ``queue_depth{queue}`` (reading a broker never happens on a request).

Celery's signals are in ``celery.py`` beside this file.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .._state import report_internal_error, telemetry
from ..propagation import extract_headers, inject_headers

__all__ = [
    "FAILED",
    "RETRIED",
    "SUCCEEDED",
    "DepthSampler",
    "JobRun",
    "consume",
    "publish",
    "record_job",
    "traced_job",
]

SUCCEEDED, FAILED, RETRIED = "succeeded", "failed", "retried"
HEADERS_KWARG = "trace_headers"
_log = logging.getLogger("agentwatch.queues")
F = TypeVar("F", bound=Callable[..., Any])


def _attributes(queue: str, job: str, system: str, operation: str) -> dict[str, str]:
    return {
        "messaging.system": system,
        "messaging.destination.name": queue,
        "messaging.operation.type": operation,
        "agentwatch.job.name": job,
    }


@contextmanager
def publish(
    queue: str,
    job: str,
    headers: MutableMapping[str, str] | None = None,
    *,
    system: str = "jobs",
    message_id: str | None = None,
) -> Iterator[MutableMapping[str, str]]:
    """A PRODUCER span around enqueuing ``job`` on ``queue``; yields ``headers`` (a new
    dict by default) carrying ``traceparent`` (and ``tracestate``, ``baggage``)."""
    attributes = _attributes(queue, job, system, "send")
    if message_id:
        attributes["messaging.message.id"] = message_id
    tracer = telemetry().tracer
    with tracer.start_as_current_span(
        f"publish {queue}", kind=SpanKind.PRODUCER, attributes=attributes
    ):
        yield inject_headers({} if headers is None else headers)


def record_job(queue: str, status: str, seconds: float | None) -> None:
    """Count one finished job and its duration (never raises)."""
    try:
        metrics = telemetry().metrics
        metrics["queue_jobs_total"].labels(queue, status).inc()
        if seconds is not None:
            metrics["queue_job_duration_seconds"].labels(queue).observe(seconds)
    except Exception as exc:
        report_internal_error("queues", exc)


class JobRun:
    """One job being processed: its span and start; ``finish()`` records it once."""

    def __init__(self, queue: str, job: str, headers: Any, *, system: str = "jobs") -> None:
        self.queue = queue
        self.started = time.perf_counter()
        parent = extract_headers(headers) if headers else otel_context.Context()
        self.span = telemetry().tracer.start_span(
            f"process {queue}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=_attributes(queue, job, system, "process"),
        )
        self._token: object | None = None
        self._done = False

    def attach(self) -> None:
        self._token = otel_context.attach(trace.set_span_in_context(self.span))

    def finish(self, status: str, error: BaseException | None = None) -> None:
        if self._done:
            return
        self._done = True
        try:
            if error is not None:
                self.span.record_exception(error)
                if status == FAILED:
                    self.span.set_status(
                        Status(StatusCode.ERROR, f"{type(error).__name__}: {error}")
                    )
            self.span.set_attribute("agentwatch.job.status", status)
            self.span.end()
        finally:
            if self._token is not None:
                otel_context.detach(self._token)  # type: ignore[arg-type]
                self._token = None
            record_job(self.queue, status, time.perf_counter() - self.started)


@contextmanager
def consume(
    queue: str,
    job: str,
    headers: Any = None,
    *,
    system: str = "jobs",
    retry: tuple[type[BaseException], ...] = (),
) -> Iterator[trace.Span]:
    """A CONSUMER span continuing the trace in ``headers`` while the job runs; records the
    job's status (an exception of a ``retry`` type is ``retried``) and duration."""
    run = JobRun(queue, job, headers, system=system)
    run.attach()
    try:
        yield run.span
    except BaseException as exc:
        run.finish(RETRIED if retry and isinstance(exc, retry) else FAILED, exc)
        raise
    run.finish(SUCCEEDED)


def traced_job(
    queue: str, *, name: str | None = None, retry: tuple[type[BaseException], ...] = ()
) -> Callable[[F], F]:
    """Decorate a job function (sync or async) so it runs inside :func:`consume` with the
    ``trace_headers=`` keyword its producer passed (taken out before the call)."""

    def decorate(fn: F) -> F:
        job = name or fn.__qualname__
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                headers = kwargs.pop(HEADERS_KWARG, None)
                with consume(queue, job, headers, retry=retry):
                    return await fn(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            headers = kwargs.pop(HEADERS_KWARG, None)
            with consume(queue, job, headers, retry=retry):
                return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


class DepthSampler:
    """Reads each queue's depth every ``interval`` seconds into ``queue_depth{queue}``.

    ``readers`` maps a queue to a callable returning its depth (e.g.
    :func:`~agentwatch.queues.celery_queue_depth` or ``lambda: redis.llen("rq:queue:x")``).
    A reader that raises (the broker is down) is logged and skipped that round: the gauge
    keeps its last value. ``sample()`` reads once.
    """

    def __init__(self, readers: Mapping[str, Callable[[], int]], *, interval: float = 15.0) -> None:
        self.readers = dict(readers)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> dict[str, int]:
        depths = {}
        for queue, reader in self.readers.items():
            try:
                depths[queue] = int(reader())
            except Exception as exc:
                _log.warning("queue depth of %s: %s: %s", queue, type(exc).__name__, exc)
                continue
            try:
                telemetry().metrics["queue_depth"].labels(queue).set(depths[queue])
            except Exception as exc:
                report_internal_error("queues", exc)
        return depths

    def start(self) -> DepthSampler:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="agentwatch-queue-depth", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)
