"""Celery: trace context in every task message, the worker continuing it, the queue pack.

>>> agentwatch.init(service_name="worker")                        # doctest: +SKIP
>>> instrument_celery()            # in the producer and in the worker
>>> DepthSampler({"emails": celery_queue_depth(app, "emails")}).start()

Publishing (``before_task_publish``) starts a PRODUCER span ``publish <queue>`` and writes
``traceparent`` (and ``tracestate``, ``baggage``) into the message headers; the span ends
when the broker took the message (``after_task_publish``). In the worker,
``task_prerun`` starts a CONSUMER span ``process <queue>`` whose parent is the context in
those headers (the same trace) and makes it current for the task's own spans;
``task_postrun`` ends it and records ``queue_jobs_total{queue,status}`` (``succeeded``,
``failed``, ``retried`` for ``self.retry()``) and ``queue_job_duration_seconds{queue}``.
The queue is the message's routing key. Works with any broker and pool whose task runs in
the thread that received it (prefork, solo, threads); for prefork, run the worker's
metrics in multi-process mode (``multiprocess_dir``). Needs ``pip install celery``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from .._state import report_internal_error, telemetry
from ..propagation import inject_headers
from .queues import FAILED, RETRIED, SUCCEEDED, JobRun, _attributes

__all__ = ["celery_queue_depth", "instrument_celery", "uninstrument_celery"]

SYSTEM = "celery"
DEFAULT_QUEUE = "celery"
_FIELDS = ("traceparent", "tracestate", "baggage")
_MAX_OPEN = 10_000  # publish spans waiting for after_task_publish; the oldest are dropped
_UID = "agentwatch-celery"

_lock = threading.Lock()
_publishing: OrderedDict[str, trace.Span] = OrderedDict()
_running: dict[str, JobRun] = {}
_errors: dict[str, BaseException] = {}


def _before_publish(
    sender: Any = None, headers: Any = None, routing_key: Any = None, **_: Any
) -> None:
    try:
        if not isinstance(headers, dict) or "id" not in headers:
            return  # task message protocol 1: nothing to carry the context in
        queue = str(routing_key or DEFAULT_QUEUE)
        attributes = _attributes(queue, str(sender or headers.get("task", "")), SYSTEM, "send")
        attributes["messaging.message.id"] = str(headers["id"])
        span = telemetry().tracer.start_span(
            f"publish {queue}", kind=SpanKind.PRODUCER, attributes=attributes
        )
        inject_headers(headers, trace.set_span_in_context(span))
        with _lock:
            _publishing[str(headers["id"])] = span
            while len(_publishing) > _MAX_OPEN:
                _publishing.popitem(last=False)[1].end()
    except Exception as exc:
        report_internal_error("celery", exc)


def _after_publish(sender: Any = None, headers: Any = None, **_: Any) -> None:
    if not isinstance(headers, dict):
        return
    with _lock:
        span = _publishing.pop(str(headers.get("id")), None)
    if span is not None:
        span.end()


def _carrier(request: Any) -> dict[str, str]:
    carrier = {
        name: value for name in _FIELDS if isinstance(value := getattr(request, name, None), str)
    }
    nested = getattr(request, "headers", None)
    if not carrier and isinstance(nested, dict):  # sent as apply_async(headers=...)
        carrier = {name: nested[name] for name in _FIELDS if isinstance(nested.get(name), str)}
    return carrier


def _queue(request: Any) -> str:
    info = getattr(request, "delivery_info", None) or {}
    return str(info.get("routing_key") or DEFAULT_QUEUE)


def _prerun(task_id: Any = None, task: Any = None, **_: Any) -> None:
    try:
        request = task.request
        run = JobRun(_queue(request), str(task.name), _carrier(request), system=SYSTEM)
        run.span.set_attribute("messaging.message.id", str(task_id))
        run.attach()
        with _lock:
            _running[str(task_id)] = run
    except Exception as exc:
        report_internal_error("celery", exc)


def _failure(task_id: Any = None, exception: Any = None, **_: Any) -> None:
    if isinstance(exception, BaseException):
        with _lock:
            _errors[str(task_id)] = exception


def _postrun(task_id: Any = None, state: Any = None, **_: Any) -> None:
    with _lock:
        run = _running.pop(str(task_id), None)
        error = _errors.pop(str(task_id), None)
    if run is None:
        return
    try:
        status = SUCCEEDED if state == "SUCCESS" else RETRIED if state == "RETRY" else FAILED
        run.finish(status, error)
    except Exception as exc:
        report_internal_error("celery", exc)


def _signals() -> Any:
    try:
        from celery import signals
    except ImportError as exc:
        raise ImportError("instrument_celery needs Celery: pip install celery") from exc
    return signals


_HANDLERS = (
    ("before_task_publish", _before_publish),
    ("after_task_publish", _after_publish),
    ("task_prerun", _prerun),
    ("task_failure", _failure),
    ("task_postrun", _postrun),
)


def instrument_celery() -> None:
    """Connect the publish and task signals (all Celery apps of the process); idempotent."""
    signals = _signals()
    for name, handler in _HANDLERS:
        getattr(signals, name).connect(handler, weak=False, dispatch_uid=f"{_UID}-{name}")


def uninstrument_celery() -> None:
    signals = _signals()
    for name, handler in _HANDLERS:
        getattr(signals, name).disconnect(handler, dispatch_uid=f"{_UID}-{name}")


def celery_queue_depth(app: Any, queue: str = DEFAULT_QUEUE) -> Any:
    """A reader of the messages waiting in ``queue`` on ``app``'s broker (RabbitMQ: a
    passive queue declare; Redis: the list lengths), for :class:`DepthSampler`. A queue
    the broker does not know (not declared yet, or Redis's emptied list) has depth 0."""

    def read() -> int:
        with app.connection_for_read() as connection:
            try:
                declared = connection.default_channel.queue_declare(queue=queue, passive=True)
            except connection.channel_errors:  # no such queue yet (Redis: an empty list)
                return 0
            return int(declared.message_count)

    return read
