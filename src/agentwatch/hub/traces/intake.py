"""``POST /v1/traces`` and ``POST /v1/logs``: OTLP/HTTP, protobuf or JSON, gzip or not.

The answer comes once the batch is committed: 200 with the spec's ``partial_success`` when
some records were invalid; 429 with ``Retry-After`` when the writer's queue is full; 503
with ``Retry-After`` when the store failed or did not commit in time (the batch may still
be stored; a resend is stored once). Errors carry a ``google.rpc.Status`` in the request's
encoding, as the OTLP specification asks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from starlette.requests import Request
from starlette.responses import Response

from ..web import Auth
from .metrics import TraceMetrics
from .otlp import Batch, OtlpError, decode_logs, decode_traces, encode_answer
from .writer import TraceWriter

__all__ = ["Intake"]

MAX_BODY = 32 * 1024 * 1024
RETRY_AFTER_FULL = "1"
RETRY_AFTER_FAILED = "5"


class Intake:
    def __init__(
        self,
        writer: TraceWriter,
        metrics: TraceMetrics,
        auth: Auth,
        *,
        commit_timeout: float = 30.0,
    ) -> None:
        self.auth = auth
        self.writer = writer
        self.metrics = metrics
        self.commit_timeout = commit_timeout

    async def traces(self, request: Request) -> Response:
        """OTLP/HTTP trace export (protobuf or JSON).
        ---
        responses: {200: {description: stored}, 400: {description: not an OTLP request}, 429: {description: store busy; retry after Retry-After}}
        """
        return await self._export(request, "traces", decode_traces, _trace_answer)

    async def logs(self, request: Request) -> Response:
        """OTLP/HTTP log export (protobuf or JSON).
        ---
        responses: {200: {description: stored}, 400: {description: not an OTLP request}, 429: {description: store busy; retry after Retry-After}}
        """
        return await self._export(request, "logs", decode_logs, _logs_answer)

    async def _export(
        self,
        request: Request,
        signal: str,
        decode: Callable[[bytes, str, str], tuple[Batch, bool]],
        answer: Callable[[Batch], Any],
    ) -> Response:
        content_type = request.headers.get("content-type", "")
        as_json = content_type.split(";")[0].strip().lower() == "application/json"
        if not self.auth.allows(request):  # senders set OTEL_EXPORTER_OTLP_HEADERS
            return _status(
                401,
                "missing or invalid bearer token (Authorization: Bearer <api.token_file>)",
                as_json,
            )
        body = await request.body()
        if len(body) > MAX_BODY:
            return _status(413, f"body of {len(body)} bytes is over {MAX_BODY}", as_json)
        try:
            batch, as_json = await asyncio.to_thread(
                decode, body, content_type, request.headers.get("content-encoding", "")
            )
        except OtlpError as exc:
            return _status(exc.status, exc.message, as_json)
        if batch.rejected:
            self.metrics.rejected.labels(signal, "invalid").inc(batch.rejected)
        rows = len(batch.spans) + len(batch.logs)
        if rows:
            refused = await self._commit(batch, signal, rows, as_json)
            if refused is not None:
                return refused
        payload, media_type = encode_answer(answer(batch), as_json)
        return Response(payload, media_type=media_type)

    async def _commit(self, batch: Batch, signal: str, rows: int, as_json: bool) -> Response | None:
        done = self.writer.submit(batch)
        if done is None:
            self.metrics.rejected.labels(signal, "backpressure").inc(rows)
            return _status(429, "the trace store is behind; retry later", as_json, RETRY_AFTER_FULL)
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(done)), self.commit_timeout)
        except TimeoutError:
            self.metrics.rejected.labels(signal, "store_error").inc(rows)
            return _status(
                503,
                "the trace store did not commit in time; retry later",
                as_json,
                RETRY_AFTER_FAILED,
            )
        except Exception as exc:  # the store failed: the sender keeps the batch
            self.metrics.rejected.labels(signal, "store_error").inc(rows)
            return _status(
                503, f"the trace store failed: {type(exc).__name__}", as_json, RETRY_AFTER_FAILED
            )
        return None


def _trace_answer(batch: Batch) -> trace_service_pb2.ExportTraceServiceResponse:
    response = trace_service_pb2.ExportTraceServiceResponse()
    if batch.rejected:
        response.partial_success.rejected_spans = batch.rejected
        response.partial_success.error_message = batch.error_message
    return response


def _logs_answer(batch: Batch) -> logs_service_pb2.ExportLogsServiceResponse:
    response = logs_service_pb2.ExportLogsServiceResponse()
    if batch.rejected:
        response.partial_success.rejected_log_records = batch.rejected
        response.partial_success.error_message = batch.error_message
    return response


_GRPC_CODES = {
    400: 3,
    413: 8,
    415: 3,
    429: 8,
    503: 14,
}  # INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE


def _status(code: int, message: str, as_json: bool, retry_after: str | None = None) -> Response:
    status = status_pb2.Status(code=_GRPC_CODES.get(code, 2), message=message)
    headers = {"Retry-After": retry_after} if retry_after else {}
    if as_json:
        body = json.dumps(json_format.MessageToDict(status)).encode()
        return Response(body, status_code=code, media_type="application/json", headers=headers)
    return Response(
        status.SerializeToString(),
        status_code=code,
        media_type="application/x-protobuf",
        headers=headers,
    )
