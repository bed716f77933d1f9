"""OTLP into the hub: three senders, one content; partial success; logs; backpressure."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace.export import SpanExportResult
from tests.hub._traces_support import agent_spans, get_json, served_hub, trace_ids, wait_for

from agentwatch._export.otlp_http import OtlpHttpExporter


def _otlp_json(spans: Any) -> bytes:
    """The OTLP/JSON encoding of ``spans``: protobuf's JSON mapping, ids in hex."""
    body = json_format.MessageToDict(encode_spans(spans))

    def hexify(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: base64.b64decode(v).hex()
                if k in ("traceId", "spanId", "parentSpanId")
                else hexify(v)
                for k, v in value.items()
            }
        return [hexify(v) for v in value] if isinstance(value, list) else value

    return json.dumps(hexify(body)).encode()


def _content(detail: dict[str, Any]) -> dict[str, Any]:
    """A stored trace without its ids, to compare what three senders stored."""
    spans = [
        {k: v for k, v in span.items() if k not in ("span_id", "parent_span_id")}
        | {
            "links": [
                {k: v for k, v in link.items() if k not in ("trace_id", "span_id")}
                for link in span["links"]
            ]
        }
        for span in detail["spans"]
    ]
    return {**{k: v for k, v in detail.items() if k not in ("trace_id", "spans")}, "spans": spans}


def test_agentwatch_stock_and_json_senders_store_identical_content(tmp_path: Path) -> None:
    t0 = time.time_ns()
    ours, stock, as_json = (agent_spans(base, start_ns=t0) for base in (1, 2, 3))
    with served_hub(tmp_path) as (_hub, url):
        exporter = OtlpHttpExporter(f"{url}/v1/traces", compression="gzip")
        assert exporter.export(ours) == SpanExportResult.SUCCESS
        exporter.shutdown()
        stock_exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces")
        assert stock_exporter.export(stock) == SpanExportResult.SUCCESS
        stock_exporter.shutdown()
        answer = httpx.post(
            f"{url}/v1/traces",
            content=_otlp_json(as_json),
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 200 and answer.json() == {}
        stored = {
            sender: [_content(get_json(f"{url}/api/v1/traces/{tid}")) for tid in trace_ids(spans)]
            for sender, spans in (("agentwatch", ours), ("stock", stock), ("json", as_json))
        }
    first = stored["agentwatch"][0]
    assert [s["name"] for s in first["spans"]] == [
        "POST /agents/{name}/run",
        "chat gpt-4o-mini",
        "execute_tool search",
    ]
    assert first["status"] == "error" and first["error_count"] == 2
    assert first["genai"] == {"input_tokens": 812, "output_tokens": 120, "cost_usd": 0.000194}
    assert first["spans"][0]["attributes"]["flags"] == ["a", "b"]
    assert first["spans"][2]["events"][0]["attributes"]["exception.type"] == "LookupError"
    assert stored["stock"] == stored["agentwatch"]
    assert stored["json"] == stored["agentwatch"]


def test_invalid_spans_are_rejected_alone_and_bad_bodies_named(tmp_path: Path) -> None:
    request = encode_spans(agent_spans(4, traces=1))
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = bytes(16)
    with served_hub(tmp_path) as (_hub, url):
        answer = httpx.post(
            f"{url}/v1/traces",
            content=request.SerializeToString(),
            headers={"content-type": "application/x-protobuf"},
        )
        partial = trace_service_pb2.ExportTraceServiceResponse.FromString(
            answer.content
        ).partial_success
        assert answer.status_code == 200 and partial.rejected_spans == 1
        assert "trace_id must be 16 bytes" in partial.error_message
        stored = get_json(f"{url}/api/v1/traces")["traces"]
        assert [t["span_count"] for t in stored] == [2]  # the two valid spans of that trace
        wrong_type = httpx.post(
            f"{url}/v1/traces", content=b"x", headers={"content-type": "text/plain"}
        )
        assert wrong_type.status_code == 415 and b"application/x-protobuf" in wrong_type.content
        garbage = httpx.post(
            f"{url}/v1/traces", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert (
            garbage.status_code == 400
            and "not a valid OTLP/JSON request" in garbage.json()["message"]
        )
        metrics = httpx.get(f"{url}/metrics").text
        assert 'agentwatch_hub_otlp_rejected_total{reason="invalid",signal="traces"} 1.0' in metrics


def test_logs_arrive_with_their_trace(tmp_path: Path) -> None:
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    resource = Resource.create({"service.name": "agent-api"})
    with served_hub(tmp_path) as (_hub, url):
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(
            SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs"))
        )
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces"))
        )
        try:
            with provider.get_tracer("t").start_as_current_span("job") as span:
                logger_provider.get_logger("tests").emit(
                    LogRecord(
                        severity_text="WARN",
                        severity_number=SeverityNumber.WARN,
                        body="retrying the provider call",
                    )
                )
                trace_id = format(span.get_span_context().trace_id, "032x")
        finally:
            logger_provider.shutdown()
            provider.shutdown()
        detail = get_json(f"{url}/api/v1/traces/{trace_id}")
    assert [(entry["severity"], entry["body"]) for entry in detail["logs"]] == [
        ("WARN", "retrying the provider call")
    ]
    assert detail["logs"][0]["span_id"] == detail["spans"][0]["span_id"]


def test_a_slow_store_answers_429_then_everything_accepted_arrives(tmp_path: Path) -> None:
    batches = [encode_spans(agent_spans(10 + n, traces=1)).SerializeToString() for n in range(3)]
    with served_hub(tmp_path, "traces: {queue_max_spans: 3}\n") as (_hub, url):
        blocker = sqlite3.connect(tmp_path / "traces.db", timeout=1)
        blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the file: the store is slow
        answers: list[int] = []

        def send(body: bytes) -> None:
            answers.append(
                httpx.post(
                    f"{url}/v1/traces",
                    content=body,
                    headers={"content-type": "application/x-protobuf"},
                    timeout=30,
                ).status_code
            )

        first = threading.Thread(target=send, args=(batches[0],))
        first.start()
        # the writer took the first batch and waits on the lock
        wait_for(lambda: "agentwatch_hub_trace_commit_rows 3.0" in httpx.get(f"{url}/metrics").text)
        second = threading.Thread(target=send, args=(batches[1],))
        second.start()  # queued behind the first
        wait_for(lambda: "agentwatch_hub_trace_queue_rows 3.0" in httpx.get(f"{url}/metrics").text)
        refused = httpx.post(
            f"{url}/v1/traces",
            content=batches[2],
            headers={"content-type": "application/x-protobuf"},
        )
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        blocker.rollback()
        blocker.close()
        first.join(30)
        second.join(30)
        again = httpx.post(
            f"{url}/v1/traces",
            content=batches[2],
            headers={"content-type": "application/x-protobuf"},
        )
        assert answers == [200, 200] and again.status_code == 200
        stored = get_json(f"{url}/api/v1/traces")["traces"]
        metrics = httpx.get(f"{url}/metrics").text
    assert len(stored) == 3 and sum(t["span_count"] for t in stored) == 9
    assert (
        'agentwatch_hub_otlp_rejected_total{reason="backpressure",signal="traces"} 3.0' in metrics
    )


@pytest.mark.parametrize("backend", ["postgres"])
def test_on_postgres_the_store_is_the_hubs_database(
    backend: str, tmp_path: Path, pg_url: str
) -> None:
    import psycopg

    with served_hub(tmp_path, database=pg_url) as (_hub, url):
        exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces")
        assert exporter.export(agent_spans(20)) == SpanExportResult.SUCCESS
        exporter.shutdown()
        listed = get_json(f"{url}/api/v1/traces", status="error")["traces"]
    assert len(listed) == 2
    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as conn:
        assert conn.execute("SELECT count(*) FROM trace_spans").fetchone() == (6,)
    assert not (tmp_path / "traces.db").exists()
