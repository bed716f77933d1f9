"""Queue workers: a real Celery worker on the machine's RabbitMQ and on Redis, RQ's worker
on Redis and an arq-style async loop: the producer's span puts traceparent in the message,
the worker's span continues the trace, the queue pack counts jobs by status, times them
and samples the depth."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from celery import Celery
from celery.contrib.testing.worker import start_worker
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from rq import Queue, SimpleWorker
from tests._genai_support import Recording, recording
from tests._health_servers import require_redis
from tests._otlp_receiver import Receiver, otlp_receiver
from tests._queue_jobs import (
    RABBITMQ_URL,
    REDIS_BROKER_URL,
    build_report,
    enqueue_arq_style,
    redis_client,
    require_rabbitmq,
    run_arq_style_burst,
    send_email,
    send_later,
)

import agentwatch
from agentwatch._metrics.registry import multiprocess_registry
from agentwatch.queues import (
    DepthSampler,
    celery_queue_depth,
    instrument_celery,
    publish,
    uninstrument_celery,
)

BROKERS = {"rabbitmq": RABBITMQ_URL, "redis": REDIS_BROKER_URL}
ROOT = Path(__file__).resolve().parents[1]


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _spans(rec: Recording, name: str) -> list[ReadableSpan]:
    return [span for span in rec.spans() if span.name == name]


def _child_of(child: ReadableSpan, parent: ReadableSpan) -> bool:
    assert child.parent is not None and parent.context is not None
    return (
        child.context is not None
        and child.context.trace_id == parent.context.trace_id
        and child.parent.span_id == parent.context.span_id
    )


def celery_app(broker: str, queue: str) -> Celery:
    app = Celery(f"aw-{queue}", broker=broker, set_as_current=False)
    app.conf.update(
        task_default_queue=queue,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_prefetch_multiplier=1,
        broker_heartbeat=2,  # the worker's loop wakes to notice the end of the test
    )

    @app.task(name=f"{queue}.add")
    def add(x: int, y: int) -> int:
        with agentwatch.get_tracer().start_as_current_span("add numbers"):
            return x + y

    @app.task(name=f"{queue}.boom")
    def boom() -> None:
        raise ValueError("the model returned nothing")

    @app.task(name=f"{queue}.flaky", bind=True, max_retries=1)
    def flaky(self: Any) -> str:
        if self.request.retries == 0:
            raise self.retry(countdown=0)
        return "second time lucky"

    return app


@pytest.fixture
def celery_instrumented() -> Iterator[None]:
    instrument_celery()
    try:
        yield
    finally:
        uninstrument_celery()


@pytest.mark.parametrize("broker", sorted(BROKERS))
def test_a_real_celery_worker_continues_the_trace_and_records_the_queue_pack(
    broker: str, celery_instrumented: None
) -> None:
    (require_rabbitmq if broker == "rabbitmq" else require_redis)()
    queue = f"aw-{broker}-{uuid.uuid4().hex[:8]}"
    app = celery_app(BROKERS[broker], queue)
    with recording() as rec:
        with agentwatch.get_tracer().start_as_current_span("POST /jobs"):
            app.tasks[f"{queue}.add"].delay(2, 3)
        app.tasks[f"{queue}.boom"].delay()
        app.tasks[f"{queue}.flaky"].delay()
        sampler = DepthSampler({queue: celery_queue_depth(app, queue)})
        wait_for(lambda: sampler.sample() == {queue: 3}, "three messages waiting")
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=30, without_heartbeat=False
        ):
            wait_for(lambda: len(_spans(rec, f"process {queue}")) == 4, "four task runs")
        wait_for(lambda: sampler.sample() == {queue: 0}, "the queue drained")
        depth_gauge = rec.value("queue_depth", queue=queue)
        counts = {
            status: rec.value("queue_jobs_total", queue=queue, status=status)
            for status in ("succeeded", "failed", "retried")
        }
        durations = rec.value("queue_job_duration_seconds_count", queue=queue)
        request = rec.span("POST /jobs")
        add_numbers = rec.span("add numbers")
        publishes = _spans(rec, f"publish {queue}")
        processes = _spans(rec, f"process {queue}")

    assert depth_gauge == 0
    assert counts == {"succeeded": 2, "failed": 1, "retried": 1}
    assert durations == 4
    assert len(publishes) == 4  # three from the test, one re-publish by the retry
    published = next(span for span in publishes if _child_of(span, request))
    assert published.kind == SpanKind.PRODUCER
    processed = next(span for span in processes if _child_of(span, published))
    assert processed.kind == SpanKind.CONSUMER and processed.parent is not None
    assert processed.parent.is_remote  # the context came through the message headers
    assert processed.attributes is not None
    assert processed.attributes["messaging.system"] == "celery"
    assert processed.attributes["agentwatch.job.name"] == f"{queue}.add"
    assert _child_of(add_numbers, processed)
    failed = next(
        s
        for s in processes
        if s.attributes and s.attributes["agentwatch.job.name"] == f"{queue}.boom"
    )
    assert failed.status.status_code == StatusCode.ERROR
    assert any(event.name == "exception" for event in failed.events)
    statuses = sorted(str(s.attributes["agentwatch.job.status"]) for s in processes if s.attributes)
    assert statuses == ["failed", "retried", "succeeded", "succeeded"]


def test_rq_jobs_carry_the_trace_through_redis_to_the_worker() -> None:
    require_redis()
    connection = redis_client()
    queue = Queue(f"aw-rq-{uuid.uuid4().hex[:8]}", connection=connection)
    with recording() as rec:
        with (
            agentwatch.get_tracer().start_as_current_span("POST /signup"),
            publish("emails", "send_email") as headers,
        ):
            queue.enqueue(send_email, "ada@example.com", trace_headers=headers)
        with publish("emails", "send_email") as headers:
            queue.enqueue(send_email, "bounce@example.com", trace_headers=headers)
        with publish("emails", "send_later") as headers:
            queue.enqueue(send_later, "grace@example.com", trace_headers=headers)
        waiting = DepthSampler({"emails": lambda: queue.count}).sample()
        SimpleWorker([queue], connection=connection).work(burst=True)
        counts = {
            status: rec.value("queue_jobs_total", queue="emails", status=status)
            for status in ("succeeded", "failed", "retried")
        }
        request, renders = rec.span("POST /signup"), _spans(rec, "render template")
        publishes, processes = _spans(rec, "publish emails"), _spans(rec, "process emails")
    queue.delete(delete_jobs=True)
    assert waiting == {"emails": 3}
    assert counts == {"succeeded": 1, "failed": 1, "retried": 1}
    published = next(span for span in publishes if _child_of(span, request))
    processed = next(span for span in processes if _child_of(span, published))
    assert processed.parent is not None and processed.parent.is_remote
    assert any(_child_of(render, processed) for render in renders)
    assert len(processes) == 3 and len({s.context.trace_id for s in processes if s.context}) == 3


async def test_arq_style_async_jobs_continue_the_trace() -> None:
    require_redis()
    client = aioredis.Redis.from_url(REDIS_BROKER_URL)
    key = f"aw-arq-{uuid.uuid4().hex[:8]}"
    ctx: dict[str, Any] = {}
    try:
        with recording() as rec:
            with agentwatch.get_tracer().start_as_current_span("POST /reports"):
                with publish("reports", "build_report") as headers:
                    await enqueue_arq_style(
                        client, key, "build_report", "weekly", trace_headers=dict(headers)
                    )
                with publish("reports", "build_report") as headers:
                    await enqueue_arq_style(
                        client, key, "build_report", "broken", trace_headers=dict(headers)
                    )
            done = await run_arq_style_burst(client, key, ctx)
            counts = {
                s: rec.value("queue_jobs_total", queue="reports", status=s)
                for s in ("succeeded", "failed")
            }
            request = rec.span("POST /reports")
            processes = _spans(rec, "process reports")
            publishes = _spans(rec, "publish reports")
            queries = _spans(rec, "query warehouse")
    finally:
        await client.delete(key)
        await client.aclose()
    assert (done, ctx["built"], counts) == (2, ["weekly", "broken"], {"succeeded": 1, "failed": 1})
    assert all(_child_of(span, request) for span in publishes)
    for query in queries:
        parent = next(span for span in processes if _child_of(query, span))
        assert any(_child_of(parent, span) for span in publishes)
    assert build_report.__name__ == "build_report"  # arq finds functions by name


async def test_a_job_without_headers_starts_its_own_trace() -> None:
    with recording() as rec:
        await build_report({}, "adhoc")
        span = rec.span("process reports")
        succeeded = rec.value("queue_jobs_total", queue="reports", status="succeeded")
    assert span.parent is None and span.kind == SpanKind.CONSUMER
    assert succeeded == 1


def test_the_depth_sampler_thread_reads_every_interval_and_survives_a_broken_reader() -> None:
    reads: list[int] = []

    def reader() -> int:
        reads.append(1)
        if len(reads) == 2:
            raise ConnectionError("broker restarting")
        return len(reads) * 10

    with recording() as rec:
        sampler = DepthSampler({"jobs": reader}, interval=0.01).start()
        wait_for(lambda: len(reads) >= 4, "four depth reads")
        sampler.stop()
        value = rec.value("queue_depth", queue="jobs")
    assert value >= 30 and value % 10 == 0


def test_asyncio_is_not_needed_for_sync_jobs() -> None:
    assert not asyncio.iscoroutinefunction(send_email)
    assert asyncio.iscoroutinefunction(build_report)


def _otlp_spans(receiver: Receiver) -> list[Any]:
    return [
        span
        for received in list(receiver.received)
        for resource in received.request().resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


@pytest.mark.parametrize("broker", sorted(BROKERS))
def test_a_celery_worker_process_with_prefork_children_continues_the_trace(
    broker: str, celery_instrumented: None, tmp_path: Path
) -> None:
    """`celery worker --pool=prefork`: each child starts agentwatch (worker_process_init),
    exports its spans over OTLP and counts jobs in the shared multi-process folder."""
    (require_rabbitmq if broker == "rabbitmq" else require_redis)()
    queue = f"aw-proc-{broker}-{uuid.uuid4().hex[:8]}"
    producer = Celery("aw-producer", broker=BROKERS[broker], set_as_current=False)
    producer.conf.broker_connection_retry_on_startup = True
    with otlp_receiver() as receiver, recording() as rec:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "AW_TEST_BROKER": BROKERS[broker],
            "AW_TEST_QUEUE": queue,
            "AGENTWATCH_OTLP_ENDPOINT": receiver.url,
            "AGENTWATCH_MULTIPROC_DIR": str(tmp_path),
        }
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "tests._celery_worker_app",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=WARNING",
                "-Q",
                queue,
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            with agentwatch.get_tracer().start_as_current_span("POST /jobs"):
                producer.send_task("proc.add", args=(2, 3), queue=queue)
            producer.send_task("proc.boom", queue=queue)
            wait_for(
                lambda: (
                    sum(s.name == f"process {queue}" for s in _otlp_spans(receiver)) == 2
                    and any(s.name == "add numbers" for s in _otlp_spans(receiver))
                ),
                "the worker's spans over OTLP",
                seconds=120,  # a prefork worker starting on a loaded machine
            )
            jobs = multiprocess_registry(str(tmp_path))
            counts = {
                status: jobs.get_sample_value(
                    "queue_jobs_total", {"queue": queue, "status": status}
                )
                for status in ("succeeded", "failed")
            }
            request = rec.span("POST /jobs")
            published = next(s for s in _spans(rec, f"publish {queue}") if _child_of(s, request))
        finally:
            worker.send_signal(signal.SIGTERM)
            output, _ = worker.communicate(timeout=60)
    spans = {span.name: span for span in _otlp_spans(receiver) if span.name != f"process {queue}"}
    processed = [span for span in _otlp_spans(receiver) if span.name == f"process {queue}"]
    assert published.context is not None
    add_run = next(
        s for s in processed if s.parent_span_id == published.context.span_id.to_bytes(8, "big")
    )
    assert add_run.trace_id == published.context.trace_id.to_bytes(16, "big")
    assert spans["add numbers"].parent_span_id == add_run.span_id
    assert counts == {"succeeded": 1.0, "failed": 1.0}, output
