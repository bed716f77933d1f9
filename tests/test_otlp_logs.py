"""OTLP logs (``logs_exporter=otlp``): records reach a real local OTLP/HTTP receiver, decoded
with opentelemetry-proto's classes, with their request's trace and span ids, severity,
attributes and resource, redacted like the JSON lines, queued off the request path."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.sdk._logs._internal import std_to_otel
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from tests._apps import free_port, sample, wait_until_answering
from tests._otlp_receiver import Receiver, otlp_receiver

import agentwatch
from agentwatch import ConfigurationError
from agentwatch._export.otlp_logs import severity_number
from agentwatch._tracing.sampling import HeadSampler

log = logging.getLogger("tests.shop")
SECRETS = ["hunter2", "sk-proj-abcdefghijklmnop1234", "alice@example.com", "4111 1111 1111 1111"]


@dataclass
class Arrived:
    resource: dict[str, Any]
    scope: str
    record: LogRecord

    @property
    def body(self) -> str:
        return self.record.body.string_value

    @property
    def attributes(self) -> dict[str, Any]:
        return {kv.key: _plain(kv.value) for kv in self.record.attributes}


def _plain(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_plain(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def arrived(receiver: Receiver) -> list[Arrived]:
    out = []
    for received in receiver.received:
        assert received.path == "/v1/logs", received.path
        assert received.headers["content-type"] == "application/x-protobuf"
        for resource_logs in received.logs_request().resource_logs:
            resource = {kv.key: _plain(kv.value) for kv in resource_logs.resource.attributes}
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    out.append(Arrived(resource, scope_logs.scope.name, record))
    return out


def shop_app() -> FastAPI:
    app = FastAPI()

    @app.get("/order/{order_id}")
    async def order(order_id: int) -> dict[str, int]:
        with agentwatch.get_tracer().start_as_current_span("charge"):
            log.warning(
                "charging card 4111 1111 1111 1111 for alice@example.com",
                extra={"order_id": order_id, "api_key": "sk-proj-abcdefghijklmnop1234"},
            )
        return {"id": order_id}

    @app.get("/crash")
    async def crash() -> None:
        try:
            raise ValueError("login failed password=hunter2")
        except ValueError:
            log.exception("could not log in")

    return app


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    yield stream
    logging.getLogger().removeHandler(handler)


def _init(receiver: Receiver, app: Any = None, **options: Any) -> Any:
    from agentwatch.testing import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource({"service.name": "shop", "team": "payments"}), sampler=HeadSampler(1.0)
    )
    handle = agentwatch.init(
        app,
        registry=CollectorRegistry(),
        tracer_provider=provider,
        exporter=exporter,
        success_sample_ratio=1.0,
        environ={},
        logs_exporter="otlp",
        otlp_endpoint=receiver.url,
        **options,
    )
    return handle, exporter


async def test_logs_in_a_request_arrive_with_its_ids_severity_attributes_and_resource(
    captured: io.StringIO,
) -> None:
    app = shop_app()
    with otlp_receiver() as receiver:
        handle, exporter = _init(receiver, app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/order/7")).status_code == 200
            await client.get("/crash")
        assert handle.force_flush(10)
        exported = sample(
            handle.registry, "agentwatch_logs_exported_total", {"exporter": "OtlpHttpLogExporter"}
        )
        handle.shutdown()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    records = {a.body: a for a in arrived(receiver) if a.scope == "tests.shop"}
    charge = records["charging card [REDACTED:card] for [REDACTED:email]"]
    assert charge.record.trace_id == spans["charge"].context.trace_id.to_bytes(16, "big")
    assert charge.record.span_id == spans["charge"].context.span_id.to_bytes(8, "big")
    assert charge.record.flags == 1  # sampled
    assert (charge.record.severity_number, charge.record.severity_text) == (13, "WARNING")
    assert charge.attributes["order_id"] == 7 and charge.attributes["api_key"] == "[REDACTED]"
    assert charge.attributes["code.function.name"] == "order"
    assert charge.resource["service.name"] == "shop" and charge.resource["team"] == "payments"
    assert charge.record.time_unix_nano and charge.record.observed_time_unix_nano
    assert charge.record.observed_time_unix_nano >= charge.record.time_unix_nano
    crash = records["could not log in"]
    assert crash.record.trace_id == spans["GET /crash"].context.trace_id.to_bytes(16, "big")
    assert (crash.record.severity_number, crash.record.severity_text) == (17, "ERROR")
    assert crash.attributes["exception.type"] == "ValueError"
    assert crash.attributes["exception.message"] == "login failed password=[REDACTED]"
    assert "raise ValueError" in crash.attributes["exception.stacktrace"]
    everything = b"".join(received.plain_body() for received in receiver.received)
    for secret in SECRETS:
        assert secret.encode() not in everything
    assert exported >= 2
    # the JSON lines stay, with the same ids
    lines = [json.loads(line) for line in captured.getvalue().splitlines() if line.startswith("{")]
    json_charge = next(line for line in lines if line["message"].startswith("charging card"))
    assert json_charge["trace_id"] == charge.record.trace_id.hex()
    assert json_charge["span_id"] == charge.record.span_id.hex()
    assert json_charge["message"] == charge.body and json_charge["api_key"] == "[REDACTED]"


def test_a_record_outside_any_span_has_no_ids_and_odd_extras_arrive_as_values() -> None:
    with otlp_receiver() as receiver:
        handle, _ = _init(receiver)
        log.info(
            "plain %s",
            "text",
            extra={"items": [1, "two"], "meta": {"token": "abc", "n": 1.5}, "obj": object()},
        )
        assert handle.force_flush(10)
        handle.shutdown()
    [plain] = [a for a in arrived(receiver) if a.body == "plain text"]
    assert plain.record.trace_id == b"" and plain.record.span_id == b""
    assert plain.attributes["items"] == [1, "two"]
    assert plain.attributes["meta"] == {"token": "[REDACTED]", "n": 1.5}
    assert plain.attributes["obj"].startswith("<object object at")
    assert (plain.record.severity_number, plain.record.severity_text) == (9, "INFO")


def test_severity_numbers_are_the_opentelemetry_sdk_ones() -> None:
    assert [severity_number(n) for n in range(70)] == [std_to_otel(n).value for n in range(70)]


def test_a_full_queue_drops_the_newest_records_and_counts_them() -> None:
    with otlp_receiver() as receiver:
        # the thread wakes for a full batch or the interval: neither comes while logging
        handle, _ = _init(receiver, logs_queue_size=3, export_interval_seconds=3600)
        for n in range(10):
            log.info("record %d", n)
        dropped = sample(handle.registry, "agentwatch_logs_dropped_total", {"reason": "queue_full"})
        assert handle.force_flush(10)
        handle.shutdown()
    assert dropped == 7
    assert [a.body for a in arrived(receiver) if a.scope == "tests.shop"] == [
        "record 0",
        "record 1",
        "record 2",
    ]


def test_a_refused_export_is_counted_and_the_request_path_is_untouched() -> None:
    with otlp_receiver((400, {}, b"bad")) as receiver:
        handle, _ = _init(receiver)
        log.info("first")
        log.info("second")
        handle.force_flush(10)
        failed = sample(
            handle.registry, "agentwatch_logs_dropped_total", {"reason": "export_failed"}
        )
        handle.shutdown()
    assert failed >= 2  # the two records, and the exporter's own warning when in the batch
    assert len(receiver.received) >= 1


def test_environment_names_the_logs_endpoint_headers_and_compression() -> None:
    with otlp_receiver() as receiver:
        handle = agentwatch.init(
            registry=CollectorRegistry(),
            tracer_provider=TracerProvider(sampler=HeadSampler(1.0)),
            environ={
                "OTEL_LOGS_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",  # traces: unused here
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": receiver.url + "/custom/logs",
                "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=traces",
                "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "x-tenant=logs",
                "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "gzip",
            },
        )
        log.warning("configured")
        assert handle.log_export.flush(10)
        handle.shutdown(0.5)
    [received] = [r for r in receiver.received if r.path == "/custom/logs"]
    assert received.headers["x-tenant"] == "logs"
    assert received.headers["content-encoding"] == "gzip"
    bodies = [
        record.body.string_value
        for rl in received.logs_request().resource_logs
        for sl in rl.scope_logs
        for record in sl.log_records
    ]
    assert "configured" in bodies


def test_the_base_endpoint_gets_v1_logs_and_json_lines_are_the_default() -> None:
    with otlp_receiver() as receiver:
        handle = agentwatch.init(
            registry=CollectorRegistry(),
            tracer_provider=TracerProvider(sampler=HeadSampler(1.0)),
            environ={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url},
        )
        assert handle.log_export.handler is None  # logs_exporter defaults to none
        handle.shutdown()
        handle = agentwatch.init(
            registry=CollectorRegistry(),
            tracer_provider=TracerProvider(sampler=HeadSampler(1.0)),
            environ={
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url + "/",
                "OTEL_LOGS_EXPORTER": "otlp",
            },
        )
        log.warning("to the base")
        assert handle.force_flush(10)
        handle.shutdown()
    assert {r.path for r in receiver.received} == {"/v1/logs"}  # no span was made
    assert any(a.body == "to the base" for a in arrived(receiver))


@pytest.mark.parametrize(
    ("environ", "key", "accepted"),
    [
        ({"OTEL_LOGS_EXPORTER": "otlp"}, "OTEL_EXPORTER_OTLP_ENDPOINT", "logs_exporter=otlp"),
        (
            {
                "OTEL_LOGS_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            },
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/protobuf",
        ),
        (
            {"OTEL_LOGS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "collector:4318"},
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
            "http://",
        ),
        ({"OTEL_LOGS_EXPORTER": "kafka"}, "OTEL_LOGS_EXPORTER", "otlp or none"),
    ],
)
def test_bad_logs_settings_name_the_key(environ: dict[str, str], key: str, accepted: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        agentwatch.init(
            registry=CollectorRegistry(),
            tracer_provider=TracerProvider(),
            environ={"AGENTWATCH_TRACES_EXPORTER": "none", **environ},
        )
    assert raised.value.key == key and accepted in str(raised.value)


_UVICORN_APP = textwrap.dedent(
    """
    import logging, sys
    import uvicorn
    from fastapi import FastAPI
    import agentwatch

    app = FastAPI()

    @app.get("/ok")
    async def ok():
        logging.getLogger("shop").info("inside with token=abc123secret")
        return {"ok": True}

    agentwatch.init(app, service_name="uv", success_sample_ratio=1.0)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]))
    """
)


def test_uvicorn_access_log_records_arrive_with_the_request_trace_id() -> None:
    port = free_port()
    with otlp_receiver() as receiver:
        proc = subprocess.Popen(
            [sys.executable, "-c", _UVICORN_APP, str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                **os.environ,
                "OTEL_LOGS_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": receiver.url + "/v1/logs",
                "AGENTWATCH_TRACES_EXPORTER": "none",
                "AGENTWATCH_EXPORT_INTERVAL_SECONDS": "0.1",
            },
        )
        try:
            wait_until_answering(f"http://127.0.0.1:{port}/metrics", 30)
            tid = "4bf92f3577b34da6a3ce929d0e0e4736"
            httpx.get(
                f"http://127.0.0.1:{port}/ok?password=hunter2",
                headers={"traceparent": f"00-{tid}-00f067aa0ba902b7-01"},
            )
            wanted = {"shop", "uvicorn.access"}
            deadline = time.monotonic() + 20
            while {a.scope for a in arrived(receiver)} < wanted:  # polled, not timed
                assert time.monotonic() < deadline, proc.stderr
                time.sleep(0.05)
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=30)
    records = {a.scope: a for a in arrived(receiver) if a.scope in wanted}
    for scope in wanted:
        assert records[scope].record.trace_id.hex() == tid, (scope, out + err)
        assert records[scope].resource["service.name"] == "uv"
    assert records["shop"].body == "inside with token=[REDACTED]"
    assert "hunter2" not in records["uvicorn.access"].body
    assert b"abc123secret" not in b"".join(r.plain_body() for r in receiver.received)
    # and the JSON lines are still written
    assert any(line.startswith("{") and '"shop"' in line for line in (out + err).splitlines())


def test_the_generated_collector_configs_have_a_logs_pipeline_receiving_otlp() -> None:
    # no otelcol binary on this machine: the pipeline's shape, not a run through a Collector
    from agentwatch.ops._collector import collector_config, loadbalancer_config

    for config in (collector_config(), loadbalancer_config()):
        logs = config["service"]["pipelines"]["logs"]  # type: ignore[index]
        assert logs["receivers"] == ["otlp"]
        assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")  # type: ignore[index]
        assert set(logs["exporters"]) <= set(config["exporters"])  # type: ignore[arg-type]
        assert set(logs["processors"]) <= set(config["processors"])  # type: ignore[arg-type]
    assert collector_config()["service"]["pipelines"]["logs"]["exporters"] == ["otlphttp/loki"]  # type: ignore[index]


def test_records_the_receiver_did_not_take_wait_in_the_spool_for_the_next_process(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "spool"
    down = Receiver(url=f"http://127.0.0.1:{free_port()}")  # nothing listens: refused
    first, _ = _init(down, export_spool_dir=str(spool), export_interval_seconds=0.1)
    log.info("quiet while the receiver is down")
    log.error("loud while the receiver is down")
    first.shutdown(2.0)
    files = sorted(path.name for path in spool.glob("*.batch"))
    assert any("-e-" in name for name in files) and any("-s-" in name for name in files), files
    with otlp_receiver() as receiver:
        second, _ = _init(receiver, export_spool_dir=str(spool), export_interval_seconds=0.1)
        wanted = {"quiet while the receiver is down", "loud while the receiver is down"}
        deadline = time.monotonic() + 20
        while not wanted <= {a.body for a in arrived(receiver)}:  # polled, not timed
            assert time.monotonic() < deadline, [a.body for a in arrived(receiver)]
            time.sleep(0.05)
        delivered = sample(second.registry, "agentwatch_spool_delivered_total", {"signal": "logs"})
        second.shutdown()
    loud = next(a for a in arrived(receiver) if a.body == "loud while the receiver is down")
    assert loud.record.severity_number == 17 and loud.resource["service.name"] == "shop"
    assert delivered == 2
    assert not list(spool.glob("*.batch"))
