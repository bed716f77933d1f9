"""What exporting a kept span costs: agentwatch's OtlpHttpExporter vs the stock OTLPSpanExporter.

    python bench/otlp_export.py [--rounds 5] [--batches 10] [--encode-only]

Spans are real: requests through a small FastAPI app under ``agentwatch.init()``, each
server span captured in its route (``trace.get_current_span()``, agentwatch's lean
``ServerSpan``) with 12 attributes; failing requests raise through 14 frames, so their span
carries an ``exception`` event with a ~4 KB stack trace. Every configuration gets spans of
its own (url.path, client port and messages unique per request), so the encoder's caches
see what they would in production, not the same spans again.

Batches of 128 spans are exported over HTTP to a sink in another process (keep-alive,
answers 200). Measured per span: CPU time of the exporting thread (``time.thread_time``,
encoding + compression + sending) and wall time. The spans made up front are frozen out of
the garbage collector's way. Rounds are interleaved in shuffled order:

- ours (lean):   OtlpHttpExporter given the ServerSpans, as the export queue hands them over.
- ours:          OtlpHttpExporter given ReadableSpans (``to_readable()``).
- stock:         OTLPSpanExporter given ReadableSpans (the conversion, which the export
                 queue does for exporters that cannot take lean spans, printed apart).
- ours gzip / stock gzip: the same with gzip compression.

Printed: µs/span CPU and wall per configuration and kind, and ours / stock.

Then what the export queue pays on the request thread when a trace is kept: encoding one
span at a time (``encode_spans([span])``), CPU µs/span in interleaved rounds, each
configuration on spans of its own:

- ours (lean):    TraceRequestEncoder given the ServerSpan (its fast path).
- ours (generic): TraceRequestEncoder given the same span as an SDK ReadableSpan with plain
                  dict event attributes (what an SDK span takes; converted beforehand).
- stock:          the stock ``encode_spans`` of that ReadableSpan, serialized.

Printed per configuration and kind: the median and range of the rounds. The spans were
made before the rounds (read cold from memory) while the encoder's code and caches stay
warm, as in the export thread, which encodes a batch at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.server
import random
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

CONFIGS = ("ours (lean)", "ours", "stock", "ours gzip", "stock gzip")
ENCODERS = ("ours (lean)", "ours (generic)", "stock")
KINDS = ("ok", "error")
BATCH = 128


class _Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a collector

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def _serve_sink() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def _ping(depth: int, item: int) -> None:
    if depth:
        _pong(depth - 1, item)  # alternating frames: the traceback does not fold them
    raise RuntimeError(f"item {item} failed: upstream answered 503")


def _pong(depth: int, item: int) -> None:
    _ping(depth, item)


def _app(captured: list[Any]) -> Any:
    from fastapi import FastAPI
    from opentelemetry import trace

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        span = trace.get_current_span()
        span.set_attribute("app.tenant", "acme")
        span.set_attribute("app.items", item_id % 7)
        captured.append(span)
        if item_id % 2:
            _ping(6, item_id)
        return {"id": item_id}

    return app


async def _make_spans(wanted: list[tuple[str, int]]) -> list[list[Any]]:
    """Ended server spans from real requests: one list per ``(kind, count)`` wanted."""
    import httpx
    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import CollectorRegistry

    import agentwatch
    from agentwatch.testing import InMemorySpanExporter

    captured: list[Any] = []
    app = _app(captured)
    handle = agentwatch.init(
        app,
        registry=CollectorRegistry(),
        exporter=InMemorySpanExporter(),
        # a provider per run: the global one would collect every run's processor, and
        # agentwatch makes lean spans only for a provider whose sole processor is its own
        tracer_provider=TracerProvider(sampler=agentwatch.ErrorPrioritySampler(0.0)),
        success_sample_ratio=0.0,
        log_format="off",
        environ={},
    )
    made: list[list[Any]] = []
    item = 0
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.local") as client:
        for kind, count in wanted:
            for _ in range(count):
                item += 1
                odd = 2 * item + (1 if kind == "error" else 0)
                await client.get(f"/items/{odd}", headers={"user-agent": "bench/1.0"})
            made.append(captured[-count:])
    handle.shutdown()
    return made


def _exporter(config: str, url: str) -> Any:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    from agentwatch._export.otlp_http import OtlpHttpExporter

    gzip = config.endswith("gzip")
    if config.startswith("stock"):
        compression = Compression.Gzip if gzip else Compression.NoCompression
        return OTLPSpanExporter(endpoint=url, timeout=10, compression=compression)
    return OtlpHttpExporter(url, timeout=10, compression="gzip" if gzip else "none")


def _measure(export: Callable[[Any], Any], batches: list[list[Any]]) -> tuple[float, float]:
    """CPU and wall seconds spent exporting ``batches``."""
    cpu = wall = 0.0
    for batch in batches:
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        result = export(batch)
        cpu += time.thread_time() - cpu0
        wall += time.perf_counter() - wall0
        assert result.name == "SUCCESS", result
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--sink", action="store_true")
    parser.add_argument("--encode-only", action="store_true", help="skip the export rounds")
    args = parser.parse_args()
    if args.sink:
        _serve_sink()
        return
    if args.encode_only:
        _run_encoding(args.rounds, args.batches * BATCH)
        return
    sink = subprocess.Popen([sys.executable, __file__, "--sink"], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        url = f"http://127.0.0.1:{sink.stdout.readline().strip()}/v1/traces"
        _run(url, args.rounds, args.batches)
    finally:
        sink.terminate()
        sink.wait()
    _run_encoding(args.rounds, args.batches * BATCH)


def _generic(span: Any) -> Any:
    """``span`` as an SDK span is read: a ReadableSpan whose events hold plain dicts."""
    from opentelemetry.sdk.trace import Event

    readable = span.to_readable()
    events = tuple(Event(e.name, dict(e.attributes), e.timestamp) for e in readable.events)
    readable._events = events  # the generic path of the encoder, not the ServerSpan one
    return readable


def _encoder(config: str) -> Callable[[Any], Any]:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from agentwatch._export.otlp import TraceRequestEncoder

    if config == "stock":
        return lambda span: encode_spans([span]).SerializeToString()
    return TraceRequestEncoder().encode_spans


def _run_encoding(rounds: int, per_round: int) -> None:
    """CPU µs/span of encoding one span at a time, per encoder and kind, interleaved."""
    keys = [(config, kind) for config in ENCODERS for kind in KINDS]
    made = asyncio.run(_make_spans([(kind, rounds * per_round) for _, kind in keys]))
    spans = {
        (config, kind): lean if config == "ours (lean)" else [[_generic(s)] for s in lean]
        for (config, kind), lean in zip(keys, made, strict=True)
    }
    for key in keys:  # the lean spans are handed over as the export queue does: a list
        if key[0] == "ours (lean)":
            spans[key] = [[span] for span in spans[key]]
    gc.collect()
    gc.freeze()
    encoders = {config: _encoder(config) for config in ENCODERS}
    for config, kind in keys:  # warm up on a few spans, not measured
        for one in spans[config, kind][:BATCH]:
            encoders[config](one[0] if config == "stock" else one)
    rates: dict[tuple[str, str], list[float]] = {key: [] for key in keys}
    for r in range(rounds):
        order = list(keys)
        random.shuffle(order)
        for config, kind in order:
            chunk = spans[config, kind][r * per_round : (r + 1) * per_round]
            encode = encoders[config]
            start = time.thread_time()
            if config == "stock":
                for one in chunk:
                    encode(one[0])
            else:
                for one in chunk:
                    encode(one)
            rates[config, kind].append((time.thread_time() - start) / len(chunk) * 1e6)
    gc.unfreeze()
    _report_encoding(rates)


def _report_encoding(rates: dict[tuple[str, str], list[float]]) -> None:
    print(f"\nencoding one span at a time\n{'encoder':<16}{'kind':<7}{'CPU µs/span':>13}  range")
    for (config, kind), values in rates.items():
        values = sorted(values)
        median = values[len(values) // 2]
        print(f"{config:<16}{kind:<7}{median:>13.2f}  {values[0]:.2f}-{values[-1]:.2f}")


def _run(url: str, rounds: int, batches: int) -> None:
    per_round = batches * BATCH
    keys = [(config, kind) for config in CONFIGS for kind in KINDS]
    wanted = [(kind, rounds * per_round) for _, kind in keys] + [("error", BATCH)]
    *made, warm = asyncio.run(_make_spans(wanted))
    spans: dict[tuple[str, str], list[Any]] = {}
    converting: dict[str, list[float]] = {kind: [0.0, 0.0] for kind in KINDS}
    for (config, kind), lean in zip(keys, made, strict=True):
        if config == "ours (lean)":
            spans[config, kind] = lean
            continue
        start = time.thread_time()
        spans[config, kind] = [span.to_readable() for span in lean]
        converting[kind][0] += time.thread_time() - start
        converting[kind][1] += len(lean)
    sample = spans["ours (lean)", "error"][0]
    stack = sample.events[0].attributes["exception.stacktrace"]
    print(
        f"spans: {type(sample).__name__}, {len(sample.attributes)} attributes, "
        f"stack trace {len(stack)} characters"
    )
    gc.collect()
    gc.freeze()  # the 64k spans made above are not the exporters' garbage to collect
    exporters = {config: _exporter(config, url) for config in CONFIGS}
    for config, exporter in exporters.items():  # connect and warm up, not measured
        exporter.export(warm if config == "ours (lean)" else [s.to_readable() for s in warm])
    totals = {key: [0.0, 0.0] for key in spans}
    for r in range(rounds):
        order = list(spans)
        random.shuffle(order)
        for config, kind in order:
            chunk = spans[config, kind][r * per_round : (r + 1) * per_round]
            batch_list = [chunk[i : i + BATCH] for i in range(0, len(chunk), BATCH)]
            cpu, wall = _measure(exporters[config].export, batch_list)
            totals[config, kind][0] += cpu
            totals[config, kind][1] += wall
    _report(totals, rounds * per_round)
    for kind, (seconds, count) in converting.items():
        print(
            f"{kind:<6} ServerSpan.to_readable() (what the stock path adds): "
            f"{seconds / count * 1e6:.1f} µs/span"
        )
    for exporter in exporters.values():
        exporter.shutdown()


def _report(totals: dict[tuple[str, str], list[float]], count: int) -> None:
    print(f"\n{'config':<14}{'kind':<7}{'CPU µs/span':>13}{'wall µs/span':>14}")
    for (config, kind), (cpu, wall) in totals.items():
        print(f"{config:<14}{kind:<7}{cpu / count * 1e6:>13.1f}{wall / count * 1e6:>14.1f}")
    print()
    for kind in KINDS:
        stock = totals["stock", kind][0]
        for config in ("ours (lean)", "ours"):
            ratio = totals[config, kind][0] / stock
            print(f"{kind:<6} CPU {config} / stock: {ratio:.3f}")
        gz = totals["ours gzip", kind][0] / totals["stock gzip", kind][0]
        print(f"{kind:<6} CPU ours gzip / stock gzip: {gz:.3f}")


if __name__ == "__main__":
    main()
