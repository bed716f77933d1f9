"""What sending one OTLP/HTTP request costs: agentwatch's http.client transport vs urllib3.

    python bench/otlp_transport.py [--rounds 15] [--posts 200]

The bodies are real: ``ExportTraceServiceRequest``\\ s of 128 server spans each, made by
requests through the app of ``bench/otlp_export.py`` and encoded by agentwatch's encoder
(ok spans, and failing ones with their ~4 KB stack traces). Each is posted, over one
keep-alive connection, to a sink in another process that reads the body and answers 200:

- http.client: ``OtlpHttpExporter``'s own POST (``http.client.HTTPConnection``, what
  agentwatch ships);
- urllib3:     a ``urllib3.HTTPConnectionPool`` of one connection, ``urlopen`` with retries
  off and the response read whole (what the stock exporter's ``requests`` sits on).

Measured per request: CPU time of the sending thread (``time.thread_time``: the part that
holds the GIL in the application process) and wall time. Rounds run the transports in
shuffled order; printed are the medians over rounds and urllib3 / http.client. The
transport is adopted when urllib3 is within 10 % of http.client (docs/architecture.md).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import otlp_export  # the app, its spans and the sink of bench/otlp_export.py

TRANSPORTS = ("http.client", "urllib3")
KINDS = ("ok", "error")
HEADERS = {"Content-Type": "application/x-protobuf", "User-Agent": "agentwatch-otlp"}


def _bodies() -> dict[str, bytes]:
    from agentwatch._export.otlp import TraceRequestEncoder

    made = asyncio.run(otlp_export._make_spans([(kind, otlp_export.BATCH) for kind in KINDS]))
    return {
        kind: TraceRequestEncoder().encode(spans) for kind, spans in zip(KINDS, made, strict=True)
    }


def _senders(url: str) -> dict[str, Callable[[bytes], int]]:
    import urllib3

    from agentwatch._export.otlp_http import OtlpHttpExporter

    exporter = OtlpHttpExporter(url, timeout=10)

    def http_client(body: bytes) -> int:
        status, _, _ = exporter._post(body, time.monotonic() + 10)
        return status

    host, port = url.split("//")[1].split("/")[0].split(":")
    pool = urllib3.HTTPConnectionPool(host, int(port), maxsize=1, timeout=10.0, retries=False)

    def with_urllib3(body: bytes) -> int:
        response = pool.urlopen("POST", "/v1/traces", body=body, headers=HEADERS)
        response.headers.get("retry-after")
        _ = response.data
        return response.status

    return {"http.client": http_client, "urllib3": with_urllib3}


def _round(send: Callable[[bytes], int], body: bytes, posts: int) -> tuple[float, float]:
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    for _ in range(posts):
        assert send(body) == 200
    return (time.thread_time() - cpu0) / posts, (time.perf_counter() - wall0) / posts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--posts", type=int, default=200)
    args = parser.parse_args()
    sink = subprocess.Popen(
        [sys.executable, otlp_export.__file__, "--sink"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert sink.stdout is not None
        url = f"http://127.0.0.1:{sink.stdout.readline().strip()}/v1/traces"
        bodies, senders = _bodies(), _senders(url)
        for send in senders.values():  # warm up: connections open, code paths hot
            _round(send, bodies["ok"], 20)
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.rounds):
            order = [(t, k) for t in TRANSPORTS for k in KINDS]
            random.shuffle(order)
            for transport, kind in order:
                measured = _round(senders[transport], bodies[kind], args.posts)
                results.setdefault((transport, kind), []).append(measured)
        _print(results, bodies)
    finally:
        sink.terminate()


def _print(
    results: dict[tuple[str, str], list[tuple[float, float]]], bodies: dict[str, bytes]
) -> None:
    print(f"{'transport':12} {'kind':6} {'body':>8} {'CPU µs':>8} {'wall µs':>8}")
    medians = {}
    for (transport, kind), rounds in sorted(results.items()):
        cpu = statistics.median(c for c, _ in rounds) * 1e6
        wall = statistics.median(w for _, w in rounds) * 1e6
        medians[transport, kind] = (cpu, wall)
        print(f"{transport:12} {kind:6} {len(bodies[kind]):8} {cpu:8.1f} {wall:8.1f}")
    for kind in KINDS:
        ours, theirs = medians["http.client", kind], medians["urllib3", kind]
        print(
            f"urllib3 / http.client, {kind}: CPU {theirs[0] / ours[0]:.2f}, "
            f"wall {theirs[1] / ours[1]:.2f}"
        )


if __name__ == "__main__":
    main()
