"""The Celery app the process test runs under a real `celery worker` (prefork children).

Configured by the environment the test sets: AW_TEST_BROKER, AW_TEST_QUEUE, and for
agentwatch in each child AGENTWATCH_OTLP_ENDPOINT and AGENTWATCH_MULTIPROC_DIR.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals

import agentwatch
from agentwatch.queues import instrument_celery

QUEUE = os.environ["AW_TEST_QUEUE"]
app = Celery("aw-process-worker", broker=os.environ["AW_TEST_BROKER"], set_as_current=False)
app.conf.update(
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
)
_handles: list[agentwatch.Agentwatch] = []


@signals.worker_process_init.connect
def _start_agentwatch(**_: Any) -> None:
    """Each prefork child: its own tracer and exporter, metrics in the shared folder."""
    _handles.append(
        agentwatch.init(
            service_name="celery-worker",
            success_sample_ratio=1.0,
            export_interval_seconds=0.2,
            log_format="off",
        )
    )
    instrument_celery()


@signals.worker_process_shutdown.connect
def _stop_agentwatch(**_: Any) -> None:
    for handle in _handles:
        handle.shutdown()


@app.task(name="proc.add")
def add(x: int, y: int) -> int:
    with agentwatch.get_tracer().start_as_current_span("add numbers"):
        return x + y


@app.task(name="proc.boom")
def boom() -> None:
    raise ValueError("the model returned nothing")
