"""Reading the trace store: trace summaries errors first, one trace whole, services.

Every function takes a read connection and runs in a worker thread. The list is ordered
by (error, start, trace id) descending — errors first, then newest — and paged by an
opaque cursor holding the last row's key, so a page is one index range scan however
many traces are stored.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, or_, select, tuple_

from . import tables

__all__ = [
    "LogView",
    "SpanView",
    "TraceDetail",
    "TraceFilter",
    "TraceSummary",
    "decode_cursor",
    "get_trace",
    "list_traces",
    "operations",
    "services",
]

MAX_LIMIT = 1000


@dataclass(frozen=True)
class TraceFilter:
    service: str | None = None
    status: str | None = None  # "error" | "ok" | None
    route: str | None = None
    operation: str | None = None  # the root span's name
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    q: str | None = None
    limit: int = 50
    cursor: tuple[bool, int, str] | None = None


class TraceSummary(NamedTuple):
    trace_id: str
    service: str
    root_name: str | None
    route: str | None
    start_ns: int
    end_ns: int
    duration_ns: int
    span_count: int
    error_count: int
    is_error: bool
    tokens_in: int
    tokens_out: int
    cost_usd: float
    error_message: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "service": self.service,
            "root_name": self.root_name,
            "route": self.route,
            "status": "error" if self.is_error else "ok",
            "start_time_unix_nano": self.start_ns,
            "duration_ms": self.duration_ns / 1e6,
            "span_count": self.span_count,
            "error_count": self.error_count,
            "error_message": self.error_message,
            "genai": {
                "input_tokens": self.tokens_in,
                "output_tokens": self.tokens_out,
                "cost_usd": self.cost_usd,
            },
        }


class SpanView(NamedTuple):
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    service: str
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    is_error: bool
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    links: list[dict[str, Any]]
    resource_id: str
    scope: str


class LogView(NamedTuple):
    trace_id: str
    span_id: str
    time_ns: int
    severity_number: int
    severity_text: str
    body: str
    attributes: dict[str, Any]
    service: str
    resource_id: str


class TraceDetail(NamedTuple):
    summary: TraceSummary
    spans: list[SpanView]
    logs: list[LogView]
    resources: dict[str, dict[str, Any]]


def encode_cursor(summary: TraceSummary) -> str:
    raw = json.dumps([summary.is_error, summary.start_ns, summary.trace_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[bool, int, str] | None:
    """The key in a cursor, or None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        is_error, start_ns, trace_id = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if (
        not isinstance(is_error, bool)
        or not isinstance(start_ns, int)
        or not isinstance(trace_id, str)
    ):
        return None
    return is_error, start_ns, trace_id


def _conditions(f: TraceFilter) -> list[Any]:
    s = tables.summaries.c
    where: list[Any] = []
    if f.service:
        where.append(s.service == f.service)
    if f.status in ("error", "ok"):
        where.append(s.is_error == (f.status == "error"))
    if f.route:
        where.append(s.route == f.route)
    if f.operation:
        where.append(s.root_name == f.operation)
    if f.min_duration_ns is not None:
        where.append(s.duration_ns >= f.min_duration_ns)
    if f.max_duration_ns is not None:
        where.append(s.duration_ns <= f.max_duration_ns)
    if f.since_ns is not None:
        where.append(s.start_ns >= f.since_ns)
    if f.until_ns is not None:
        where.append(s.start_ns <= f.until_ns)
    if f.q:
        pattern = f"%{f.q}%"
        where.append(
            or_(
                s.root_name.like(pattern),
                s.route.like(pattern),
                s.error_message.like(pattern),
                s.trace_id.like(f"{f.q.lower()}%"),
            )
        )
    if f.cursor is not None:
        where.append(tuple_(s.is_error, s.start_ns, s.trace_id) < tuple_(*f.cursor))
    return where


def list_traces(conn: Connection, f: TraceFilter) -> tuple[list[TraceSummary], str | None]:
    """A page of summaries, errors first then newest, and the cursor of the next page."""
    s = tables.summaries.c
    limit = max(1, min(f.limit, MAX_LIMIT))
    query = (
        select(*[s[name] for name in TraceSummary._fields])
        .where(and_(True, *_conditions(f)))
        .order_by(s.is_error.desc(), s.start_ns.desc(), s.trace_id.desc())
        .limit(limit + 1)
    )
    rows = [_summary(row) for row in conn.execute(query)]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]) if more and rows else None


def _summary(row: Any) -> TraceSummary:
    values = row._asdict()
    values["is_error"] = bool(values["is_error"])
    return TraceSummary(**values)


def get_trace(conn: Connection, trace_id: str) -> TraceDetail | None:
    s = tables.summaries.c
    found = conn.execute(
        select(*[s[name] for name in TraceSummary._fields]).where(s.trace_id == trace_id)
    ).first()
    if found is None:
        return None
    sp = tables.spans.c
    span_rows = conn.execute(
        select(*[sp[name] for name in SpanView._fields])
        .where(sp.trace_id == trace_id)
        .order_by(sp.start_ns, sp.span_id)
    ).all()
    spans = [_span(row) for row in span_rows]
    lg = tables.logs.c
    logs = [
        LogView(**{**row._asdict(), "attributes": json.loads(row.attributes)})
        for row in conn.execute(
            select(*[lg[name] for name in LogView._fields])
            .where(lg.trace_id == trace_id)
            .order_by(lg.time_ns)
        )
    ]
    resource_ids = {span.resource_id for span in spans} | {log.resource_id for log in logs}
    return TraceDetail(_summary(found), spans, logs, _resources(conn, resource_ids))


def _span(row: Any) -> SpanView:
    values = row._asdict()
    values["is_error"] = bool(values["is_error"])
    for key in ("attributes", "events", "links"):
        values[key] = json.loads(values[key])
    return SpanView(**values)


def _resources(conn: Connection, ids: set[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    r = tables.resources.c
    rows = conn.execute(select(r.resource_id, r.attributes).where(r.resource_id.in_(sorted(ids))))
    return {row.resource_id: json.loads(row.attributes) for row in rows}


def services(conn: Connection) -> list[str]:
    s = tables.summaries.c
    return list(conn.execute(select(s.service).distinct().order_by(s.service)).scalars())


def operations(conn: Connection, service: str) -> list[tuple[str, int]]:
    """(span name, span kind) of every span of ``service``."""
    sp = tables.spans.c
    rows = conn.execute(
        select(sp.name, sp.kind).where(sp.service == service).distinct().order_by(sp.name)
    )
    return [(row.name, row.kind) for row in rows]


def traces_by_ids(conn: Connection, trace_ids: Sequence[str]) -> list[TraceDetail]:
    out = []
    for trace_id in trace_ids:
        detail = get_trace(conn, trace_id)
        if detail is not None:
            out.append(detail)
    return out
