"""What Sentry error capture costs per request, next to agentwatch without Sentry.

    python bench/errors_overhead.py [--requests 1000] [--rounds 5]

Each configuration runs in its own worker process (sentry-sdk and the OpenTelemetry
tracer provider are per process; FastAPI even starts its own spans once a provider is set),
requests are direct ASGI calls to a small FastAPI app, so the framework plus the
instrumentation is what is measured. Sentry envelopes go over HTTP to a sink in the parent.
Rounds are interleaved in shuffled order so noise on this shared machine hits all alike:

- bare:              FastAPI alone.
- agentwatch:        agentwatch.init() without a DSN.
- +sentry:           agentwatch.init(sentry_dsn=...) with the defaults (the same error at most
                     once a second, 10 events/s with bursts of 50).
- +sentry every error: no repeat window, no rate limit: every failing request is an event
                     (the cost of building and sending one event, about 1 ms of CPU).
- +stock sentry:     agentwatch without a DSN plus sentry_sdk.init(dsn) with its defaults,
                     the middleware hook calling sentry_sdk.capture_exception directly.

Printed: p50, p99 and amortised wall time per request (the amortised figure includes the
background threads' share of the GIL), the overhead over bare, and for each configuration
failing-request overhead / successful-request overhead (the budget is 2x).
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import json
import logging
import random
import statistics
import subprocess
import sys
import threading
from typing import Any

# the app, the request loop and the sink are bench/overhead.py's, so the figures compare
from overhead import _ask, _percentile, _round, _Sink, _tiny_app

CONFIGS = ("bare", "agentwatch", "+sentry", "+sentry every error", "+stock sentry")


def _configure(config: str, dsn: str) -> Any:
    """The app wired for ``config`` (once per worker process)."""
    import sentry_sdk
    from prometheus_client import CollectorRegistry

    import agentwatch

    app = _tiny_app("bare", "", "")
    if config == "bare":
        return app
    options: dict[str, Any] = {}
    if config.startswith("+sentry"):
        options["sentry_dsn"] = dsn
    if config == "+sentry every error":
        options.update(sentry_max_events_per_second=1e9, sentry_repeat_seconds=0)
    handle = agentwatch.init(
        app, registry=CollectorRegistry(), log_format="off", environ={}, **options
    )
    if config == "+stock sentry":
        sentry_sdk.init(dsn=dsn)
        handle.on_exception = sentry_sdk.capture_exception
    return app


def worker(config: str, dsn: str) -> None:
    logging.disable(logging.CRITICAL)  # measure capture, not stderr
    app = _configure(config, dsn)
    loop = asyncio.new_event_loop()
    print("ready", flush=True)
    for line in sys.stdin:
        kind, count = line.split()
        print(json.dumps(loop.run_until_complete(_round(app, kind, int(count)))), flush=True)


def _measure(dsn: str, requests: int, rounds: int) -> dict[tuple[str, str], dict[str, list[float]]]:
    procs = {
        config: subprocess.Popen(
            [sys.executable, __file__, "--worker", config, "--dsn", dsn],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for config in CONFIGS
    }
    for config, proc in procs.items():
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", config
    results: dict[tuple[str, str], dict[str, list[float]]] = {}
    try:
        for round_number in range(rounds + 1):  # round 0 warms up and is discarded
            order = list(CONFIGS)
            random.shuffle(order)
            for config in order:
                for kind in ("ok", "fail"):
                    answer = _ask(procs[config], kind, requests)
                    if round_number:
                        row = results.setdefault((config, kind), {"latencies": [], "amortised": []})
                        row["latencies"].extend(answer["latencies"])
                        row["amortised"].append(answer["wall_ns"] / requests / 1000.0)
    finally:
        for proc in procs.values():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(60)
    return results


def _report(results: dict[tuple[str, str], dict[str, list[float]]]) -> None:
    amortised = {key: statistics.median(row["amortised"]) for key, row in results.items()}
    print(
        f"{'config':<20} {'kind':<5} {'p50 µs':>8} {'p99 µs':>9} {'amort µs':>9} {'over bare':>10}"
    )
    for (config, kind), row in sorted(results.items(), key=lambda item: CONFIGS.index(item[0][0])):
        extra = amortised[(config, kind)] - amortised[("bare", kind)]
        print(
            f"{config:<20} {kind:<5} {_percentile(row['latencies'], 0.5):>8.1f} {_percentile(row['latencies'], 0.99):>9.1f}"
            f" {amortised[(config, kind)]:>9.1f} {extra:>+10.1f}"
        )
    for config in CONFIGS[1:]:
        ok = amortised[(config, "ok")] - amortised[("bare", "ok")]
        fail = amortised[(config, "fail")] - amortised[("bare", "fail")]
        print(
            f"{config:<20} failing overhead {fail:+8.1f} µs / successful overhead {ok:+7.1f} µs"
            f" = {fail / ok if ok > 0 else float('nan'):.2f}x"
        )
    sentry_share = amortised[("+sentry", "fail")] - amortised[("agentwatch", "fail")]
    print(f"Sentry's share of a failing request (defaults): {sentry_share:+.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=1000, help="requests per round, kind and config"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--dsn", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.dsn)
        return
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        _report(
            _measure(f"http://public@127.0.0.1:{sink.server_port}/1", args.requests, args.rounds)
        )
    finally:
        sink.shutdown()


if __name__ == "__main__":
    main()
