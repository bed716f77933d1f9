"""A trace as rows of a waterfall: tree order, depth, and offsets to scale."""

from __future__ import annotations

from typing import Any, NamedTuple

from .queries import LogView, SpanView, TraceDetail

__all__ = ["GenAI", "WaterfallRow", "waterfall"]


class GenAI(NamedTuple):
    operation: str | None
    model: str | None
    tokens_in: int | None
    tokens_out: int | None
    cost_usd: float | None
    agent: str | None
    tool: str | None


class ExceptionView(NamedTuple):
    type: str
    message: str
    stacktrace: str


class WaterfallRow(NamedTuple):
    span: SpanView
    depth: int
    offset_pct: float  # where the bar starts, in % of the trace's duration
    width_pct: float
    duration_ns: int
    genai: GenAI | None
    exceptions: list[ExceptionView]
    logs: list[LogView]
    sentry_event_id: str | None


def _genai(attributes: dict[str, Any]) -> GenAI | None:
    if not any(key.startswith("gen_ai.") for key in attributes):
        return None
    return GenAI(
        operation=attributes.get("gen_ai.operation.name"),
        model=attributes.get("gen_ai.response.model") or attributes.get("gen_ai.request.model"),
        tokens_in=attributes.get("gen_ai.usage.input_tokens"),
        tokens_out=attributes.get("gen_ai.usage.output_tokens"),
        cost_usd=attributes.get("agentwatch.llm.cost_usd"),
        agent=attributes.get("gen_ai.agent.name"),
        tool=attributes.get("gen_ai.tool.name"),
    )


def _exceptions(span: SpanView) -> list[ExceptionView]:
    return [
        ExceptionView(
            type=str(e["attributes"].get("exception.type", "")),
            message=str(e["attributes"].get("exception.message", "")),
            stacktrace=str(e["attributes"].get("exception.stacktrace", "")),
        )
        for e in span.events
        if e["name"] == "exception"
    ]


def _tree_order(spans: list[SpanView]) -> list[tuple[SpanView, int]]:
    ids = {span.span_id for span in spans}
    children: dict[str, list[SpanView]] = {}
    roots = []
    for span in spans:  # spans come ordered by start time
        if span.parent_span_id and span.parent_span_id in ids:
            children.setdefault(span.parent_span_id, []).append(span)
        else:
            roots.append(span)
    ordered: list[tuple[SpanView, int]] = []
    stack = [(root, 0) for root in reversed(roots)]
    while stack:
        span, depth = stack.pop()
        ordered.append((span, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(span.span_id, [])))
    return ordered


def waterfall(detail: TraceDetail) -> list[WaterfallRow]:
    start = min((s.start_ns for s in detail.spans), default=0)
    end = max((s.end_ns for s in detail.spans), default=start)
    total = max(end - start, 1)
    logs_by_span: dict[str, list[LogView]] = {}
    for log in detail.logs:
        logs_by_span.setdefault(log.span_id, []).append(log)
    rows = []
    for span, depth in _tree_order(detail.spans):
        duration = max(0, span.end_ns - span.start_ns)
        offset = (span.start_ns - start) / total * 100
        rows.append(
            WaterfallRow(
                span=span,
                depth=depth,
                offset_pct=round(offset, 3),
                width_pct=round(max(duration / total * 100, 0.3), 3),
                duration_ns=duration,
                genai=_genai(span.attributes),
                exceptions=_exceptions(span),
                logs=logs_by_span.get(span.span_id, []),
                sentry_event_id=span.attributes.get("sentry.event_id"),
            )
        )
    return rows
