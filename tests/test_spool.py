"""The spool and redelivery in one process: files, eviction, torn files, Retry-After."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from prometheus_client import CollectorRegistry
from tests._apps import build_app, free_port, sample
from tests._otlp_receiver import otlp_receiver, silent_receiver

import agentwatch
from agentwatch._export.otlp_http import OtlpHttpExporter
from agentwatch._export.queue import ExportQueue
from agentwatch._export.spool import Batch, Spool, read_batch
from agentwatch._metrics.registry import Metrics


def _spool(folder: Path, registry: CollectorRegistry, max_bytes: int = 1 << 20) -> Spool:
    return Spool(folder, Metrics(registry), max_bytes=max_bytes)


def _spans(count: int) -> list[ReadableSpan]:
    tracer = TracerProvider().get_tracer("t")
    spans = []
    for i in range(count):
        span = tracer.start_span(f"s{i}")
        span.end()
        spans.append(span)
    return spans


def _trace(count: int) -> list[ReadableSpan]:
    """A root and ``count - 1`` children: one trace."""
    tracer = TracerProvider().get_tracer("t")
    root = tracer.start_span("root")
    context = trace.set_span_in_context(root)
    spans = []
    for i in range(count - 1):
        child = tracer.start_span(f"child{i}", context=context)
        child.end()
        spans.append(child)
    root.end()
    return [*spans, root]


def _queue(url: str, folder: Path, registry: CollectorRegistry) -> ExportQueue:
    metrics = Metrics(registry)
    exporter = OtlpHttpExporter(url + "/v1/traces", timeout=5)
    spool = Spool(folder, metrics, max_bytes=1 << 20)
    return ExportQueue(exporter, metrics, batch_size=64, interval_seconds=0.05, spool=spool)


def _wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_batch_is_a_renamed_fsynced_file_read_back_whole(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    spool = _spool(tmp_path, registry)
    assert spool.put(Batch("/v1/logs", b"\x0a\x00body", error=True, count=3))
    (name,) = os.listdir(tmp_path)  # no temporary file left beside it
    assert name.endswith(f"-e-{os.getpid()}-1.batch")
    assert read_batch(tmp_path / name) == Batch("/v1/logs", b"\x0a\x00body", True, 3)
    assert sample(registry, "agentwatch_spool_batches") == 1
    assert sample(registry, "agentwatch_spool_bytes") == (tmp_path / name).stat().st_size
    claim = spool.claim()
    assert claim is not None and claim.batch.signal == "/v1/logs"
    assert spool.claim() is None  # the one file is locked by the claim
    claim.done()
    spool.refresh_gauges()  # (a redelivery pass refreshes them once at its end)
    assert os.listdir(tmp_path) == [] and sample(registry, "agentwatch_spool_batches") == 0


def test_full_spool_evicts_success_batches_oldest_first_then_error_batches(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    body = b"x" * 1000
    size = len(body) + 35  # header and signal
    spool = _spool(tmp_path, registry, max_bytes=3 * size)
    for error, count in ((True, 1), (False, 2), (False, 4)):
        assert spool.put(Batch("/v1/traces", body, error, count))
    assert spool.put(Batch("/v1/traces", body, True, 8))  # evicts the oldest success (2)
    left = sorted(read_batch(p).count for p in tmp_path.iterdir())  # type: ignore[union-attr]
    assert left == [1, 4, 8]
    assert spool.put(Batch("/v1/traces", body, False, 16))  # evicts the older success (4)
    assert spool.put(Batch("/v1/traces", body, True, 32))  # evicts the last success (16)
    assert not spool.put(Batch("/v1/traces", body, False, 64))  # success never evicts errors
    assert spool.put(Batch("/v1/traces", body, True, 128))  # evicts the oldest error (1)
    left = sorted(read_batch(p).count for p in tmp_path.iterdir())  # type: ignore[union-attr]
    assert left == [8, 32, 128]
    dropped = {"reason": "spool_full"}
    assert sample(registry, "agentwatch_spans_dropped_total", dropped) == 2 + 4 + 16 + 64 + 1
    evicted = "agentwatch_spool_evicted_total"
    assert sample(registry, evicted, {"reason": "spool_full", "kind": "success"}) == 4
    assert sample(registry, evicted, {"reason": "spool_full", "kind": "error"}) == 1


def test_torn_files_are_skipped_counted_and_removed(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    spool = _spool(tmp_path, registry)
    for i in range(3):
        spool.put(Batch("/v1/traces", _body(i), error=True, count=1))
    first, second, third = sorted(tmp_path.iterdir())
    first.write_bytes(first.read_bytes()[:-5])  # cut short by a crash
    data = bytearray(second.read_bytes())
    data[-1] ^= 0xFF  # a bit flipped on disk: the checksum tells
    second.write_bytes(bytes(data))
    (tmp_path / "00000000000000000001-s-1-1.batch").write_bytes(b"not a batch")
    claim = spool.claim()
    assert claim is not None and claim.path == third and claim.batch.body == _body(2)
    claim.release()
    assert sorted(tmp_path.iterdir()) == [third]
    assert (
        sample(registry, "agentwatch_spool_evicted_total", {"reason": "torn", "kind": "error"}) == 2
    )
    assert sample(registry, "agentwatch_spans_dropped_total", {"reason": "spool_torn"}) == 2


def _body(i: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = (i + 1).to_bytes(16, "big")
    span.span_id = (i + 1).to_bytes(8, "big")
    span.name = f"spooled-{i}"
    return request.SerializeToString()


def test_a_429_retry_after_is_honoured_and_the_batch_waits_on_disk(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    with otlp_receiver((429, {"Retry-After": "2"}, b""), (503, {"Retry-After": "120"}, b"")) as r:
        queue = _queue(r.url, tmp_path, registry)
        queue.put_error_trace(_trace(3))
        _wait_for(lambda: r.received and queue.redelivery.spool.batches, 10, "429")  # type: ignore[union-attr]
        _wait_for(lambda: len(r.received) == 2, 10, "the retry")
        # not before Retry-After (the backoff alone would retry after 0.8 to 1.2 s)
        assert r.received[1].at - r.received[0].at >= 2.0
        assert r.received[1].body == r.received[0].body
        redelivery = queue.redelivery
        assert redelivery is not None
        # the 503's Retry-After, once its answer is read (the receiver counts it before)
        _wait_for(lambda: redelivery.retry_in() > 100, 10, "the 503 to be read")
        assert redelivery.backing_off() and redelivery.spool.batches == 1
        queue.put_many(_spans(2))  # while backing off, new batches go straight to disk
        assert queue.flush(5) and len(r.received) == 2 and redelivery.spool.batches == 2
        queue.shutdown(1)
    assert sample(registry, "agentwatch_spool_retries_total", {"signal": "traces"}) == 1
    assert (
        sample(registry, "agentwatch_spans_exported_total", {"exporter": "OtlpHttpExporter"}) == 0
    )


def test_spooled_batches_are_delivered_when_the_receiver_is_back(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    port = free_port()
    queue = _queue(f"http://127.0.0.1:{port}", tmp_path, registry)
    queue.put_error_trace(_spans(2))
    queue.put_many(_spans(5))
    assert queue.flush(5)
    redelivery = queue.redelivery
    assert redelivery is not None
    batches = [read_batch(p) for p in tmp_path.iterdir()]
    errors = sum(b.count for b in batches if b and b.error)
    successes = sum(b.count for b in batches if b and not b.error)
    assert (errors, successes) == (1, 6)  # put_error_trace takes one trace: its first span's
    with otlp_receiver(port=port) as receiver:
        _wait_for(lambda: not redelivery.spool.batches, 30, "the spool to empty")
        queue.shutdown(1)
    assert len(receiver.trace_ids()) == 7
    assert sample(registry, "agentwatch_spool_delivered_total", {"signal": "traces"}) == len(
        batches
    )


def test_shutdown_spools_what_it_could_not_send(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    queue = _queue(f"http://127.0.0.1:{free_port()}", tmp_path, registry)
    queue.put_error_trace(_spans(4))
    queue.shutdown(2)
    assert sum(read_batch(p).count for p in tmp_path.iterdir()) == 4  # type: ignore[union-attr]


def test_shutdown_spools_the_batch_a_silent_receiver_holds(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    with silent_receiver() as url:
        metrics = Metrics(registry)
        exporter = OtlpHttpExporter(url + "/v1/traces", timeout=2)
        spool = Spool(tmp_path, metrics, max_bytes=1 << 20)
        queue = ExportQueue(exporter, metrics, batch_size=8, interval_seconds=0.05, spool=spool)
        queue.put_error_trace(_trace(3))
        _wait_for(lambda: queue._in_flight, 5, "the send to start")
        queue.shutdown(0.2)  # the receiver still has not answered
        batches = [read_batch(p) for p in tmp_path.iterdir()]
        assert [(b.count, b.error) for b in batches if b] == [(3, True)]
        time.sleep(2.5)  # the send times out: the thread must not spool the batch again
        assert len(list(tmp_path.iterdir())) == 1


def test_spool_folder_default_and_none(state_home: str) -> None:
    with otlp_receiver() as receiver:
        for spool_dir, expected in (
            (None, Path(state_home) / "agentwatch" / "spooled-api" / "spool"),
            ("none", None),
        ):
            handle = agentwatch.init(
                build_app(),
                registry=CollectorRegistry(),
                tracer_provider=TracerProvider(),
                service_name="spooled-api",
                otlp_endpoint=receiver.url,
                export_spool_dir=spool_dir,
                environ={},
            )
            queue = handle.tracing.queue
            assert queue is not None
            found = queue.redelivery.spool.folder if queue.redelivery else None
            handle.shutdown()
            assert found == expected


def test_a_bad_spool_max_bytes_names_the_key() -> None:
    with pytest.raises(agentwatch.ConfigurationError, match="AGENTWATCH_EXPORT_SPOOL_MAX_BYTES"):
        agentwatch.init(environ={"AGENTWATCH_EXPORT_SPOOL_MAX_BYTES": "lots"})
