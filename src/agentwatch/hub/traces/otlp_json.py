"""A stored trace back as OTLP/JSON (``GET /api/v1/traces/{id}?format=otlp``).

The same JSON encoding the intake reads: hex ids, integer enums, lowerCamelCase, 64-bit
integers as strings; spans grouped by resource and scope, logs likewise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .queries import LogView, SpanView, TraceDetail

__all__ = ["any_value_json", "trace_as_otlp"]


def any_value_json(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value_json(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": _attributes(value)}}
    if value is None:
        return {}
    return {"stringValue": str(value)}


def _attributes(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": any_value_json(value)} for key, value in attributes.items()]


def _scope(text: str) -> dict[str, str]:
    name, _, version = text.partition(" ")
    return {"name": name, **({"version": version} if version else {})}


def _span(span: SpanView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "name": span.name,
        "kind": span.kind,
        "startTimeUnixNano": str(span.start_ns),
        "endTimeUnixNano": str(span.end_ns),
        "attributes": _attributes(span.attributes),
        "events": [
            {
                "timeUnixNano": str(e["time_ns"]),
                "name": e["name"],
                "attributes": _attributes(e["attributes"]),
            }
            for e in span.events
        ],
        "links": [
            {
                "traceId": link["trace_id"],
                "spanId": link["span_id"],
                "attributes": _attributes(link["attributes"]),
            }
            for link in span.links
        ],
        "status": {
            "code": span.status_code,
            **({"message": span.status_message} if span.status_message else {}),
        },
    }
    if span.parent_span_id:
        out["parentSpanId"] = span.parent_span_id
    return out


def _log(log: LogView) -> dict[str, Any]:
    return {
        "timeUnixNano": str(log.time_ns),
        "severityNumber": log.severity_number,
        "severityText": log.severity_text,
        "body": {"stringValue": log.body},
        "attributes": _attributes(log.attributes),
        "traceId": log.trace_id,
        "spanId": log.span_id,
    }


def trace_as_otlp(detail: TraceDetail) -> dict[str, Any]:
    """``{"resourceSpans": [...], "resourceLogs": [...]}`` of one trace."""
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for span in detail.spans:
        grouped.setdefault(span.resource_id, {}).setdefault(span.scope, []).append(_span(span))
    resource_spans = [
        {
            "resource": {"attributes": _attributes(detail.resources.get(resource_id, {}))},
            "scopeSpans": [
                {"scope": _scope(scope), "spans": spans} for scope, spans in scopes.items()
            ],
        }
        for resource_id, scopes in grouped.items()
    ]
    by_resource: dict[str, list[dict[str, Any]]] = {}
    for log in detail.logs:
        by_resource.setdefault(log.resource_id, []).append(_log(log))
    resource_logs = [
        {
            "resource": {"attributes": _attributes(detail.resources.get(resource_id, {}))},
            "scopeLogs": [{"scope": {}, "logRecords": records}],
        }
        for resource_id, records in by_resource.items()
    ]
    return {"resourceSpans": resource_spans, "resourceLogs": resource_logs}
