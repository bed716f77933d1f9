"""agentwatch's own metrics, the ``agentwatch`` pack: build info, series overflow, spans and
log records dropped and exported, the export spool, internal errors and error events.
"""

from __future__ import annotations

from .spec import MetricSpec
from .spec import metric as _m

__all__ = ["AGENTWATCH_PACK"]

AGENTWATCH_PACK: list[MetricSpec] = [
    _m(
        "agentwatch_build_info",
        "gauge",
        "Service identity; always 1.",
        ("service", "version", "environment"),
        budget=5,
        mode="livemax",
    ),
    _m(
        "agentwatch_metric_overflow_total",
        "counter",
        "Observations recorded in a metric's overflow series because its label budget was spent.",
        ("metric",),
        budget=500,
    ),
    _m(
        "agentwatch_spans_dropped_total",
        "counter",
        "Spans not exported, by reason (sampled_out, queue_full, export_failed, trace_too_large, "
        "buffer_full, spool_full, spool_torn, shutdown).",
        ("reason",),
        budget=20,
    ),
    _m(
        "agentwatch_traces_sampled_total",
        "counter",
        "Sampling decisions at the local root, by decision (keep, drop) and reason.",
        ("decision", "reason"),
        budget=20,
    ),
    _m(
        "agentwatch_spans_exported_total",
        "counter",
        "Spans handed successfully to the exporter.",
        ("exporter",),
        budget=10,
    ),
    _m(
        "agentwatch_spool_bytes",
        "gauge",
        "Bytes of OTLP batches waiting in the durable spool folder.",
        unit="bytes",
        mode="livemax",
    ),
    _m(
        "agentwatch_spool_batches",
        "gauge",
        "OTLP batches waiting in the durable spool folder.",
        mode="livemax",
    ),
    _m(
        "agentwatch_spool_oldest_age_seconds",
        "gauge",
        "Age of the oldest batch waiting in the spool (0 when empty).",
        unit="seconds",
        mode="livemax",
    ),
    _m(
        "agentwatch_spool_retries_total",
        "counter",
        "Attempts to send a spooled batch that failed and will be retried, by signal.",
        ("signal",),
        budget=5,
    ),
    _m(
        "agentwatch_spool_delivered_total",
        "counter",
        "Spooled batches the receiver accepted, by signal.",
        ("signal",),
        budget=5,
    ),
    _m(
        "agentwatch_spool_evicted_total",
        "counter",
        "Spooled batches removed unsent, by reason (spool_full, torn, rejected) and kind "
        "(error, success).",
        ("reason", "kind"),
        budget=10,
    ),
    _m(
        "agentwatch_logs_dropped_total",
        "counter",
        "Log records not exported over OTLP, by reason (queue_full, export_failed).",
        ("reason",),
        budget=20,
    ),
    _m(
        "agentwatch_logs_exported_total",
        "counter",
        "Log records handed successfully to the OTLP log exporter.",
        ("exporter",),
        budget=10,
    ),
    _m(
        "agentwatch_internal_errors_total",
        "counter",
        "Errors agentwatch caught inside itself instead of raising into the application.",
        ("component",),
        budget=50,
    ),
    _m(
        "agentwatch_error_events_total",
        "counter",
        "Error events offered to Sentry, by outcome (sent, dropped, sampled_out, repeated, "
        "rate_limited, queue_full, duplicate, failed).",
        ("outcome",),
        budget=10,
    ),
]
