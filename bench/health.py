"""/health/full latency: every dependency healthy, then one hung, beside the check timeout.

    python bench/health.py [--probes 200] [--timeout 0.5]

Real PostgreSQL (127.0.0.1:5432, db test) and Redis (127.0.0.1:6379); the hung dependency
is a Redis URL pointing at a local TCP server that accepts and never answers. Probes are
direct ASGI calls to the health app, one after another, with the result cache off (every
probe runs every check: the worst case) and on (the default 5 s: what a burst of probes
costs). A hung dependency should cost one timeout per cache period, never more.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from prometheus_client import CollectorRegistry

from agentwatch._metrics.registry import Metrics
from agentwatch.health import (
    DiskCheck,
    HealthEndpoints,
    HealthRegistry,
    PostgresCheck,
    ProcessMemoryCheck,
    RedisCheck,
)

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


async def _probe(app: HealthEndpoints) -> tuple[float, int]:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {"type": "http", "method": "GET", "path": "/health/full", "headers": []}
    start = time.perf_counter()
    await app(scope, receive, send)
    return time.perf_counter() - start, status


def _registry(timeout: float, cache_ttl: float, hung_port: int | None) -> HealthRegistry:
    health = HealthRegistry(
        timeout=timeout, cache_ttl=cache_ttl, metrics=Metrics(CollectorRegistry())
    )
    health.register("database", PostgresCheck(PG_DSN), critical=True, weight=3)
    health.register("redis", RedisCheck(REDIS_URL), weight=2)
    health.register("disk", DiskCheck("/"))
    health.register("memory", ProcessMemoryCheck())
    if hung_port is not None:
        health.register("search", RedisCheck(f"redis://127.0.0.1:{hung_port}/0", socket_timeout=60))
    return health


async def _scenario(
    name: str, timeout: float, cache_ttl: float, probes: int, hung_port: int | None
) -> None:
    app = HealthEndpoints(_registry(timeout, cache_ttl, hung_port))
    await _probe(app)  # imports and first connections, not measured
    results = [await _probe(app) for _ in range(probes)]
    latencies = sorted(seconds * 1000.0 for seconds, _ in results)
    codes = sorted({code for _, code in results})
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    print(
        f"{name:<10} {'off' if cache_ttl == 0 else f'{cache_ttl:g}s':>6} {timeout * 1000:>9.0f} "
        f"{len(latencies):>7} {statistics.median(latencies):>9.2f} {p95:>9.2f} {latencies[-1]:>9.2f}  {codes}"
    )


async def _main(probes: int, timeout: float) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:  # the bench is over
            writer.close()

    hung = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    hung_port = hung.sockets[0].getsockname()[1]
    print(
        f"{'scenario':<10} {'cache':>6} {'timeout ms':>9} {'probes':>7} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}  codes"
    )
    try:
        await _scenario("healthy", timeout, 0.0, probes, None)
        await _scenario("healthy", timeout, 5.0, probes, None)
        await _scenario("one hung", timeout, 0.0, max(5, probes // 20), hung_port)
        await _scenario("one hung", timeout, 5.0, probes, hung_port)
    finally:
        hung.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=0.5, help="per-check timeout, seconds")
    args = parser.parse_args()
    asyncio.run(_main(args.probes, args.timeout))


if __name__ == "__main__":
    main()
