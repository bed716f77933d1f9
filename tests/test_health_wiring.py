"""init() mounts the health endpoints, served by the middleware before the app's routes."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from tests._health_servers import REDIS_URL, require_redis

import agentwatch
from agentwatch.health import HealthRegistry, RedisCheck


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id == 0:
            raise ValueError("no item zero")
        return {"id": item_id}

    return app


async def test_init_serves_health_with_service_identity_and_summary() -> None:
    require_redis()
    health = HealthRegistry()
    health.register("redis", RedisCheck(REDIS_URL), critical=True)
    prometheus = CollectorRegistry()
    app = build_app()
    handle = agentwatch.init(
        app,
        registry=prometheus,
        health=health,
        service_name="agent-api",
        service_version="1.4.2",
        health_details_token="let-me-see",
        environ={},
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            for item_id in (1, 2, 3, 0):
                await client.get(f"/items/{item_id}")
            anonymous = await client.get("/health/full")
            allowed = await client.get(
                "/health/full", headers={"Authorization": "Bearer let-me-see"}
            )
            redis = await client.get("/health/redis")
            live = await client.get("/health/live")
        score = prometheus.get_sample_value("health_score")
        redis_status = prometheus.get_sample_value("health_check_status", {"component": "redis"})
    finally:
        handle.shutdown()

    body = anonymous.json()
    assert handle.health is health
    assert anonymous.status_code == 200
    assert (body["serviceId"], body["releaseId"], body["version"]) == ("agent-api", "1.4.2", "1")
    summary = body["service"]
    assert (summary["requests"], summary["error_rate"]) == (4, 0.25)  # probes not counted
    assert "details" not in body["checks"]["redis:responseTime"][0]
    assert "details" in allowed.json()["checks"]["redis:responseTime"][0]
    assert (redis.status_code, live.status_code) == (200, 200)
    assert (score, redis_status) == (100.0, 1.0)


@pytest.mark.parametrize("prefix", ["/health", "/ops/health"])
async def test_init_builds_a_registry_from_the_settings(prefix: str) -> None:
    app = build_app()
    handle = agentwatch.init(
        app,
        registry=CollectorRegistry(),
        health_prefix=prefix,
        health_check_timeout_seconds=0.5,
        health_cache_seconds=1.5,
        health_warn_score=60,
        environ={},
    )
    try:
        assert isinstance(handle.health, HealthRegistry)
        assert (handle.health.timeout, handle.health.cache_ttl, handle.health.warn_score) == (
            0.5,
            1.5,
            60.0,
        )
        handle.health.register("always", lambda: True)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            response = await client.get(f"{prefix}/always")
    finally:
        handle.shutdown()
    assert response.status_code == 200
    assert list(response.json()["checks"]) == ["always:responseTime"]
