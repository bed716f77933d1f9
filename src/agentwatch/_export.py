"""The queue between the sampler and the exporter, drained by one background thread.

Requests only append kept spans to a deque; the thread encodes and sends them in batches.
Encoding holds the GIL, so the thread sends moderate batches and yields between them,
which keeps request p99 free of long stalls. A full queue drops the newest spans and counts
them (``agentwatch_spans_dropped_total{reason="queue_full"}``); an exporter failure counts
``reason="export_failed"``; a success counts ``agentwatch_spans_exported_total{exporter}``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ._metrics import Metrics
from ._serverspan import ServerSpan

__all__ = ["ExportQueue"]

_log = logging.getLogger("agentwatch")


class ExportQueue:
    """Bounded span queue with a daemon export thread."""

    def __init__(
        self,
        exporter: SpanExporter,
        metrics: Metrics,
        *,
        max_size: int = 8192,
        batch_size: int = 128,
        interval_seconds: float = 1.0,
    ) -> None:
        self.exporter = exporter
        self._name = type(exporter).__name__
        self._queue: deque[ReadableSpan] = deque()
        self._max_size = max_size
        self._batch_size = batch_size
        self._interval = interval_seconds
        self._cond = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._stopping = False
        self._flushers = 0
        self._dropped = metrics["agentwatch_spans_dropped_total"]
        self._exported = metrics["agentwatch_spans_exported_total"].labels(self._name)
        self._last_failure_log = 0.0
        self._thread = threading.Thread(target=self._run, name="agentwatch-export", daemon=True)
        self._thread.start()

    def put_many(self, spans: list[ReadableSpan]) -> None:
        """Queue spans for export; never blocks, never raises."""
        with self._cond:
            room = self._max_size - len(self._queue)
            accepted = spans if len(spans) <= room else spans[: max(room, 0)]
            self._queue.extend(accepted)
            if len(self._queue) >= self._batch_size:
                self._cond.notify()
        lost = len(spans) - len(accepted)
        if lost:
            self._dropped.labels("queue_full").inc(lost)

    def _take_batch(self) -> list[ReadableSpan]:
        with self._cond:
            deadline = time.monotonic() + self._interval
            while len(self._queue) < self._batch_size and not (self._stopping or self._flushers):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            count = min(len(self._queue), self._batch_size)
            batch = [self._queue.popleft() for _ in range(count)]
            self._in_flight = len(batch)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch:
                self._send(batch)
                time.sleep(0)  # let request threads have the GIL between batches
            with self._cond:
                self._in_flight = 0
                self._cond.notify_all()
                if self._stopping and not self._queue:
                    return

    def _send(self, batch: list[ReadableSpan]) -> None:
        try:
            batch = [span.to_readable() if isinstance(span, ServerSpan) else span for span in batch]
            token = attach(
                set_value(_SUPPRESS_INSTRUMENTATION_KEY, True)
            )  # no spans about exporting
            try:
                result = self.exporter.export(batch)
            finally:
                detach(token)
        except Exception as exc:  # an exporter bug or a transport error it did not catch
            result = SpanExportResult.FAILURE
            self._log_failure(repr(exc))
        if result is SpanExportResult.SUCCESS:
            self._exported.inc(len(batch))
        else:
            self._dropped.labels("export_failed").inc(len(batch))
            self._log_failure("exporter returned FAILURE")

    def _log_failure(self, detail: str) -> None:
        now = time.monotonic()
        if now - self._last_failure_log > 30.0:  # at most one line per 30 s
            self._last_failure_log = now
            _log.warning("agentwatch: span export to %s failed: %s", self._name, detail)

    @property
    def size(self) -> int:
        return len(self._queue)

    def flush(self, timeout_seconds: float = 10.0) -> bool:
        """Wait until every queued span has been handed to the exporter."""
        deadline = time.monotonic() + timeout_seconds
        with self._cond:
            self._flushers += 1
            try:
                while self._queue or self._in_flight:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self._thread.is_alive():
                        return False
                    self._cond.notify_all()
                    self._cond.wait(min(remaining, 0.05))
            finally:
                self._flushers -= 1
        return True

    def shutdown(self, timeout_seconds: float = 10.0) -> None:
        self.flush(timeout_seconds)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout_seconds)
        try:
            self.exporter.shutdown()
        except Exception:
            _log.debug("exporter shutdown failed", exc_info=True)
