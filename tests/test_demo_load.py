"""The load scenario: 50 concurrent workflow triggers against the service over HTTP.

``workflows_active`` rises to 50 (every run waits at its approval gate), returns to 0 once
they are approved, ``workflow_runs_total`` grows by exactly 50, and no metric holds 100
label combinations or more. Run with the default SQLite store, and with PostgreSQL and
Redis (DATABASE_URL / REDIS_URL) on this machine's real servers.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests._genai_support import demo_service

from agentwatch.propagation import untraced

RUNS = 50


def _metrics(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Sample name -> label set (without ``le``) -> value."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            found[sample.name][labels] = sample.value
    return found


def _value(text: str, name: str, **labels: str) -> float:
    wanted = tuple(sorted(labels.items()))
    return _metrics(text).get(name, {}).get(wanted, 0.0)


async def _until(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], what: str) -> Any:
    deadline = time.monotonic() + 60
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}: last saw {value!r}")
        await asyncio.sleep(0.05)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    name = f"agentwatch_demo_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True
        )
    except psycopg.OperationalError as exc:
        pytest.fail(f"this test needs PostgreSQL on 127.0.0.1:5432 (user postgres, db test): {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


async def _scenario(url: str) -> None:
    limits = httpx.Limits(max_connections=RUNS + 10)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        before = (await client.get("/metrics")).text
        runs_before = _value(
            before, "workflow_runs_total", workflow="refund", trigger="api", status="success"
        )
        replies = await asyncio.gather(
            *(
                client.post("/api/workflows/refund/trigger", json={"input": f"refund {i}"})
                for i in range(RUNS)
            )
        )
        assert [reply.status_code for reply in replies] == [202] * RUNS
        run_ids = {reply.json()["run_id"] for reply in replies}

        async def pending() -> list[dict[str, str]]:
            return list((await client.get("/api/approvals")).json()["approvals"])

        approvals = await _until(
            pending, lambda items: len(items) == RUNS, f"{RUNS} pending approvals"
        )
        assert {item["run_id"] for item in approvals} == run_ids
        waiting = (await client.get("/metrics")).text
        assert _value(waiting, "workflows_active", workflow="refund") == RUNS
        assert _value(waiting, "workflow_approvals_pending", workflow="refund") == RUNS

        decisions = await asyncio.gather(
            *(
                client.post(
                    f"/api/approvals/{item['approval_id']}/decision", json={"approve": True}
                )
                for item in approvals
            )
        )
        assert [decision.status_code for decision in decisions] == [200] * RUNS

        async def statuses() -> list[str]:
            runs = await asyncio.gather(
                *(client.get(f"/api/workflows/runs/{run_id}") for run_id in run_ids)
            )
            return [run.json()["status"] for run in runs]

        await _until(statuses, lambda found: found == ["succeeded"] * RUNS, "every run to succeed")
        after_text = (await client.get("/metrics")).text
    assert _value(after_text, "workflows_active", workflow="refund") == 0
    assert _value(after_text, "workflow_approvals_pending", workflow="refund") == 0
    runs_after = _value(
        after_text, "workflow_runs_total", workflow="refund", trigger="api", status="success"
    )
    assert runs_after - runs_before == RUNS
    assert _value(after_text, "queue_jobs_total", queue="workflows", status="succeeded") == RUNS
    combinations = {name: len(series) for name, series in _metrics(after_text).items()}
    assert max(combinations.values()) < 100, sorted(combinations.items(), key=lambda kv: -kv[1])[:5]
    assert "agentwatch_metric_overflow_total" not in after_text.replace("# HELP", "").split(
        "\n# TYPE"
    )[0] or all(
        value == 0
        for value in _metrics(after_text).get("agentwatch_metric_overflow_total", {}).values()
    )


@pytest.mark.parametrize("stores", ["sqlite and memory cache", "postgresql and redis"])
def test_fifty_concurrent_workflows(
    tmp_path: Path, stores: str, request: pytest.FixtureRequest
) -> None:
    config: dict[str, Any] = {}
    if stores == "postgresql and redis":
        config = {
            "database_url": request.getfixturevalue("postgres_database"),
            "redis_url": "redis://127.0.0.1:6379/0",
        }
    with demo_service(str(tmp_path), ratio=0.1, **config) as demo, untraced():
        asyncio.run(_scenario(demo.url))
