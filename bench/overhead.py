"""Per-request overhead: bare FastAPI vs agentwatch vs the stock stack, driven in-process.

    python bench/overhead.py [--requests 1500] [--rounds 12] [--stock-requests 150]

Each configuration runs in its own process (the global OpenTelemetry provider, sentry and
the Prometheus registry are per process). A round runs every configuration back to back
in shuffled order, for one request kind; many short rounds, and ratios to bare taken
within each round then the median over rounds, keep the slow drifts of this shared
machine out of the comparison. Every request is a direct ASGI call, so what is measured is
the framework plus the instrumentation. Printed per configuration and request kind: p50
and p99 of all requests, the median amortised wall time and CPU time per request, and
ratios to bare; then, per configuration, the µs a failing and a successful request add to
bare's, and failing over successful (per round, the median over rounds).
stock runs a tenth of the requests per round: it is a hundred times slower.

Amortised is the round's wall time plus the CPU time of the flush that follows it (every
kept span and queued error handed to its receiver), divided by the requests: all the work
the requests caused, including what the export threads still had to do in the background
(their CPU, not the time spent waiting for the receiver). Flushing before the next round
also keeps one configuration's background export out of another's measurements. CPU time
is the process's (every thread, user and system) over the round, plus the flush's.

- bare:       FastAPI alone.
- agentwatch: agentwatch.init(): metrics, error-priority traces exported over OTLP/HTTP to
              a local receiver, JSON logs, Sentry errors to a local receiver.
- stock:      prometheus-fastapi-instrumentator + opentelemetry-instrumentation-fastapi
              (BatchSpanProcessor, OTLP/HTTP to the same receiver) + sentry-sdk with
              traces_sample_rate=1.0.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

CONFIGS = ("bare", "agentwatch", "stock")
_STOCK_PROVIDERS: list[Any] = []  # the stock configuration's tracer provider, for flushing
KINDS = ("ok", "fail")


# ---------------------------------------------------------------- worker side


def _tiny_app(config: str, otlp: str, dsn: str) -> Any:
    if config == "stock":  # sentry hooks Starlette classes, so it must come before the app
        import sentry_sdk

        sentry_sdk.init(dsn=dsn, traces_sample_rate=1.0)
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id, "double": item_id * 2}

    @app.get("/fail/{item_id}")
    async def fail(item_id: int) -> dict[str, int]:
        raise RuntimeError(f"item {item_id} failed")

    if config == "agentwatch":
        import agentwatch

        options = {
            "service_name": "bench",
            "otlp_endpoint": otlp,
            "sentry_dsn": dsn,
            "log_level": "warning",
        }
        options.update(json.loads(os.environ.get("BENCH_AGENTWATCH_OPTIONS", "{}")))  # for variants
        agentwatch.init(app, environ={}, **options)
    elif config == "stock":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from prometheus_fastapi_instrumentator import Instrumentator

        provider = TracerProvider()
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp + "/v1/traces"))
        )
        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
        _STOCK_PROVIDERS.append(provider)
        Instrumentator().instrument(app).expose(app)
    return app


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"user-agent", b"bench/1.0"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


async def _round(app: Any, kind: str, count: int) -> dict[str, Any]:
    latencies = []
    cpu_started = time.process_time_ns()  # every thread of the process, user and system
    started = time.perf_counter_ns()
    for i in range(count):
        path = f"/items/{i}" if kind == "ok" else f"/fail/{i}"
        t0 = time.perf_counter_ns()
        try:
            await app(_scope(path), _receive, _send)
        except Exception:
            pass
        latencies.append(time.perf_counter_ns() - t0)
    wall_ns = time.perf_counter_ns() - started
    return {
        "latencies": latencies,
        "wall_ns": wall_ns,
        "cpu_ns": time.process_time_ns() - cpu_started,
    }


def _flush(config: str) -> None:
    """Hand everything the round queued to the receivers (spans, errors)."""
    if config == "agentwatch":
        from agentwatch._init import active_handle

        handle = active_handle()
        assert handle is not None and handle.force_flush(60), "agentwatch did not flush"
    elif config == "stock":
        import sentry_sdk

        _STOCK_PROVIDERS[0].force_flush(60_000)
        sentry_sdk.flush(timeout=60)


def worker(config: str, otlp: str, dsn: str) -> None:
    import logging

    logging.disable(logging.CRITICAL)  # the bench measures instrumentation, not stderr
    app = _tiny_app(config, otlp, dsn)
    loop = asyncio.new_event_loop()
    print("ready", flush=True)
    for line in sys.stdin:
        kind, count = line.split()
        result = loop.run_until_complete(_round(app, kind, int(count)))
        started = time.process_time_ns()  # CPU of every thread: the work, not network waits
        _flush(config)
        result["flush_ns"] = time.process_time_ns() - started
        print(json.dumps(result), flush=True)


# ---------------------------------------------------------------- parent side


class _Sink(http.server.BaseHTTPRequestHandler):
    """A receiver for OTLP and Sentry envelopes that keeps connections alive, as real ones do."""

    protocol_version = "HTTP/1.1"
    wbufsize = -1  # the status line, headers and body in one write: no Nagle stall on the reply

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        return None


def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


def _start(config: str, otlp: str, dsn: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--worker", config, "--otlp", otlp, "--dsn", dsn],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", (
        f"{config} did not start"
    )
    return proc


def _ask(proc: subprocess.Popen[str], kind: str, count: int) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(f"{kind} {count}\n")
    proc.stdin.flush()
    result: dict[str, Any] = json.loads(proc.stdout.readline())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1500, help="requests per round and kind")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument(
        "--stock-requests", type=int, default=150, help="requests per round for stock (slow)"
    )
    parser.add_argument("--worker")
    parser.add_argument("--otlp", default="")
    parser.add_argument("--dsn", default="")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.otlp, args.dsn)
        return
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    port = sink.server_port
    otlp, dsn = f"http://127.0.0.1:{port}", f"http://public@127.0.0.1:{port}/1"
    procs = {config: _start(config, otlp, dsn) for config in CONFIGS}
    counts = {
        config: args.stock_requests if config == "stock" else args.requests for config in CONFIGS
    }
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for config, proc in procs.items():  # warm-up, discarded
        for kind in KINDS:
            _ask(proc, kind, max(200, counts[config]))
    for _ in range(args.rounds):
        for kind in KINDS:
            order = list(CONFIGS)
            random.shuffle(order)
            for config in order:
                result = _ask(procs[config], kind, counts[config])
                result["count"] = counts[config]
                results.setdefault((config, kind), []).append(result)
    for proc in procs.values():
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)
    _report(results)


def _amortised(result: dict[str, Any]) -> float:
    return float(result["wall_ns"] + result["flush_ns"]) / result["count"] / 1000.0


def _cpu(result: dict[str, Any]) -> float:
    return float(result["cpu_ns"] + result["flush_ns"]) / result["count"] / 1000.0


def _round_p50(result: dict[str, Any]) -> float:
    return _percentile(result["latencies"], 0.50)


def _round_p99(result: dict[str, Any]) -> float:
    return _percentile(result["latencies"], 0.99)


def _per_round(
    results: dict[tuple[str, str], list[dict[str, Any]]],
    key: tuple[str, str],
    metric: Callable[[dict[str, Any]], float],
    compare: Callable[[float, float], float],
) -> list[float]:
    """Per round, ``compare(own, bare's)`` of the metric for the same request kind: a round's
    configurations run back to back, so slow drifts of this shared machine cancel."""
    pairs = zip(results[key], results[("bare", key[1])], strict=True)
    return [compare(metric(own), metric(base)) for own, base in pairs]


def _ratio(
    results: dict[tuple[str, str], list[dict[str, Any]]],
    key: tuple[str, str],
    metric: Callable[[dict[str, Any]], float],
) -> float:
    """The median over rounds of the metric's ratio to bare's in the same round."""
    return statistics.median(_per_round(results, key, metric, lambda own, base: own / base))


def _report(results: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
    summary: dict[tuple[str, str], dict[str, float]] = {}
    for key, rounds in results.items():
        latencies = [value for result in rounds for value in result["latencies"]]
        summary[key] = {
            "p50": _percentile(latencies, 0.50),
            "p99": _percentile(latencies, 0.99),
            "amortised": statistics.median(_amortised(result) for result in rounds),
            "cpu": statistics.median(_cpu(result) for result in rounds),
            "flush": statistics.median(r["flush_ns"] / r["count"] / 1000.0 for r in rounds),
            "x_p50": _ratio(results, key, _round_p50),
            "x_p99": _ratio(results, key, _round_p99),
            "x_amortised": _ratio(results, key, _amortised),
            "x_cpu": _ratio(results, key, _cpu),
        }
    print(
        f"{'config':<11} {'kind':<5} {'p50 µs':>9} {'p99 µs':>9} {'amort µs':>9} {'(flush)':>8} "
        f"{'cpu µs':>8} {'x bare p50':>10} {'x bare p99':>10} {'x bare amort':>12} {'x bare cpu':>10}"
    )
    for (config, kind), row in sorted(summary.items(), key=lambda item: CONFIGS.index(item[0][0])):
        print(
            f"{config:<11} {kind:<5} {row['p50']:>9.1f} {row['p99']:>9.1f} {row['amortised']:>9.1f} "
            f"{row['flush']:>8.1f} {row['cpu']:>8.1f} {row['x_p50']:>10.2f} {row['x_p99']:>10.2f} "
            f"{row['x_amortised']:>12.2f} {row['x_cpu']:>10.2f}"
        )
    for config in CONFIGS:
        if config != "bare":
            _report_overhead(results, config)


def _added(
    results: dict[tuple[str, str], list[dict[str, Any]]],
    config: str,
    kind: str,
    metric: Callable[[dict[str, Any]], float],
) -> list[float]:
    """Per round, the µs the configuration adds to bare's request of the same kind."""
    return _per_round(results, (config, kind), metric, lambda own, base: own - base)


def _report_overhead(results: dict[tuple[str, str], list[dict[str, Any]]], config: str) -> None:
    """Failing-request overhead over successful-request overhead, in added µs per request:
    per round (the ok and fail rounds of one index run minutes apart at most), then the
    median over rounds. A round where a successful request added nothing measurable (noise
    at a few requests) has no ratio; the count of such rounds is printed."""
    figures = []
    for name, metric in (("amortised", _amortised), ("cpu", _cpu), ("p50", _round_p50)):
        ok, fail = (_added(results, config, kind, metric) for kind in KINDS)
        ratios = [f / o for o, f in zip(ok, fail, strict=True) if o > 0]
        ratio = f"{statistics.median(ratios):.2f}" if ratios else "n/a"
        if len(ratios) < len(ok):
            ratio += f" ({len(ok) - len(ratios)} rounds without a successful-request overhead)"
        figures.append(
            f"{name}: +{statistics.median(ok):.1f} µs ok, +{statistics.median(fail):.1f} µs "
            f"fail, ratio {ratio}"
        )
    print(f"{config}: added per request (failing / successful): " + "; ".join(figures))


if __name__ == "__main__":
    main()
