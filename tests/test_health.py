"""Health registry and endpoints against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from tests._health_servers import (
    PG_DSN,
    REDIS_URL,
    CountingCheck,
    FakeClock,
    free_port,
    get,
    hung_server,
    redis_process,
    require_postgres,
    require_redis,
    stop_process,
)

from agentwatch._metrics.registry import Metrics
from agentwatch._metrics.window import RequestWindow
from agentwatch.health import (
    CallableCheck,
    CheckResult,
    DependenciesGate,
    HealthEndpoints,
    HealthRegistry,
    MigrationsCheck,
    PostgresCheck,
    ReadinessGate,
    RedisCheck,
    SQLAlchemyCheck,
    TCPCheck,
    aggregate,
)
from agentwatch.health._registry import ComponentResult


@pytest.fixture(scope="module", autouse=True)
def _servers() -> None:
    require_postgres()
    require_redis()


@pytest.fixture
async def async_engine() -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    yield engine
    await engine.dispose()


def new_registry(**kwargs: Any) -> tuple[HealthRegistry, CollectorRegistry]:
    prometheus = CollectorRegistry()
    return HealthRegistry(metrics=Metrics(prometheus), **kwargs), prometheus


async def test_healthy_postgres_and_redis_pass_with_score_100(async_engine: AsyncEngine) -> None:
    health, prometheus = new_registry()
    sync_engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    health.register("database", SQLAlchemyCheck(sync_engine), critical=True, weight=3)
    health.register("database_async", SQLAlchemyCheck(async_engine), critical=True)
    health.register("postgres", PostgresCheck(PG_DSN))
    health.register("redis", RedisCheck(REDIS_URL))
    window = RequestWindow()
    for duration, error in ((0.010, False), (0.020, False), (0.500, True)):
        window.record(duration, error)
    response = await get(HealthEndpoints(health, window=window), "/health/full")
    sync_engine.dispose()

    body = response.json()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/health+json"
    assert (body["status"], body["score"]) == ("pass", 100.0)
    assert set(body["checks"]) == {
        "database:connections",
        "database_async:connections",
        "postgres:connections",
        "redis:responseTime",
    }
    assert all(entry[0]["status"] == "pass" for entry in body["checks"].values())
    assert body["checks"]["database:connections"][0]["details"]["pool_size"] == 5
    assert body["checks"]["redis:responseTime"][0]["details"]["connected_clients"] >= 1
    assert body["service"] == window.summary()
    assert body["service"]["error_rate"] == pytest.approx(1 / 3, abs=1e-5)
    assert prometheus.get_sample_value("health_score") == 100.0
    assert prometheus.get_sample_value("health_check_status", {"component": "redis"}) == 1.0


@pytest.mark.parametrize(
    ("failure", "critical", "code", "status"),
    [
        ("closed_port", True, 503, "fail"),
        ("closed_port", False, 200, "warn"),
        ("stopped_redis", True, 503, "fail"),
        ("stopped_redis", False, 200, "warn"),
    ],
)
async def test_unreachable_dependency_fails_its_component(
    failure: str, critical: bool, code: int, status: str
) -> None:
    health, prometheus = new_registry(cache_ttl=0.0)
    health.register("database", PostgresCheck(PG_DSN), critical=True, weight=3)
    app = HealthEndpoints(health)
    if failure == "closed_port":
        health.register(
            "redis", RedisCheck(f"redis://127.0.0.1:{free_port()}/0"), critical=critical
        )
        response = await get(app, "/health/full")
    else:
        with redis_process() as (port, process):
            health.register("redis", RedisCheck(f"redis://127.0.0.1:{port}/0"), critical=critical)
            before = (await get(app, "/health/full")).json()
            assert (before["status"], before["score"]) == ("pass", 100.0)
            stop_process(process)
            response = await get(app, "/health/full")

    body = response.json()
    assert (response.status_code, body["status"]) == (code, status)
    assert body["checks"]["redis:responseTime"][0]["status"] == "fail"
    assert body["checks"]["database:connections"][0]["status"] == "pass"
    assert body["score"] == 75.0  # weights 3 + 1: the failing redis takes its 1/4 away
    assert prometheus.get_sample_value("health_check_status", {"component": "redis"}) == 0.0
    assert prometheus.get_sample_value("health_score") == 75.0


async def test_hung_dependencies_cost_one_timeout_not_the_sum() -> None:
    timeout = 1.0
    health, _ = new_registry(timeout=timeout)
    with hung_server() as port:
        # each client would wait 30 s on its own: only the registry's timeout stops them
        health.register("redis", RedisCheck(f"redis://127.0.0.1:{port}/0", socket_timeout=30))
        health.register("cache", RedisCheck(f"redis://127.0.0.1:{port}/1", socket_timeout=30))
        health.register("billing", _http_check(f"http://127.0.0.1:{port}/health"))
        health.register("database", PostgresCheck(PG_DSN))
        start = time.perf_counter()
        response = await get(HealthEndpoints(health), "/health/full")
        elapsed = time.perf_counter() - start

    body = response.json()
    # one timeout plus a margin (three hung checks in sequence would take 3 x timeout)
    assert elapsed < timeout + 1.0, f"/health/full took {elapsed:.2f}s"
    for key in ("redis:responseTime", "cache:responseTime", "billing:responseTime"):
        assert body["checks"][key][0]["status"] == "fail"
        assert body["checks"][key][0]["output"] == "timeout: no answer within 1s"
    assert body["checks"]["database:connections"][0]["status"] == "pass"
    assert response.status_code == 200  # none of them critical


def _http_check(url: str) -> Any:
    from agentwatch.health import HTTPCheck

    return HTTPCheck(url, request_timeout=30)


async def test_live_stays_200_while_every_dependency_is_down() -> None:
    health, _ = new_registry()
    counted = CountingCheck(RedisCheck(f"redis://127.0.0.1:{free_port()}/0"))
    health.register("redis", counted, critical=True)
    health.register(
        "database", PostgresCheck(f"postgresql://postgres@127.0.0.1:{free_port()}/x"), critical=True
    )
    app = HealthEndpoints(health, service_id="svc", clock=lambda: 5.0, wall_clock=lambda: 0.0)

    live = await get(app, "/health/live")
    assert (live.status_code, live.json()) == (
        200,
        {
            "status": "pass",
            "serviceId": "svc",
            "uptime_seconds": 0.0,
            "timestamp": "1970-01-01T00:00:00.000Z",
        },
    )
    assert counted.calls == 0  # live touched no dependency
    assert (await get(app, "/health/ready")).status_code == 503
    assert (await get(app, "/health/full")).status_code == 503
    assert (await get(app, "/health/live")).status_code == 200


async def test_100_concurrent_full_requests_run_each_check_once_per_cache_period() -> None:
    clock = FakeClock()
    health, _ = new_registry(cache_ttl=5.0, clock=clock)

    async def slow_queue() -> CheckResult:
        await asyncio.sleep(0.05)  # keep the run in flight while the burst arrives
        return CheckResult("pass", 3, "messages", measurement="depth")

    checks = {
        "redis": CountingCheck(RedisCheck(REDIS_URL)),
        "database": CountingCheck(PostgresCheck(PG_DSN)),
        "queue": CountingCheck(CallableCheck(slow_queue)),
    }
    for name, check in checks.items():
        health.register(name, check)
    transport = httpx.ASGITransport(app=HealthEndpoints(health))
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        burst = await asyncio.gather(*(client.get("/health/full") for _ in range(100)))
        assert {r.status_code for r in burst} == {200}
        assert {name: c.calls for name, c in checks.items()} == {
            "redis": 1,
            "database": 1,
            "queue": 1,
        }

        clock.now += 5.0  # next cache period
        burst = await asyncio.gather(*(client.get("/health/full") for _ in range(100)))
        assert {r.json()["status"] for r in burst} == {"pass"}
        assert {name: c.calls for name, c in checks.items()} == {
            "redis": 2,
            "database": 2,
            "queue": 2,
        }


def _fixed(result: CheckResult) -> CallableCheck:
    async def check() -> CheckResult:
        return result

    return CallableCheck(check)


async def test_health_body_matches_the_health_json_draft_field_by_field() -> None:
    health, _ = new_registry(wall_clock=lambda: 1700000000.25)
    health.register(
        "database",
        _fixed(CheckResult("pass", 4, "connections", "datastore", measurement="connections")),
        weight=2,
    )
    health.register(
        "cpu",
        _fixed(
            CheckResult("warn", 85, "percent", "system", "cpu is busy", measurement="utilization")
        ),
    )
    health.register(
        "uptime", _fixed(CheckResult("pass", 1209600.245, "s", "system", measurement="uptime"))
    )
    app = HealthEndpoints(
        health,
        service_id="agent-api",
        version="1",
        release_id="1.2.2",
        description="health of agent-api",
        clock=lambda: 7.5,
        wall_clock=lambda: 1700000000.25,
    )

    response = await get(app, "/health")

    stamp = "2023-11-14T22:13:20.250Z"
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/health+json"
    assert response.json() == {
        "status": "warn",
        "version": "1",
        "releaseId": "1.2.2",
        "serviceId": "agent-api",
        "description": "health of agent-api",
        "uptime_seconds": 0.0,
        "timestamp": stamp,
        "output": "cpu: cpu is busy",
        "checks": {
            "database:connections": [
                {
                    "componentType": "datastore",
                    "observedValue": 4,
                    "observedUnit": "connections",
                    "status": "pass",
                    "time": stamp,
                }
            ],
            "cpu:utilization": [
                {
                    "componentType": "system",
                    "observedValue": 85,
                    "observedUnit": "percent",
                    "status": "warn",
                    "time": stamp,
                    "output": "cpu is busy",
                }
            ],
            "uptime:uptime": [
                {
                    "componentType": "system",
                    "observedValue": 1209600.245,
                    "observedUnit": "s",
                    "status": "pass",
                    "time": stamp,
                }
            ],
        },
    }


SECRET_ERROR = (
    "could not connect to postgresql://app:hunter2@db.internal:5432/app "
    "(password=hunter2, token=tok_abcdef123456)"
)


@pytest.mark.parametrize(
    ("headers", "shown"),
    [
        ({}, False),
        ({"Authorization": "Bearer wrong-token"}, False),
        ({"Authorization": "Bearer s3cret-health"}, True),
    ],
)
async def test_details_need_the_token_and_errors_are_sanitised(
    headers: dict[str, str], shown: bool
) -> None:
    health, _ = new_registry()

    def broken() -> None:
        raise ConnectionError(SECRET_ERROR)

    health.register("database", broken, critical=True)
    app = HealthEndpoints(health, details_token="s3cret-health")

    for path in ("/health", "/health/full", "/health/database"):
        response = await get(app, path, headers=headers)
        text = response.text
        assert response.status_code == 503
        assert "hunter2" not in text and "tok_abcdef123456" not in text
        assert ("db.internal" in text) is shown
        entry = response.json()["checks"]["database:responseTime"][0]
        assert entry["status"] == "fail"
        assert ("output" in entry) is shown
        if shown:
            assert entry["output"].startswith(
                "ConnectionError: could not connect to postgresql://app:"
            )


async def test_component_endpoints() -> None:
    health, _ = new_registry()
    health.register("database", PostgresCheck(PG_DSN), critical=True)
    health.register("redis", RedisCheck(REDIS_URL))
    health.register("smtp", TCPCheck("127.0.0.1", free_port()))
    app = HealthEndpoints(health, prefix="/ops/health")

    database = await get(app, "/ops/health/database")
    redis = await get(app, "/ops/health/redis")
    assert (database.status_code, list(database.json()["checks"])) == (
        200,
        ["database:connections"],
    )
    assert (redis.status_code, list(redis.json()["checks"])) == (200, ["redis:responseTime"])
    assert (await get(app, "/ops/health/smtp")).status_code == 503
    assert (await get(app, "/ops/health/nothing")).status_code == 404
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        posted = await client.post("/ops/health/database")
        head = await client.head("/ops/health/database")
    assert (posted.status_code, posted.headers["allow"]) == (405, "GET, HEAD")
    assert (head.status_code, head.content) == (200, b"")


async def test_ready_waits_for_gates_and_critical_dependencies_only() -> None:
    health, _ = new_registry(cache_ttl=0.0)
    revisions = {"current": "a1", "head": "b2"}
    warmup = ReadinessGate("loading the model")
    loaded = DependenciesGate("embeddings", "prompts")
    health.register(
        "migrations", MigrationsCheck(lambda: (revisions["current"], revisions["head"]))
    )
    health.register("warmup", warmup)
    health.register("dependencies", loaded)
    health.register("database", PostgresCheck(PG_DSN), critical=True)
    health.register("reports", TCPCheck("127.0.0.1", free_port()), groups=())  # not in ready
    app = HealthEndpoints(health)

    first = await get(app, "/health/ready")
    assert first.status_code == 503
    assert set(first.json()["checks"]) == {
        "migrations:revision",
        "warmup:ready",
        "dependencies:loaded",
        "database:connections",
    }
    assert first.json()["output"] == (
        "migrations: schema at a1, head is b2; warmup: loading the model; "
        "dependencies: waiting for: embeddings, prompts"
    )
    revisions["current"] = "b2"
    warmup.mark_ready()
    loaded.loaded("embeddings")
    assert (await get(app, "/health/ready")).status_code == 503
    loaded.loaded("prompts")
    ready = await get(app, "/health/ready")
    assert (ready.status_code, ready.json()["status"]) == (200, "pass")
    assert (await get(app, "/health/full")).json()["checks"]["reports:responseTime"][0][
        "status"
    ] == "fail"


def _component(status: str, weight: float = 1.0, critical: bool = False) -> ComponentResult:
    return ComponentResult("c", CheckResult(status), 0.0, 0.0, weight, critical)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("components", "status", "score"),
    [
        ([], "pass", 100.0),
        ([("pass", 1, False), ("pass", 2, True)], "pass", 100.0),
        ([("pass", 3, False), ("fail", 1, False)], "warn", 75.0),  # under warn_score 80
        ([("pass", 9, False), ("fail", 1, False)], "pass", 90.0),  # above it
        ([("pass", 9, False), ("fail", 1, True)], "fail", 90.0),  # critical failure
        ([("pass", 1, False), ("warn", 1, False)], "warn", 75.0),
        ([("pass", 1, False), ("warn", 0, False)], "warn", 100.0),  # weight 0 still warns
    ],
)
def test_score_and_status_rules(
    components: list[tuple[str, float, bool]], status: str, score: float
) -> None:
    results = [_component(s, w, c) for s, w, c in components]
    assert aggregate(results, warn_score=80.0) == (status, score)


async def test_check_durations_are_recorded() -> None:
    health, prometheus = new_registry()
    health.register("redis", RedisCheck(REDIS_URL))
    await health.run()
    await health.run()  # cached: recorded once
    count = prometheus.get_sample_value(
        "health_check_duration_seconds_count", {"component": "redis"}
    )
    assert count == 1.0
