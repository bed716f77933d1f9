"""Error-priority tail sampling: every error trace kept, a deterministic share of the rest.

Every span is recorded; :class:`ErrorPriorityProcessor` buffers the spans of each trace
and decides when the trace's *local root* ends (a span with no parent, or a remote
parent). It keeps the whole local trace when

1. any span has status ERROR, recorded an exception, or is an HTTP server span with a
   status >= 500 (reason ``error``);
2. the local root lasted longer than the slow threshold (reason ``slow``);
3. otherwise, when the trace id's random bits fall in the kept share (reason ``ratio``).

Rule 3 is deterministic: it reads the low 56 bits of the trace id (the W3C Level 2 random
bits) and keeps the trace when they are at or above ``(1 - ratio) * 2**56``, the rejection
threshold of OpenTelemetry's consistent probability sampling. Every process running
agentwatch with the same ratio makes the same choice, so kept successful traces arrive
whole. :class:`HeadSampler` sets the W3C ``sampled`` flag from the same rule, so
downstream services that honour the flag agree too.

The unit of the decision is the trace, not the request. A trace may span several requests
of this service: a later request joining it through ``traceparent`` (a client continuing
an agent run, a job calling back), or the service calling itself. agentwatch keeps such a
trace whole in one process by two rules:

4. *Kept-trace memory.* Once a trace is kept here, every later span and every later
   request of it is kept too (reason ``joined``), server span and children together;
   a drop is never remembered over a keep. An error in a later request of a dropped trace
   keeps that whole request (its server span with its children, never a child alone).
5. *One decision for nested requests.* A local root that ends while another local root of
   the same trace is still open in this process (the service called itself) does not
   decide: its spans stay buffered and the outermost request decides for all of them.

The incoming ``sampled`` flag does not force a keep: it is the caller's head decision, made
before any error is known, and an untrusted caller could set it on every request to
defeat the budget. Between agentwatch services the ratio rule already agrees with it (same
trace id, same ratio). Across worker processes of one service the memory is not shared:
a joined request landing on another worker is decided by rules 1-3 alone, so its own
errors keep it whole, and a success is kept by the ratio it shares with the first request.

Memory is bounded. A trace past ``max_spans_per_trace`` spans, or the oldest trace when
``max_pending_traces`` are waiting, is decided early: kept when it already has an error or
passes rule 3, else its buffered spans are dropped and counted in
``agentwatch_spans_dropped_total{reason}``. Decisions are counted in
``agentwatch_traces_sampled_total{decision,reason}``. Nothing is dropped silently.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, StatusCode, get_current_span
from opentelemetry.util.types import Attributes

from .._metrics.registry import Metrics

__all__ = ["RANDOM_MASK", "ErrorPriorityProcessor", "HeadSampler", "keeps_success"]

_RANDOM_BITS = 56
RANDOM_MASK = (1 << _RANDOM_BITS) - 1
Sink = Callable[[list[ReadableSpan]], None]
_ERROR_REASONS = frozenset({"error", "early_error", "late_error"})


def rejection_threshold(ratio: float) -> int:
    """Traces whose 56 random bits are >= this value are kept."""
    return round((1.0 - ratio) * (1 << _RANDOM_BITS))


def keeps_success(trace_id: int, ratio: float) -> bool:
    """Whether a successful, fast trace with this id is kept at this ratio."""
    return (trace_id & RANDOM_MASK) >= rejection_threshold(ratio)


class HeadSampler(Sampler):
    """Records every span; sets the ``sampled`` flag by the same rule the tail uses."""

    def __init__(self, ratio: float) -> None:
        self.ratio = ratio
        self.threshold = rejection_threshold(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Any] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        keep = (trace_id & RANDOM_MASK) >= self.threshold
        parent_state = get_current_span(parent_context).get_span_context().trace_state
        decision = Decision.RECORD_AND_SAMPLE if keep else Decision.RECORD_ONLY
        return SamplingResult(decision, attributes, parent_state or None)

    def keeps(self, trace_id: int) -> bool:
        """The head decision for a trace: whether a successful, fast trace is kept."""
        return (trace_id & RANDOM_MASK) >= self.threshold

    def get_description(self) -> str:
        return f"AgentwatchErrorPriority{{ratio={self.ratio}}}"


def is_error_span(span: ReadableSpan) -> bool:
    """ERROR status, a recorded exception, or an HTTP server span answering >= 500."""
    if span.status.status_code is StatusCode.ERROR:
        return True
    for event in span.events:
        if event.name == "exception":
            return True
    if span.kind is SpanKind.SERVER:
        attributes = span.attributes or {}
        status = attributes.get("http.response.status_code", attributes.get("http.status_code", 0))
        return isinstance(status, int) and status >= 500
    return False


class _TraceBuffer:
    __slots__ = ("error", "spans")

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []
        self.error = False


class ErrorPriorityProcessor(SpanProcessor):
    """Buffers each trace's spans and hands kept traces, whole, to ``sink``."""

    def __init__(
        self,
        sink: Sink,
        metrics: Metrics,
        *,
        error_sink: Sink | None = None,
        ratio: float = 0.10,
        slow_threshold_seconds: float = 2.0,
        max_spans_per_trace: int = 512,
        max_pending_traces: int = 4096,
        remembered_decisions: int = 8192,
    ) -> None:
        self._sink = sink
        self._error_sink = sink if error_sink is None else error_sink  # kept error traces
        self._threshold = rejection_threshold(ratio)
        self._slow_ns = int(slow_threshold_seconds * 1e9)
        self._max_spans = max_spans_per_trace
        self._max_pending = max_pending_traces
        self._remembered = remembered_decisions
        self._pending: dict[int, _TraceBuffer] = {}
        self._decided: OrderedDict[int, bool] = OrderedDict()
        self._open: dict[int, int] = {}  # local roots started here and not ended, per trace
        self._lock = threading.Lock()
        self._active = True
        self._sampled = metrics["agentwatch_traces_sampled_total"]
        self._dropped = metrics["agentwatch_spans_dropped_total"]
        self._ratio_drops = self._sampled.tallied("drop", "ratio")

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        parent = span.parent
        if parent is None or parent.is_remote:
            self.open_root(span.context.trace_id)

    def open_root(self, trace_id: int) -> None:
        """A local root of ``trace_id`` starts (an SDK root span, or a lean ``ServerSpan``).

        Counted while it runs, so that a nested root of the same trace leaves the decision
        to it (rule 5). Bounded like the buffers: past ``max_pending_traces`` open traces
        the oldest is forgotten (a root that never ends leaks no memory).
        """
        with self._lock:
            open_roots = self._open
            open_roots[trace_id] = open_roots.get(trace_id, 0) + 1
            if len(open_roots) > self._max_pending:
                del open_roots[next(iter(open_roots))]

    def _close_root(self, trace_id: int) -> bool:
        """Under the lock: a local root ends; True when another of its trace is still open."""
        count = self._open.pop(trace_id, 1) - 1
        if count > 0:
            self._open[trace_id] = count
            return True
        return False

    def on_end_server(self, span: Any, error: bool) -> None:
        """The request path's end of an agentwatch ``ServerSpan`` (a local root); ``error``
        says whether the span is an error span (:func:`is_error_span`).

        A root whose trace has no buffered spans is decided here without building a
        buffer: the same rules as :meth:`on_end` in a handful of operations.
        """
        trace_id = span.context.trace_id
        if error:
            reason = "error"
        elif span.end_time - span.start_time > self._slow_ns:
            reason = "slow"
        else:
            reason = "ratio" if (trace_id & RANDOM_MASK) >= self._threshold else ""
        with self._lock:  # a child ending on another thread now must see the decision
            if not self._active:
                return
            if trace_id in self._pending or self._open.get(trace_id, 1) > 1:
                outcome = self._add(trace_id, span, error, True)
                buffered = True
            else:
                self._open.pop(trace_id, None)
                if not reason and self._decided.get(trace_id):
                    reason = "joined"
                self._remember(trace_id, bool(reason))
                buffered = False
        if buffered:
            if outcome is not None:
                self._settle(*outcome)
        elif not reason:
            self._ratio_drops.inc()
        else:
            self._sampled.tallied("keep", reason).inc()
            if error:
                self._error_sink([span])
            else:
                self._sink([span])

    def on_end(self, span: ReadableSpan) -> None:
        if not self._active:
            return
        parent = span.parent
        is_root = parent is None or parent.is_remote
        error = is_error_span(span)
        trace_id = span.context.trace_id  # type: ignore[union-attr]
        with self._lock:
            outcome = self._add(trace_id, span, error, is_root)
        if outcome is not None:
            self._settle(*outcome)

    def _add(
        self, trace_id: int, span: ReadableSpan, error: bool, is_root: bool
    ) -> tuple[list[ReadableSpan], str, str] | None:
        if is_root and self._close_root(trace_id):
            is_root = False  # a nested local root: buffered, the outer one decides (rule 5)
        buffer = self._pending.get(trace_id)
        if buffer is None:
            late = self._decided.get(trace_id)
            if late is not None and not is_root and trace_id not in self._open:
                # a span ending after its root was decided, no request of its trace open
                keep = late or error
                if keep and not late:
                    self._remember(trace_id, True)
                return (
                    [span],
                    "keep" if keep else "drop",
                    "late_error" if error and not late else "late",
                )
            buffer = _TraceBuffer()
            self._pending[trace_id] = buffer
            evicted = self._evict_oldest() if len(self._pending) > self._max_pending else None
            if evicted is not None:
                return evicted
        buffer.spans.append(span)
        buffer.error = buffer.error or error
        if is_root:
            del self._pending[trace_id]
            return self._decide_at_root(trace_id, buffer, span)
        if len(buffer.spans) >= self._max_spans:
            return self._decide_early(trace_id, buffer, "trace_too_large", keep_buffer=True)
        return None

    def _decide_at_root(
        self, trace_id: int, buffer: _TraceBuffer, root: ReadableSpan
    ) -> tuple[list[ReadableSpan], str, str]:
        if buffer.error:
            reason = "error"
        elif (root.end_time or 0) - (root.start_time or 0) > self._slow_ns:
            reason = "slow"
        elif (trace_id & RANDOM_MASK) >= self._threshold:
            reason = "ratio"
        elif self._decided.get(trace_id):
            reason = "joined"  # an earlier request of this trace was kept here (rule 4)
        else:
            self._remember(trace_id, False)
            return buffer.spans, "drop", "ratio"
        self._remember(trace_id, True)
        return buffer.spans, "keep", reason

    def _decide_early(
        self, trace_id: int, buffer: _TraceBuffer, why: str, keep_buffer: bool
    ) -> tuple[list[ReadableSpan], str, str]:
        spans = buffer.spans
        if keep_buffer:  # the trace goes on: start a fresh buffer, remember errors seen
            self._pending[trace_id] = fresh = _TraceBuffer()
            fresh.error = buffer.error
        if buffer.error:
            return spans, "keep", "early_error"
        if (trace_id & RANDOM_MASK) >= self._threshold or self._decided.get(trace_id):
            return spans, "keep", "early_ratio"
        return spans, "drop", why

    def _evict_oldest(self) -> tuple[list[ReadableSpan], str, str] | None:
        oldest_id = next(iter(self._pending))
        buffer = self._pending.pop(oldest_id)
        if not buffer.spans:
            return None
        spans, decision, reason = self._decide_early(
            oldest_id, buffer, "buffer_full", keep_buffer=False
        )
        self._remember(oldest_id, decision == "keep")
        return spans, decision, reason

    def _remember(self, trace_id: int, keep: bool) -> None:
        """Record a decision; a keep is never overwritten by a drop (rule 4)."""
        decided = self._decided
        previous = decided.get(trace_id)
        if previous is not None:
            decided[trace_id] = keep or previous
            decided.move_to_end(trace_id)
            return
        decided[trace_id] = keep
        if len(decided) > self._remembered:
            decided.popitem(last=False)

    def _settle(self, spans: list[ReadableSpan], decision: str, reason: str) -> None:
        if reason == "late":  # follows its trace's decision, already counted
            if decision == "keep":
                self._sink(spans)
            return
        if decision == "keep":
            self._sampled.labels("keep", reason).inc()
            if reason in _ERROR_REASONS:
                self._error_sink(spans)
            else:
                self._sink(spans)
        elif reason == "ratio":
            self._sampled.labels("drop", reason).inc()
        else:  # an early decision under memory pressure lost these spans
            self._sampled.labels("drop", reason).inc()
            self._dropped.labels(reason).inc(len(spans))

    @property
    def pending_traces(self) -> int:
        return len(self._pending)

    def shutdown(self) -> None:
        self._active = False

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
