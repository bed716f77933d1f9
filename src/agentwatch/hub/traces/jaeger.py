"""The Jaeger query API's JSON, so Grafana's Jaeger data source and the Jaeger UI read the hub.

``/api/services``, ``/api/services/{service}/operations``, ``/api/operations``,
``/api/traces`` (search) and ``/api/traces/{id}``, in the shape of Jaeger's
``/api/...`` HTTP JSON (``{"data": ..., "total", "limit", "offset", "errors"}``; times in
microseconds; tags typed; one process per resource).
"""

from __future__ import annotations

import json
from typing import Any

from .queries import SpanView, TraceDetail

__all__ = ["envelope", "jaeger_trace", "span_kind_name"]

_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def span_kind_name(kind: int) -> str:
    return _KINDS.get(kind, "unspecified")


def envelope(data: Any, *, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    total = len(data) if isinstance(data, list) else 0
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}


def _tag(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, str):
        return {"key": key, "type": "string", "value": value}
    return {"key": key, "type": "string", "value": json.dumps(value)}


def _span_tags(span: SpanView) -> list[dict[str, Any]]:
    tags = [_tag(key, value) for key, value in span.attributes.items()]
    tags.append(_tag("span.kind", span_kind_name(span.kind)))
    if span.status_code == 2:
        tags.append(_tag("error", True))
        tags.append(_tag("otel.status_code", "ERROR"))
        if span.status_message:
            tags.append(_tag("otel.status_description", span.status_message))
    elif span.status_code == 1:
        tags.append(_tag("otel.status_code", "OK"))
    if span.scope:
        tags.append(_tag("otel.scope.name", span.scope.partition(" ")[0]))
    return tags


def _span(span: SpanView, process_id: str) -> dict[str, Any]:
    references = []
    if span.parent_span_id:
        references.append(
            {"refType": "CHILD_OF", "traceID": span.trace_id, "spanID": span.parent_span_id}
        )
    references.extend(
        {"refType": "FOLLOWS_FROM", "traceID": link["trace_id"], "spanID": link["span_id"]}
        for link in span.links
    )
    return {
        "traceID": span.trace_id,
        "spanID": span.span_id,
        "operationName": span.name,
        "references": references,
        "flags": 1,
        "startTime": span.start_ns // 1000,
        "duration": max(0, span.end_ns - span.start_ns) // 1000,
        "tags": _span_tags(span),
        "logs": [
            {
                "timestamp": event["time_ns"] // 1000,
                "fields": [_tag("event", event["name"])]
                + [_tag(k, v) for k, v in event["attributes"].items()],
            }
            for event in span.events
        ],
        "processID": process_id,
        "warnings": None,
    }


def jaeger_trace(detail: TraceDetail) -> dict[str, Any]:
    processes: dict[str, dict[str, Any]] = {}
    ids: dict[str, str] = {}
    spans = []
    for span in detail.spans:
        process_id = ids.get(span.resource_id)
        if process_id is None:
            process_id = ids[span.resource_id] = f"p{len(ids) + 1}"
            attributes = detail.resources.get(span.resource_id, {})
            processes[process_id] = {
                "serviceName": span.service,
                "tags": [_tag(k, v) for k, v in attributes.items() if k != "service.name"],
            }
        spans.append(_span(span, process_id))
    return {
        "traceID": detail.summary.trace_id,
        "spans": spans,
        "processes": processes,
        "warnings": None,
    }
