"""OTLP/HTTP requests (protobuf or JSON, gzip or not) into rows the store writes.

One decode path: an OTLP/JSON body becomes the same protobuf message as a binary one
(the JSON encoding's hex trace and span ids are turned into the bytes protobuf expects),
so both arrive as identical rows. A span or log record that cannot be stored (a trace id
that is not 16 bytes, say) is rejected on its own and counted in the spec's
``partial_success``; the rest of the request is kept.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

__all__ = [
    "Batch",
    "LogRow",
    "OtlpError",
    "Resource",
    "SpanRow",
    "decode_logs",
    "decode_traces",
    "encode_answer",
]

MAX_DECOMPRESSED = 64 * 1024 * 1024
STATUS_ERROR = 2
KIND_SERVER = 2
_JSON = (",", ":")
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


class OtlpError(Exception):
    """A request the intake refuses as a whole: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Resource(NamedTuple):
    resource_id: str  # sha1 of its attributes' JSON
    attributes: str  # JSON


class SpanRow(NamedTuple):
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str  # "" for a root
    name: str
    kind: int  # OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer
    service: str
    start_ns: int
    end_ns: int
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str
    is_error: bool
    attributes: str  # JSON object
    events: str  # JSON list of {name, time_ns, attributes}
    links: str  # JSON list of {trace_id, span_id, attributes}
    resource_id: str
    scope: str  # instrumentation scope name (and version after a space)
    route: str | None  # http.route
    tokens_in: int | None  # gen_ai.usage.input_tokens
    tokens_out: int | None
    cost_usd: float | None  # agentwatch.llm.cost_usd
    error_message: str | None  # the exception message or status message of an error span
    size: int  # approximate bytes stored


class LogRow(NamedTuple):
    log_id: str  # a digest of the record, so a resent record is stored once
    trace_id: str  # "" when the record belongs to no trace
    span_id: str
    time_ns: int
    severity_number: int
    severity_text: str
    body: str
    attributes: str  # JSON object
    service: str
    resource_id: str
    size: int


class Batch(NamedTuple):
    spans: list[SpanRow]
    logs: list[LogRow]
    resources: dict[str, Resource]
    rejected: int
    error_message: str


# -- bodies -----------------------------------------------------------------------------


def _body(raw: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "deflate"):
        raise OtlpError(415, f"Content-Encoding {encoding!r} is not supported: use gzip or none")
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    try:
        data = zlib.decompressobj(wbits).decompress(raw, MAX_DECOMPRESSED + 1)
    except zlib.error as exc:
        raise OtlpError(400, f"body is not valid {encoding}: {exc}") from None
    if len(data) > MAX_DECOMPRESSED:
        raise OtlpError(413, f"decompressed body is over {MAX_DECOMPRESSED} bytes")
    return data


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        return True
    if kind in ("application/x-protobuf", "application/protobuf"):
        return False
    raise OtlpError(
        415,
        f"Content-Type {kind or '(none)'!r} is not supported: use application/x-protobuf "
        "or application/json",
    )


def _parse(message: Message, raw: bytes, content_type: str, encoding: str) -> bool:
    """Fill ``message`` from the body; returns whether the body was JSON."""
    as_json = _is_json(content_type)
    data = _body(raw, encoding)
    try:
        if as_json:
            json_format.ParseDict(
                _hex_ids_to_base64(json.loads(data)), message, ignore_unknown_fields=True
            )
        else:
            message.ParseFromString(data)
    except (DecodeError, json_format.ParseError, ValueError, TypeError) as exc:
        kind = "OTLP/JSON" if as_json else "OTLP protobuf"
        raise OtlpError(400, f"body is not a valid {kind} request: {exc}") from None
    return as_json


def _hex_ids_to_base64(value: Any) -> Any:
    """OTLP/JSON carries ids as hex; protobuf's JSON mapping expects base64."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _ID_FIELDS and isinstance(item, str):
                out[key] = _hex_to_b64(item)
            else:
                out[key] = _hex_ids_to_base64(item)
        return out
    if isinstance(value, list):
        return [_hex_ids_to_base64(item) for item in value]
    return value


def _hex_to_b64(text: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(text)).decode()
    except ValueError:
        return ""  # not hex: the span is rejected on its own by the id check


def encode_answer(response: Message, as_json: bool) -> tuple[bytes, str]:
    """The export response in the request's encoding."""
    if as_json:
        body = json_format.MessageToDict(response)
        return json.dumps(body, separators=_JSON).encode(), "application/json"
    return response.SerializeToString(), "application/x-protobuf"


# -- values -----------------------------------------------------------------------------


def any_value(value: common_pb2.AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def attributes_of(pairs: Iterable[common_pb2.KeyValue]) -> dict[str, Any]:
    return {pair.key: any_value(pair.value) for pair in pairs}


_ENCODE = json.JSONEncoder(separators=_JSON, ensure_ascii=False, default=str).encode


def _dumps(value: object) -> str:
    return _ENCODE(value) if value else ("[]" if isinstance(value, list) else "{}")


def _resource(attributes: Mapping[str, Any], resources: dict[str, Resource]) -> tuple[str, str]:
    text = json.dumps(attributes, separators=_JSON, ensure_ascii=False, sort_keys=True)
    resource_id = hashlib.sha1(text.encode()).hexdigest()
    resources.setdefault(resource_id, Resource(resource_id, text))
    service = attributes.get("service.name")
    return resource_id, str(service) if service is not None else "unknown_service"


# -- spans ------------------------------------------------------------------------------


def decode_traces(raw: bytes, content_type: str, encoding: str = "") -> tuple[Batch, bool]:
    """The rows of an ExportTraceServiceRequest body, and whether it was JSON."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    as_json = _parse(request, raw, content_type, encoding)
    spans: list[SpanRow] = []
    resources: dict[str, Resource] = {}
    rejected, first_error = 0, ""
    for resource_spans in request.resource_spans:
        resource_id, service = _resource(
            attributes_of(resource_spans.resource.attributes), resources
        )
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            scope_text = f"{scope.name} {scope.version}".strip()
            for span in scope_spans.spans:
                problem = _span_problem(span)
                if problem:
                    rejected += 1
                    first_error = first_error or problem
                    continue
                spans.append(span_row(span, service, resource_id, scope_text))
    return Batch(spans, [], resources, rejected, first_error), as_json


def _span_problem(span: Any) -> str:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return f"span {span.name!r}: trace_id must be 16 bytes, not all zero"
    if len(span.span_id) != 8 or not any(span.span_id):
        return f"span {span.name!r}: span_id must be 8 bytes, not all zero"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return f"span {span.name!r}: parent_span_id must be 8 bytes or empty"
    return ""


def span_row(span: Any, service: str, resource_id: str, scope: str) -> SpanRow:
    attributes = attributes_of(span.attributes)
    events = [
        {"name": e.name, "time_ns": e.time_unix_nano, "attributes": attributes_of(e.attributes)}
        for e in span.events
    ]
    links = [
        {
            "trace_id": link.trace_id.hex(),
            "span_id": link.span_id.hex(),
            "attributes": attributes_of(link.attributes),
        }
        for link in span.links
    ]
    error_message = _error_message(span, attributes, events)
    status = attributes.get("http.response.status_code", attributes.get("http.status_code"))
    is_error = (
        span.status.code == STATUS_ERROR
        or any(e["name"] == "exception" for e in events)
        or (span.kind == KIND_SERVER and isinstance(status, int) and status >= 500)
    )
    attributes_text, events_text, links_text = _dumps(attributes), _dumps(events), _dumps(links)
    return SpanRow(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex(),
        name=span.name,
        kind=span.kind,
        service=service,
        start_ns=span.start_time_unix_nano,
        end_ns=max(span.end_time_unix_nano, span.start_time_unix_nano),
        status_code=span.status.code,
        status_message=span.status.message,
        is_error=is_error,
        attributes=attributes_text,
        events=events_text,
        links=links_text,
        resource_id=resource_id,
        scope=scope,
        route=_text_or_none(attributes.get("http.route")),
        tokens_in=_int_or_none(attributes.get("gen_ai.usage.input_tokens")),
        tokens_out=_int_or_none(attributes.get("gen_ai.usage.output_tokens")),
        cost_usd=_float_or_none(attributes.get("agentwatch.llm.cost_usd")),
        error_message=error_message if is_error else None,
        size=160 + len(span.name) + len(attributes_text) + len(events_text) + len(links_text),
    )


def _error_message(
    span: Any, attributes: Mapping[str, Any], events: list[dict[str, Any]]
) -> str | None:
    for event in events:
        if event["name"] == "exception":
            attrs = event["attributes"]
            kind, message = attrs.get("exception.type", ""), attrs.get("exception.message", "")
            return f"{kind}: {message}".strip(": ") or "exception"
    if span.status.message:
        return str(span.status.message)
    status = attributes.get("http.response.status_code")
    return f"HTTP {status}" if status is not None else None


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float_or_none(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# -- logs -------------------------------------------------------------------------------


def decode_logs(raw: bytes, content_type: str, encoding: str = "") -> tuple[Batch, bool]:
    """The rows of an ExportLogsServiceRequest body, and whether it was JSON."""
    request = logs_service_pb2.ExportLogsServiceRequest()
    as_json = _parse(request, raw, content_type, encoding)
    logs: list[LogRow] = []
    resources: dict[str, Resource] = {}
    rejected, first_error = 0, ""
    for resource_logs in request.resource_logs:
        resource_id, service = _resource(
            attributes_of(resource_logs.resource.attributes), resources
        )
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                if record.trace_id and len(record.trace_id) != 16:
                    rejected += 1
                    first_error = first_error or "log record: trace_id must be 16 bytes or empty"
                    continue
                logs.append(log_row(record, service, resource_id))
    return Batch([], logs, resources, rejected, first_error), as_json


def log_row(record: Any, service: str, resource_id: str) -> LogRow:
    body = any_value(record.body)
    body_text = body if isinstance(body, str) else _dumps(body)
    attributes_text = _dumps(attributes_of(record.attributes))
    time_ns = record.time_unix_nano or record.observed_time_unix_nano
    trace_id, span_id = record.trace_id.hex(), record.span_id.hex()
    digest = hashlib.sha1(
        f"{time_ns}|{trace_id}|{span_id}|{record.severity_number}|{body_text}|{attributes_text}".encode()
    ).hexdigest()[:32]
    return LogRow(
        log_id=digest,
        trace_id=trace_id,
        span_id=span_id,
        time_ns=time_ns,
        severity_number=record.severity_number,
        severity_text=record.severity_text,
        body=body_text,
        attributes=attributes_text,
        service=service,
        resource_id=resource_id,
        size=120 + len(body_text) + len(attributes_text),
    )
