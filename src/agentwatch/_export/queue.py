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

With a spool (:mod:`~agentwatch._export.spool`) and an exporter that can send a body once
(:class:`~agentwatch._export.otlp_http.OtlpHttpExporter`), a batch the receiver did not
take (down, timeout, 429, 5xx) is written to disk by this thread, split in its error-trace
and success-trace spans, and sent again later (:mod:`~agentwatch._export.delivery`); while
the receiver is backing off, batches go straight to the spool. :meth:`ExportQueue.drain`
and :meth:`ExportQueue.shutdown` flush until their deadline and spool what is left.

Log records take a queue of their own (``signal="log"``), counted in
``agentwatch_logs_dropped_total`` and ``agentwatch_logs_exported_total``, spooled the same
way: a record logged at ERROR or above goes into the error batches.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from opentelemetry.context import attach, detach, set_value
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .._compat import SUPPRESS_INSTRUMENTATION_KEY
from .._metrics.registry import Metrics
from .._state import report_internal_error
from .delivery import Outcome, Redelivery
from .spans import is_lean
from .spool import Batch, Spool

__all__ = ["ExportQueue"]

_log = logging.getLogger("agentwatch")
_ERROR_TRACES_REMEMBERED = 16384  # per generation; two generations are looked up
_RESCAN_SECONDS = 30.0  # look for batches other processes left in a shared spool
_GAUGES_SECONDS = 5.0  # spool gauges refreshed at least this often while it holds batches
_COUNTERS = {  # signal: (dropped, exported)
    "span": ("agentwatch_spans_dropped_total", "agentwatch_spans_exported_total"),
    "log": ("agentwatch_logs_dropped_total", "agentwatch_logs_exported_total"),
}


def can_spool(exporter: Any) -> bool:
    """Whether ``exporter`` can encode, frame and send a body once (what the spool needs)."""
    return all(hasattr(exporter, name) for name in ("signal", "encode_spans", "frame", "send_body"))


class ExportQueue:
    """Bounded span queue with a daemon export thread.

    ``signal="log"`` carries log records instead: any ``exporter`` whose ``export(batch)``
    returns a ``SpanExportResult`` fits, and the records are counted in the log counters.
    """

    def __init__(
        self,
        exporter: SpanExporter,
        metrics: Metrics,
        *,
        max_size: int = 8192,
        batch_size: int = 512,
        interval_seconds: float = 1.0,
        spool: Spool | None = None,
        signal: str = "span",
    ) -> None:
        self.exporter = exporter
        self._name = type(exporter).__name__
        self._queue: deque[Any] = deque()
        self._max_size = max_size
        self._batch_size = batch_size
        self._interval = interval_seconds
        self._cond = threading.Condition(threading.Lock())  # batches in flight, for flush()
        self._wake = threading.Event()  # a batch is ready, or somebody flushes or stops
        self._in_flight = 0
        self._current: list[Any] = []  # the batch being sent, for shutdown to spool
        self._stopping = False
        self._flushers = 0
        self._signal = signal
        dropped, exported = _COUNTERS[signal]
        self._dropped = metrics[dropped]
        self._exported = metrics[exported].labels(self._name)
        self._last_failure_log = 0.0
        self._errors_now: dict[int, bool] = {}  # trace ids of kept error traces
        self._errors_before: dict[int, bool] = {}
        self.redelivery: Redelivery | None = None
        if spool is not None and can_spool(exporter):
            self.redelivery = Redelivery(spool, metrics)
            self.redelivery.add_sender(exporter.signal, self._send_spooled)  # type: ignore[attr-defined]
        self._spool_scanned = 0.0  # when the spool was last found empty (monotonic)
        self._gauges_refreshed = 0.0
        name = "agentwatch-export" if signal == "span" else f"agentwatch-export-{signal}s"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
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

    def put_error_trace(self, spans: list[ReadableSpan]) -> None:
        """Queue the spans of an error trace (spooled, they are evicted last)."""
        if spans:
            self._errors_now[spans[0].context.trace_id] = True  # type: ignore[union-attr]
        self.put_many(spans)

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
            self._current = batch
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch:
                if self.redelivery is not None:
                    self._send_or_spool(batch)
                else:
                    self._send(batch)
                time.sleep(0)  # let request threads have the GIL between batches
            with self._cond:
                self._in_flight = 0
                self._current = []
                self._cond.notify_all()
                if self._stopping and not self._queue:
                    return
            if self.redelivery is not None and not (self._stopping or self._flushers):
                self._redeliver()  # the spool's turn, unless somebody waits for the queue

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

    def _send_or_spool(self, batch: list[ReadableSpan]) -> None:
        """Send once; what the receiver does not take goes to the spool."""
        redelivery = self.redelivery
        assert redelivery is not None
        exporter: Any = self.exporter
        try:
            token = attach(set_value(SUPPRESS_INSTRUMENTATION_KEY, True))
            try:
                encoded = exporter.encode_spans(batch)
                if not redelivery.backing_off():
                    outcome = exporter.send_body(exporter.frame(encoded))
                    redelivery.record(outcome)
                    if self._sent(outcome, len(batch)):
                        return
            finally:
                detach(token)
            if self._current is batch:  # else shutdown spooled it meanwhile
                self.spool_spans(batch, encoded)
        except Exception as exc:  # an encoder bug, or the spool's disk
            report_internal_error("export_queue", exc)
            self._dropped.labels("export_failed").inc(len(batch))

    def _sent(self, outcome: Outcome, count: int) -> bool:
        """True when the batch is settled (delivered, or refused for good)."""
        if outcome.delivered:
            self._exported.inc(count)
            return True
        if not outcome.retry:
            self._dropped.labels("export_failed").inc(count)
            self._log_failure(outcome.reason)
            return True
        return False

    def spool_spans(self, spans: list[Any], encoded: list[Any] | None = None) -> None:
        """Write spans to the spool: one batch of error-trace spans, one of the others."""
        redelivery = self.redelivery
        assert redelivery is not None
        exporter: Any = self.exporter
        if encoded is None:
            encoded = exporter.encode_spans(spans)
        errors: list[Any] = []
        others: list[Any] = []
        now, before = self._errors_now, self._errors_before
        for span, message in zip(spans, encoded, strict=True):
            context = getattr(span, "context", None)
            if context is None:  # a log record: its level decides
                is_error = getattr(span, "levelno", 0) >= logging.ERROR
            else:
                is_error = context.trace_id in now or context.trace_id in before
            (errors if is_error else others).append(message)
        for is_error, part in ((True, errors), (False, others)):
            if part:
                body = exporter.frame(part)
                redelivery.spool.put(Batch(exporter.signal, body, is_error, len(part)))
        self._spool_scanned = 0.0
        if len(now) > _ERROR_TRACES_REMEMBERED:
            self._errors_before, self._errors_now = now, {}

    def _send_spooled(self, body: bytes) -> Outcome:
        token = attach(set_value(SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            outcome: Outcome = self.exporter.send_body(body)  # type: ignore[attr-defined]
        finally:
            detach(token)
        return outcome

    def _redeliver(self) -> None:
        """Send spooled batches when due (the spool is looked at again every 30 s once
        found empty: other processes sharing it may leave some)."""
        redelivery = self.redelivery
        assert redelivery is not None
        now = time.monotonic()
        if self._spool_scanned and now - self._spool_scanned < _RESCAN_SECONDS:
            return
        if now - self._gauges_refreshed >= _GAUGES_SECONDS:  # the oldest batch's age grows
            self._gauges_refreshed = now
            redelivery.spool.refresh_gauges()
        if redelivery.backing_off():
            return
        try:
            redelivery.run_due(self._interval)
            if not redelivery.backing_off() and not redelivery.spool.batches:
                self._spool_scanned = now
        except Exception as exc:
            report_internal_error("export_spool", exc)

    def _export(self, batch: list[ReadableSpan]) -> SpanExportResult:
        if not getattr(self.exporter, "accepts_lean_spans", False):
            batch = [s.to_readable() if is_lean(s) else s for s in batch]
        return self.exporter.export(batch)

    def _log_failure(self, detail: str) -> None:
        now = time.monotonic()
        if now - self._last_failure_log > 30.0:  # at most one line per 30 s
            self._last_failure_log = now
            _log.warning("agentwatch: %s export to %s failed: %s", self._signal, self._name, detail)

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

    def drain(self, timeout_seconds: float = 5.0) -> bool:
        """Flush until the deadline, then spool what is still queued; True when nothing
        queued was left behind (sent or spooled)."""
        if self.flush(timeout_seconds):
            return True
        return self._spill()

    def _spill(self) -> bool:
        """Move every queued span to the spool (on the calling thread: shutdown only)."""
        if self.redelivery is None:
            return not self._queue
        with self._cond:
            spans = list(self._queue)
            self._queue.clear()
        if spans:
            try:
                self.spool_spans(spans)
            except Exception as exc:
                report_internal_error("export_spool", exc)
                self._dropped.labels("export_failed").inc(len(spans))
                return False
        return True

    def _spill_current(self) -> None:
        """Spool the batch the thread is still sending at the deadline (a receiver that
        does not answer): should the send succeed after all, it arrives twice, not never."""
        with self._cond:
            batch, self._current = self._current, []
        if batch:
            try:
                self.spool_spans(batch)
            except Exception as exc:
                report_internal_error("export_spool", exc)

    def shutdown(self, timeout_seconds: float = 10.0) -> None:
        """Flush until the deadline, stop the thread, spool what is left, close."""
        deadline = time.monotonic() + timeout_seconds
        self.flush(timeout_seconds)
        with self._cond:
            self._stopping = True
        self._wake.set()
        self._thread.join(max(deadline - time.monotonic(), 0.0))
        if self.redelivery is not None and self._thread.is_alive():
            self._spill_current()
        if self._queue:
            if self.redelivery is not None:
                self._spill()
            else:
                self._dropped.labels("shutdown").inc(len(self._queue))
        try:
            self.exporter.shutdown()
        except Exception:
            _log.debug("exporter shutdown failed", exc_info=True)
