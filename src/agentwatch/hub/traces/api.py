"""The trace API (``/api/v1/traces``, ``/api/v1/services``) and the Jaeger query subset.

Traces carry request details, so reading them needs the API token when one is configured
(Grafana's Jaeger data source sends it as a custom ``Authorization`` header).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..web import ApiError, Auth
from . import queries
from .jaeger import envelope, jaeger_trace, span_kind_name
from .otlp_json import trace_as_otlp
from .params import trace_filter
from .queries import TraceDetail, TraceFilter
from .store import TraceStore

__all__ = ["TraceApi", "check_trace_id"]

T = TypeVar("T")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


def check_trace_id(text: str) -> str:
    trace_id = text.strip().lower()
    if not _TRACE_ID.fullmatch(trace_id):
        raise ApiError(400, f"trace id {text!r} is not 32 hex digits", field="trace_id")
    return trace_id


class TraceApi:
    def __init__(self, store: TraceStore, auth: Auth, clock: Callable[[], float]) -> None:
        self.store = store
        self.auth = auth
        self.clock = clock

    async def read(self, fn: Callable[[Connection], T]) -> T:
        def run() -> T:
            with self.store.read_engine.connect() as conn:
                return fn(conn)

        return await asyncio.to_thread(run)

    async def detail(self, trace_id: str) -> TraceDetail:
        found = await self.read(lambda conn: queries.get_trace(conn, trace_id))
        if found is None:
            raise ApiError(
                404,
                f"no trace {trace_id} in the store (expired, evicted or never sent)",
                field="trace_id",
            )
        return found

    # -- agentwatch's own API --------------------------------------------------------------

    async def list_traces(self, request: Request) -> Response:
        """Trace summaries, errors first then newest, paged by cursor.
        ---
        parameters:
          - {name: service, in: query, schema: {type: string}}
          - {name: status, in: query, schema: {type: string, enum: [error, ok]}}
          - {name: route, in: query, schema: {type: string}}
          - {name: min_duration, in: query, schema: {type: string}, description: "e.g. 250ms"}
          - {name: since, in: query, schema: {type: string}, description: "RFC 3339, unix seconds or 1h"}
          - {name: until, in: query, schema: {type: string}}
          - {name: q, in: query, schema: {type: string}}
          - {name: limit, in: query, schema: {type: integer}}
          - {name: cursor, in: query, schema: {type: string}}
        responses: {200: {description: "{traces: [...], next_cursor}"}}
        """
        self.auth.require(request)
        f = trace_filter(request.query_params, self.clock)
        rows, cursor = await self.read(lambda conn: queries.list_traces(conn, f))
        return JSONResponse({"traces": [row.as_json() for row in rows], "next_cursor": cursor})

    async def show(self, request: Request) -> Response:
        """One trace: every span and the trace's log records; ``?format=otlp`` for OTLP/JSON.
        ---
        responses: {200: {description: the trace}, 404: {description: not stored}}
        """
        self.auth.require(request)
        detail = await self.detail(check_trace_id(request.path_params["trace_id"]))
        if request.query_params.get("format") == "otlp":
            return JSONResponse(trace_as_otlp(detail))
        return JSONResponse(trace_json(detail))

    async def services(self, request: Request) -> Response:
        """The services that sent traces.
        ---
        responses: {200: {description: "{services: [...]}"}}
        """
        self.auth.require(request)
        return JSONResponse({"services": await self.read(queries.services)})

    # -- Jaeger ----------------------------------------------------------------------------

    async def jaeger_services(self, request: Request) -> Response:
        self.auth.require(request)
        return JSONResponse(envelope(await self.read(queries.services)))

    async def jaeger_service_operations(self, request: Request) -> Response:
        self.auth.require(request)
        service = request.path_params["service"]
        ops = await self.read(lambda conn: queries.operations(conn, service))
        return JSONResponse(envelope(sorted({name for name, _kind in ops})))

    async def jaeger_operations(self, request: Request) -> Response:
        self.auth.require(request)
        service = request.query_params.get("service", "")
        kind = request.query_params.get("spanKind", "")
        ops = await self.read(lambda conn: queries.operations(conn, service))
        data = [
            {"name": name, "spanKind": span_kind_name(k)}
            for name, k in ops
            if not kind or span_kind_name(k) == kind
        ]
        return JSONResponse(envelope(data))

    async def jaeger_search(self, request: Request) -> Response:
        self.auth.require(request)
        f = _jaeger_filter(request, self.clock)

        def search(conn: Connection) -> list[TraceDetail]:
            rows, _ = queries.list_traces(conn, f)
            return queries.traces_by_ids(conn, [row.trace_id for row in rows])

        details = await self.read(search)
        return JSONResponse(envelope([jaeger_trace(d) for d in details]))

    async def jaeger_trace(self, request: Request) -> Response:
        self.auth.require(request)
        trace_id = check_trace_id(request.path_params["trace_id"].rjust(32, "0"))
        found = await self.read(lambda conn: queries.get_trace(conn, trace_id))
        if found is None:
            return JSONResponse(
                envelope([], errors=[{"code": 404, "msg": f"trace {trace_id} not found"}]),
                status_code=404,
            )
        return JSONResponse(envelope([jaeger_trace(found)]))


def _jaeger_filter(request: Request, clock: Callable[[], float]) -> TraceFilter:
    params = request.query_params
    f = trace_filter(
        {
            "service": params.get("service", ""),
            "operation": params.get("operation", ""),
            "min_duration": params.get("minDuration", ""),
            "max_duration": params.get("maxDuration", ""),
            "limit": params.get("limit", "20"),
        },
        clock,
    )
    since = params.get("start")
    until = params.get("end")
    lookback = params.get("lookback")
    since_ns = int(since) * 1000 if since and since.isdigit() else None
    if since_ns is None and lookback and lookback != "custom":
        from ..config import parse_duration

        seconds = parse_duration(lookback)
        since_ns = int((clock() - seconds) * 1e9) if seconds is not None else None
    until_ns = int(until) * 1000 if until and until.isdigit() else None
    tags = params.get("tags")
    status = "error" if tags and '"error":"true"' in tags.replace(" ", "") else None
    return TraceFilter(
        **{**f.__dict__, "since_ns": since_ns, "until_ns": until_ns, "status": status}
    )


def trace_json(detail: TraceDetail) -> dict[str, Any]:
    return {
        **detail.summary.as_json(),
        "spans": [
            {
                "span_id": s.span_id,
                "parent_span_id": s.parent_span_id or None,
                "name": s.name,
                "kind": span_kind_name(s.kind),
                "service": s.service,
                "start_time_unix_nano": s.start_ns,
                "end_time_unix_nano": s.end_ns,
                "duration_ms": (s.end_ns - s.start_ns) / 1e6,
                "status": {
                    "code": ("unset", "ok", "error")[s.status_code]
                    if 0 <= s.status_code <= 2
                    else "unset",
                    "message": s.status_message,
                },
                "attributes": s.attributes,
                "events": s.events,
                "links": s.links,
                "resource": detail.resources.get(s.resource_id, {}),
                "scope": s.scope,
            }
            for s in detail.spans
        ],
        "logs": [
            {
                "time_unix_nano": log.time_ns,
                "span_id": log.span_id or None,
                "severity": log.severity_text or str(log.severity_number),
                "severity_number": log.severity_number,
                "body": log.body,
                "attributes": log.attributes,
                "service": log.service,
            }
            for log in detail.logs
        ],
    }
