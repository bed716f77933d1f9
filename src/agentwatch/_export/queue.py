"""The queue between the sampler and the exporter, drained by one background thread.

Requests only append kept spans to a deque; the thread encodes and sends them in batches.
Encoding holds the GIL, but in a server that is not saturated it happens while the event
loop waits for the network, off every request's latency; saturated, it costs the same
CPU wherever it runs (measured: encoding on the request thread instead took as much
amortised time and more at p50). A batch is one request to the receiver, whose own cost
(the connection's system calls, the response) fewer, larger batches share; the
interpreter's switch interval, not the batch size, bounds how long encoding keeps a
request waiting for the GIL. A full queue drops the newest spans and counts
them (``agentwatch_spans_dropped_total{reason="queue_full"}``); an exporter failure counts
``reason="export_failed"``; a success counts ``agentwatch_spans_exported_total{exporter}``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from opentelemetry.context import attach, detach, set_value
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .._compat import SUPPRESS_INSTRUMENTATION_KEY
from .._metrics.registry import Metrics
from .spans import is_lean

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
        batch_size: int = 512,
        interval_seconds: float = 1.0,
    ) -> None:
        self.exporter = exporter
        self._name = type(exporter).__name__
        self._queue: deque[ReadableSpan] = deque()
        self._max_size = max_size
        self._batch_size = batch_size
        self._interval = interval_seconds
        self._cond = threading.Condition(threading.Lock())  # batches in flight, for flush()
        self._wake = threading.Event()  # a batch is ready, or somebody flushes or stops
        self._in_flight = 0
        self._stopping = False
        self._flushers = 0
        self._dropped = metrics["agentwatch_spans_dropped_total"]
        self._exported = metrics["agentwatch_spans_exported_total"].labels(self._name)
        self._last_failure_log = 0.0
        self._thread = threading.Thread(target=self._run, name="agentwatch-export", daemon=True)
        self._thread.start()

    def put_many(self, spans: list[ReadableSpan]) -> None:
        """Queue spans for export; never blocks, never raises, takes no lock unless full."""
        queue = self._queue
        if len(queue) + len(spans) <= self._max_size:
            queue.extend(spans)  # atomic under the GIL
        else:
            self._put_when_full(spans)
        if len(queue) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def _put_when_full(self, spans: list[ReadableSpan]) -> None:
        with self._cond:
            room = self._max_size - len(self._queue)
            accepted = spans if len(spans) <= room else spans[: max(room, 0)]
            self._queue.extend(accepted)
        lost = len(spans) - len(accepted)
        if lost:
            self._dropped.labels("queue_full").inc(lost)

    def _take_batch(self) -> list[ReadableSpan]:
        deadline = time.monotonic() + self._interval
        while len(self._queue) < self._batch_size and not self._stopping:
            if self._flushers and self._queue:  # a flusher waits: send what there is
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._wake.wait(remaining)
            self._wake.clear()  # a wake-up missed here is seen by the loop's own check
        with self._cond:
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
            token = attach(set_value(SUPPRESS_INSTRUMENTATION_KEY, True))  # no spans of ours
            try:
                result = self._export(batch)
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

    def _export(self, batch: list[ReadableSpan]) -> SpanExportResult:
        if not getattr(self.exporter, "accepts_lean_spans", False):
            batch = [s.to_readable() if is_lean(s) else s for s in batch]
        return self.exporter.export(batch)

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
                    self._wake.set()
                    self._cond.wait(min(remaining, 0.05))
            finally:
                self._flushers -= 1
        return True

    def shutdown(self, timeout_seconds: float = 10.0) -> None:
        self.flush(timeout_seconds)
        with self._cond:
            self._stopping = True
        self._wake.set()
        self._thread.join(timeout_seconds)
        try:
            self.exporter.shutdown()
        except Exception:
            _log.debug("exporter shutdown failed", exc_info=True)
