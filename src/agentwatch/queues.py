"""Queue workers: trace context from producer to worker, and the queue pack.

>>> from agentwatch.queues import instrument_celery, publish, traced_job, DepthSampler
>>> instrument_celery()                              # Celery: producer and worker
>>> with publish("emails", "send_email") as headers:          # any other queue: producer
...     queue.enqueue(send_email, "a@example.com", trace_headers=headers)
>>> @traced_job("emails")                                      # ... and worker
... def send_email(to): ...
>>> DepthSampler({"emails": lambda: redis.llen("rq:queue:emails")}).start()

The producer's PRODUCER span writes ``traceparent`` into the message; the worker's
CONSUMER span continues that trace. ``queue_jobs_total{queue,status}`` (succeeded, failed,
retried), ``queue_job_duration_seconds{queue}`` and ``queue_depth{queue}`` are the queue
pack's metrics, which ``agentwatch ops generate`` charts and alerts on.
"""

from __future__ import annotations

from ._integrations.celery import celery_queue_depth, instrument_celery, uninstrument_celery
from ._integrations.queues import (
    FAILED,
    RETRIED,
    SUCCEEDED,
    DepthSampler,
    consume,
    publish,
    record_job,
    traced_job,
)

__all__ = [
    "FAILED",
    "RETRIED",
    "SUCCEEDED",
    "DepthSampler",
    "celery_queue_depth",
    "consume",
    "instrument_celery",
    "publish",
    "record_job",
    "traced_job",
    "uninstrument_celery",
]
