"""Exporters chosen by settings, against real receivers; runtime pack; SDK disabled."""

from __future__ import annotations

import asyncio
import json
from concurrent import futures
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from tests._apps import build_app, sample

import agentwatch
from agentwatch._metrics.runtime import LoopLagProbe


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metadata: list[dict[str, str]] = []

    def Export(self, request, context):
        self.requests.append(request)
        self.metadata.append(dict(context.invocation_metadata()))
        return trace_service_pb2.ExportTraceServiceResponse()


def test_otlp_grpc_reaches_a_real_grpc_collector() -> None:
    collector = _Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        handle = agentwatch.init(
            registry=CollectorRegistry(),
            tracer_provider=TracerProvider(sampler=agentwatch.ErrorPrioritySampler(1.0)),
            environ={
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme",
                "OTEL_SERVICE_NAME": "grpc-test",
            },
            success_sample_ratio=1.0,
        )
        with handle.tracer.start_as_current_span("over-grpc"):
            pass
        assert handle.force_flush(15)
        handle.shutdown()
    finally:
        server.stop(None)
    spans = [
        s
        for r in collector.requests
        for rs in r.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    ]
    assert [s.name for s in spans] == ["over-grpc"]
    assert collector.metadata[0].get("x-tenant") == "acme"


async def test_file_exporter_writes_one_json_line_per_kept_span(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    app = build_app()
    handle = agentwatch.init(
        app,
        registry=CollectorRegistry(),
        tracer_provider=TracerProvider(
            sampler=agentwatch.ErrorPrioritySampler(0.0),
            resource=Resource({"service.name": "file-test"}),
        ),
        environ={"AGENTWATCH_TRACES_EXPORTER": "file", "AGENTWATCH_TRACES_FILE": str(path)},
        success_sample_ratio=0.0,
        service_name="file-test",
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/ok/1")
        await client.get("/fail/2")
    handle.shutdown()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(line["name"] for line in lines) == ["GET /fail/{item_id}", "child.work"]
    server = next(line for line in lines if line["kind"] == "SERVER")
    assert server["status"] == "ERROR" and server["service"] == "file-test"
    assert server["events"][0]["attributes"]["exception.type"] == "RuntimeError"
    assert (
        "Traceback (most recent call last)"
        in server["events"][0]["attributes"]["exception.stacktrace"]
    )


async def test_sdk_disabled_keeps_metrics_and_records_no_span() -> None:
    app = build_app()
    handle = agentwatch.init(
        app, registry=CollectorRegistry(), environ={"OTEL_SDK_DISABLED": "true"}
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/ok/1")
    assert handle.tracing.processor is None and not handle.tracer.start_span("x").is_recording()
    assert (
        sample(
            handle.registry,
            "http_requests_total",
            {"method": "GET", "route": "/ok/{item_id}", "status": "200"},
        )
        == 1
    )
    handle.shutdown()


async def test_event_loop_lag_is_measured_on_the_running_loop() -> None:
    from agentwatch._metrics.registry import Metrics

    registry = CollectorRegistry()
    probe = LoopLagProbe(Metrics(registry), interval_seconds=0.05)
    probe.start()
    await asyncio.sleep(0.06)
    import time

    time.sleep(0.2)  # block the loop: the probe must see at least most of it
    await asyncio.sleep(0.1)
    await probe.stop()
    assert sample(registry, "asyncio_event_loop_lag_max_seconds") >= 0.1
    assert sample(registry, "asyncio_tasks") >= 1


async def test_runtime_collectors_on_a_fresh_registry() -> None:
    app = build_app()
    handle = agentwatch.init(
        app,
        registry=CollectorRegistry(),
        tracer_provider=TracerProvider(),
        environ={},
        service_name="rt",
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        body = (await client.get("/metrics")).text
    for name in [
        "process_resident_memory_bytes",
        "python_gc_collections_total",
        "python_info",
        "agentwatch_build_info",
    ]:
        assert name in body
    assert (
        'agentwatch_build_info{environment="development",service="rt",version="0.0.0"} 1.0' in body
    )
    handle.shutdown()


def test_signal_specific_otlp_variables_win_and_the_traces_endpoint_is_used_as_given() -> None:
    from tests._apps import recording_server

    from agentwatch._settings import load_settings

    with recording_server() as server:
        environ = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",  # nothing listens there
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{server.server_port}/t",
            "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=generic",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-tenant=traces",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        }
        handle = agentwatch.init(
            registry=CollectorRegistry(),
            tracer_provider=TracerProvider(sampler=agentwatch.ErrorPrioritySampler(1.0)),
            environ=environ,
            success_sample_ratio=1.0,
        )
        with handle.tracer.start_as_current_span("signal-specific"):
            pass
        assert handle.force_flush(10)
        handle.shutdown()
        path, headers, body = server.received[0]
    assert path == "/t" and headers["x-tenant"] == "traces"
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    assert request.resource_spans[0].scope_spans[0].spans[0].name == "signal-specific"
    assert load_settings({}, environ).otlp_timeout_ms == 2500


def test_an_unreadable_otlp_certificate_is_a_configuration_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-ca.pem")
    for protocol in ("http/protobuf", "grpc"):
        with pytest.raises(agentwatch.ConfigurationError, match="OTEL_EXPORTER_OTLP_CERTIFICATE"):
            agentwatch.init(
                registry=CollectorRegistry(),
                tracer_provider=TracerProvider(),
                environ={
                    "OTEL_EXPORTER_OTLP_ENDPOINT": "https://127.0.0.1:4318",
                    "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
                    "OTEL_EXPORTER_OTLP_CERTIFICATE": missing,
                },
            )


def test_a_setting_refused_late_leaves_nothing_registered() -> None:
    registry = CollectorRegistry()
    with pytest.raises(agentwatch.ConfigurationError, match="OTEL_EXPORTER_OTLP_ENDPOINT"):
        agentwatch.init(
            registry=registry,
            tracer_provider=TracerProvider(),
            environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://collector:4318"},
        )
    assert list(registry.collect()) == []
    handle = agentwatch.init(registry=registry, tracer_provider=TracerProvider(), environ={})
    identity = {"service": "unknown_service", "version": "0.0.0", "environment": "development"}
    assert registry.get_sample_value("agentwatch_build_info", identity) == 1
    handle.shutdown()
