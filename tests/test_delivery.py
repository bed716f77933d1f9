"""Delivery end to end: real uvicorn processes, a real OTLP receiver, a real spool folder.

SIGTERM flushes every kept span; ``kill -9`` loses nothing the spool accepted (the next
process sends it); two processes sharing a spool send each batch once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry
from tests._apps import free_port, wait_until_answering
from tests._otlp_receiver import otlp_receiver

from agentwatch._export.spool import Batch, Spool, read_batch
from agentwatch._metrics.registry import Metrics

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def uvicorn_app(
    env: dict[str, str], *extra: str, log: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``tests.spool_app`` under uvicorn with ``env``, its output in ``log`` (tracebacks
    of /fail would fill a pipe); stopped (SIGKILL) if still running."""
    port = free_port()
    output = log.open("ab")
    command = [sys.executable, "-m", "uvicorn", "tests.spool_app:app", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning", *extra],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), **env},
        cwd=ROOT,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(base + "/metrics", 60)
        yield server, base
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(30)
        output.close()


def _request_traces(base: str, count: int, path: str = "fail") -> set[str]:
    """Send ``count`` requests; the trace ids the server answered with (traceresponse)."""
    ids = set()
    # a fresh connection each time: uvicorn closes one whose request raised
    with httpx.Client(base_url=base, timeout=10, headers={"connection": "close"}) as client:
        for i in range(count):
            response = client.get(f"/{path}/{i}")
            ids.add(response.headers["traceresponse"].split("-")[1])
    return ids


def _spooled_spans(folder: Path) -> int:
    """Spans in the batches of the spool folder."""
    batches = [read_batch(path) for path in folder.glob("*.batch")]
    return sum(batch.count for batch in batches if batch is not None)


def _wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_sigterm_flushes_every_kept_span_to_the_receiver(tmp_path: Path) -> None:
    with otlp_receiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "AGENTWATCH_EXPORT_INTERVAL_SECONDS": "3600",  # nothing leaves before shutdown
            "AGENTWATCH_EXPORT_BATCH_SIZE": "100000",
            "AGENTWATCH_EXPORT_SPOOL_DIR": str(tmp_path / "spool"),
            "AGENTWATCH_SUCCESS_SAMPLE_RATIO": "1.0",
        }
        with uvicorn_app(env, log=tmp_path / "app.log") as (server, base):
            errors = _request_traces(base, 30, "fail")
            successes = _request_traces(base, 30, "ok")
            assert receiver.received == []  # still queued in the process
            server.send_signal(signal.SIGTERM)
            assert server.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
        got = receiver.trace_ids()
    assert set(got) == errors | successes
    assert len(got) == 2 * 60  # server span and child span of every request
    assert not list((tmp_path / "spool").glob("*.batch"))


def test_kill_9_then_restart_sends_what_the_spool_accepted(tmp_path: Path) -> None:
    port = free_port()  # the receiver is down: nothing listens here yet
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "AGENTWATCH_EXPORT_INTERVAL_SECONDS": "0.1",
        "AGENTWATCH_EXPORT_SPOOL_DIR": str(tmp_path / "spool"),
    }
    with uvicorn_app(env, log=tmp_path / "app.log") as (server, base):
        errors = _request_traces(base, 40, "fail")
        _wait_for(lambda: _spooled_spans(tmp_path / "spool") == 80, 30, "80 spans in the spool")
        server.send_signal(signal.SIGKILL)
        server.wait(30)
    with otlp_receiver(port=port) as receiver:
        with uvicorn_app(env, log=tmp_path / "app.log"):
            _wait_for(lambda: len(receiver.trace_ids()) >= 80, 30, "the spooled spans")
        got = receiver.trace_ids()
    assert set(got) == errors
    assert len(got) == 80, "a spooled batch was sent twice or not at all"


def _spool_batches(folder: Path, count: int) -> set[bytes]:
    spool = Spool(folder, Metrics(CollectorRegistry()), max_bytes=1 << 30)
    bodies = set()
    for i in range(count):
        body = _request_body(i)
        spool.put(Batch("/v1/traces", body, error=i % 2 == 0, count=1))
        bodies.add(body)
    return bodies


def _request_body(i: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = i.to_bytes(16, "big")
    span.span_id = (i + 1).to_bytes(8, "big")
    span.name = f"spooled-{i}"
    return request.SerializeToString()


def test_two_processes_sharing_a_spool_send_each_batch_once(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    bodies = _spool_batches(folder, 60)
    with otlp_receiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "AGENTWATCH_EXPORT_SPOOL_DIR": str(folder),
            "AGENTWATCH_EXPORT_INTERVAL_SECONDS": "0.05",
        }
        with uvicorn_app(env, "--workers", "2", log=tmp_path / "app.log") as (server, _):
            _wait_for(lambda: len(receiver.received) >= 60, 60, "60 spooled batches")
            time.sleep(0.5)  # a batch sent twice would arrive now
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        received = [got.body for got in receiver.received]
    assert len(received) == 60 and set(received) == bodies, "a batch was sent twice"
    assert not list(folder.glob("*.batch"))
