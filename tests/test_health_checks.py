"""The built-in checks, one family at a time, against real servers where they touch one."""

from __future__ import annotations

import asyncio
import shutil
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry
from tests._health_servers import (
    REDIS_URL,
    FakeClock,
    free_port,
    require_redis,
    status_server,
)

from agentwatch._metrics.registry import Metrics
from agentwatch.health import (
    CallableCheck,
    CheckResult,
    CircuitBreaker,
    CircuitBreakerCheck,
    CircuitOpenError,
    DiskCheck,
    HealthRegistry,
    HTTPCheck,
    ProcessMemoryCheck,
    QueueDepthCheck,
    RedisCheck,
    RedisQueueDepthCheck,
    TCPCheck,
)
from agentwatch.health._system import process_rss_bytes


async def run_one(check: Any, **register: Any) -> CheckResult:
    """A check's result as the registry reports it (exceptions and timeouts become fail)."""
    health = HealthRegistry(metrics=Metrics(CollectorRegistry()))
    health.register("component", check, **register)
    return (await health.run_component("component")).result


async def _async_true() -> bool:
    return True


@pytest.mark.parametrize(
    ("fn", "status", "output"),
    [
        (lambda: True, "pass", ""),
        (lambda: None, "pass", ""),
        (lambda: False, "fail", "check returned False"),
        (lambda: "warn", "warn", ""),
        (lambda: CheckResult("warn", 7, "jobs", output="backlog"), "warn", "backlog"),
        (_async_true, "pass", ""),
        (lambda: _async_true(), "pass", ""),  # a sync callable returning an awaitable
        (lambda: 1 / 0, "fail", "ZeroDivisionError: division by zero"),
        (
            lambda: 42,
            "fail",
            "TypeError: a check callable returns CheckResult, bool, None or a status, not 42",
        ),
    ],
)
async def test_callable_check_results(fn: Any, status: str, output: str) -> None:
    result = await run_one(fn)
    assert (result.status, result.output) == (status, output)


async def test_a_hung_blocking_check_holds_one_thread() -> None:
    release = threading.Event()
    calls = []

    def blocking() -> bool:
        calls.append(1)
        release.wait(10)
        return True

    health = HealthRegistry(metrics=Metrics(CollectorRegistry()), cache_ttl=0.0)
    health.register("legacy", CallableCheck(blocking), timeout=0.2)
    first = await health.run_component("legacy")
    second = await health.run_component("legacy")
    release.set()
    assert first.result.output == "timeout: no answer within 0.2s"
    assert second.result.output == "TimeoutError: previous check still running (dependency hung)"
    assert len(calls) == 1
    for _ in range(200):  # the thread finishes once the dependency answers
        third = await health.run_component("legacy")
        if third.status == "pass":
            break
        await asyncio.sleep(0.01)
    assert third.status == "pass"


@pytest.mark.parametrize(
    ("depth", "warn_at", "fail_at", "status"),
    [
        (0, 10, 100, "pass"),
        (9, 10, 100, "pass"),
        (10, 10, 100, "warn"),
        (100, 10, 100, "fail"),
        (5000, None, None, "pass"),
    ],
)
async def test_queue_depth_thresholds(
    depth: int, warn_at: int | None, fail_at: int | None, status: str
) -> None:
    result = await run_one(QueueDepthCheck(lambda: depth, warn_at=warn_at, fail_at=fail_at))
    assert (result.status, result.observed_value, result.observed_unit, result.measurement) == (
        status,
        depth,
        "messages",
        "depth",
    )


@pytest.fixture
def redis_keys() -> Iterator[tuple[str, str]]:
    require_redis()
    client = redis.Redis.from_url(REDIS_URL)
    names = (f"aw-test-list-{uuid.uuid4().hex}", f"aw-test-stream-{uuid.uuid4().hex}")
    yield names
    client.delete(*names)
    client.close()


@pytest.mark.parametrize("use_url", [True, False])
async def test_redis_list_and_stream_depth(redis_keys: tuple[str, str], use_url: bool) -> None:
    list_key, stream_key = redis_keys
    writer = redis.Redis.from_url(REDIS_URL)
    writer.rpush(list_key, "a", "b", "c")
    for n in range(5):
        writer.xadd(stream_key, {"n": n})
    writer.close()
    target: Any = REDIS_URL if use_url else redis.Redis.from_url(REDIS_URL)  # sync client: thread

    listed = await run_one(RedisQueueDepthCheck(target, list_key, warn_at=3))
    streamed = await run_one(RedisQueueDepthCheck(target, stream_key, kind="stream", fail_at=5))
    missing = await run_one(RedisQueueDepthCheck(target, "aw-test-no-such-key", warn_at=1))
    assert (listed.status, listed.observed_value) == ("warn", 3)
    assert (streamed.status, streamed.observed_value) == ("fail", 5)
    assert (missing.status, missing.observed_value) == ("pass", 0)
    if not use_url:
        target.close()


async def test_redis_check_with_an_async_client() -> None:
    require_redis()
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    result = await run_one(RedisCheck(client))
    await client.aclose()
    assert (result.status, result.observed_unit, result.component_type) == (
        "pass",
        "ms",
        "datastore",
    )
    assert result.details["used_memory_bytes"] > 0


@pytest.mark.parametrize(
    ("path", "expected", "status"),
    [
        ("/200", range(200, 400), "pass"),
        ("/503", range(200, 400), "fail"),
        ("/401", (200, 401), "pass"),
        ("/404", 200, "fail"),
    ],
)
async def test_http_dependency(path: str, expected: Any, status: str) -> None:
    with status_server() as base:
        result = await run_one(HTTPCheck(base + path, expected_status=expected))
    assert (result.status, result.observed_unit) == (status, "ms")
    assert result.details["status_code"] == int(path[1:])
    if status == "fail":
        assert result.output == f"HTTP {path[1:]} from GET {base}{path}"


async def test_tcp_port() -> None:
    with status_server() as base:
        port = int(base.rsplit(":", 1)[1])
        opened = await run_one(TCPCheck("127.0.0.1", port))
    closed = await run_one(TCPCheck("127.0.0.1", free_port()))
    assert (opened.status, opened.component_type) == ("pass", "system")
    assert closed.status == "fail" and "ConnectionRefusedError" in closed.output


def _free_percent() -> float:
    usage = shutil.disk_usage("/")
    return 100.0 * usage.free / usage.total


@pytest.mark.parametrize(
    ("warn_offset", "fail_offset", "status"),
    [(-5.0, -10.0, "pass"), (+1.0, -10.0, "warn"), (+2.0, +1.0, "fail")],
)
async def test_disk_free_thresholds(warn_offset: float, fail_offset: float, status: str) -> None:
    free = _free_percent()  # thresholds placed around the real free space
    check = DiskCheck(
        "/", warn_free_percent=free + warn_offset, fail_free_percent=free + fail_offset
    )
    result = await run_one(check)
    assert (result.status, result.observed_unit, result.measurement) == (status, "percent", "free")


@pytest.mark.parametrize(
    ("warn_factor", "fail_factor", "status"), [(2, 3, "pass"), (0.5, 3, "warn"), (0.2, 0.5, "fail")]
)
async def test_process_memory_thresholds(
    warn_factor: float, fail_factor: float, status: str
) -> None:
    rss = process_rss_bytes()
    result = await run_one(
        ProcessMemoryCheck(warn_bytes=rss * warn_factor, fail_bytes=rss * fail_factor)
    )
    assert (result.status, result.observed_unit, result.measurement) == (status, "bytes", "rss")


def test_circuit_breaker_transitions_and_metrics() -> None:
    prometheus = CollectorRegistry()
    clock = FakeClock()
    breaker = CircuitBreaker(
        "llm", failure_threshold=2, reset_timeout=30, metrics=Metrics(prometheus), clock=clock
    )

    def state_value() -> float | None:
        return prometheus.get_sample_value("circuit_breaker_state", {"breaker": "llm"})

    def boom() -> None:
        raise ConnectionError("provider down")

    assert (breaker.state, state_value()) == ("closed", 0.0)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(boom)
    assert (breaker.state, state_value()) == ("open", 2.0)
    with pytest.raises(CircuitOpenError, match="circuit 'llm' is open"):
        breaker.call(lambda: "never called")
    clock.now += 30
    assert (breaker.state, state_value()) == ("half_open", 1.0)
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.record_success()
    assert (breaker.state, state_value()) == ("closed", 0.0)
    transitions = {
        state: prometheus.get_sample_value(
            "circuit_breaker_transitions_total", {"breaker": "llm", "state": state}
        )
        for state in ("open", "half_open", "closed")
    }
    assert transitions == {"open": 1.0, "half_open": 1.0, "closed": 1.0}


class _Pybreaker:
    def __init__(self, current_state: str) -> None:
        self.current_state = current_state


@pytest.mark.parametrize(
    ("breaker", "status", "observed"),
    [
        (_Pybreaker("closed"), "pass", "closed"),
        (_Pybreaker("half-open"), "warn", "half-open"),
        (_Pybreaker("open"), "fail", "open"),
        (_Pybreaker("melted"), "fail", "melted"),
    ],
)
async def test_circuit_breaker_check(breaker: Any, status: str, observed: str) -> None:
    result = await run_one(CircuitBreakerCheck(breaker))
    assert (result.status, result.observed_value, result.measurement) == (status, observed, "state")


async def test_circuit_breaker_check_reads_our_breaker() -> None:
    breaker = CircuitBreaker("db", failure_threshold=1, metrics=Metrics(CollectorRegistry()))
    breaker.record_failure()
    result = await run_one(CircuitBreakerCheck(breaker))
    assert (result.status, result.output) == ("fail", "circuit open")
