"""Automatic incidents from MonitorChange events, published on the hub's real event bus inside a
write transaction, as the monitors part does: open, join (depends_on), recover, take over."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from tests.hub._support import running_hub

from agentwatch.hub.app import Hub
from agentwatch.hub.events import IncidentChange, MonitorChange
from agentwatch.hub.store.migrate import alembic_config

HUB_YAML = """
status_pages:
  - {slug: public, title: Agent API, public: true, monitors: [api, search]}
  - {slug: ops, title: Operations, monitors: [postgres], groups: [{name: Apps, monitors: [api]}]}
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Iterator[Clock]:
    yield Clock()


async def change(hub: Hub, monitor: str, status: str, **fields: Any) -> None:
    ctx = hub.context
    async with ctx.db.write() as conn:
        await ctx.events.publish(
            conn,
            MonitorChange(
                monitor=monitor,
                previous=fields.pop("previous", "up" if status != "up" else "down"),
                status=status,
                at=ctx.clock(),
                **fields,
            ),
        )


async def incidents(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    answer = await client.get("/api/v1/incidents", params=params)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["incidents"]
    return found


async def test_a_monitor_on_a_page_going_down_opens_one_and_recovery_resolves_it(
    tmp_path: Path, clock: Clock
) -> None:
    async with running_hub(tmp_path, HUB_YAML, clock=clock) as (hub, client):
        told: list[IncidentChange] = []

        async def listen(_conn: object, event: IncidentChange) -> None:
            told.append(event)

        hub.context.events.subscribe(IncidentChange, listen)
        await change(
            hub, "api", "down", message="HTTP 503 from http://127.0.0.1:8000/", trace_id="ab" * 16
        )
        (incident,) = await incidents(client)
        assert incident["title"] == "api is down" and incident["automatic"] is True
        assert incident["status"] == "investigating" and incident["impact"] == "major"
        assert incident["pages"] == ["public", "ops"]
        assert incident["opened_by"] == "monitor:api"
        # the page's words, not the probe's message (its target is the operator's to see)
        assert incident["updates"][0]["message"] == "api is down."
        assert [(e.status, e.url) for e in told] == [
            ("investigating", "http://127.0.0.1:9800/status/public")
        ]
        await change(hub, "api", "down", previous="degraded")  # still down: nothing new
        assert len((await incidents(client))[0]["updates"]) == 1
        clock.now += 125
        await change(hub, "api", "up")
        (incident,) = await incidents(client)
        assert incident["status"] == "resolved" and incident["resolved_at"] is not None
        assert (
            incident["updates"][-1]["message"]
            == "api is up again after 2 m 05 s. Resolved automatically."
        )
        assert incident["duration_seconds"] == 125.0
        assert [e.status for e in told] == ["investigating", "resolved"]
        alerts = (await client.get("/api/v1/alerts")).json()["alerts"]
        page_alert = [a for a in alerts if a["labels"]["alertname"] == "StatusPageIncident"]
        assert [a["status"] for a in page_alert] == ["resolved"]


async def test_a_monitor_on_no_page_opens_nothing(tmp_path: Path, clock: Clock) -> None:
    async with running_hub(tmp_path, HUB_YAML, clock=clock) as (hub, client):
        await change(hub, "batch-job", "down")
        await change(hub, "api", "degraded")  # degraded is not an outage
        assert await incidents(client) == []


async def test_a_person_takes_an_automatic_incident_over(tmp_path: Path, clock: Clock) -> None:
    async with running_hub(tmp_path, HUB_YAML, clock=clock) as (hub, client):
        await change(hub, "postgres", "down")
        (incident,) = await incidents(client)
        assert incident["pages"] == ["ops"]
        number = incident["id"]
        clock.now += 30
        await client.post(
            f"/api/v1/incidents/{number}/updates",
            json={"status": "identified", "message": "Disk full on the primary", "by": "ana"},
        )
        clock.now += 30
        await change(hub, "postgres", "up")
        (incident,) = await incidents(client)
        assert incident["status"] == "identified" and incident["resolved_at"] is None
        assert incident["taken_over_by"] == "ana"
        assert [u["by"] for u in incident["updates"]] == ["monitor:postgres", "ana"]
        assert incident["monitors"] == [
            {"name": "postgres", "down": False, "since": incident["monitors"][0]["since"]}
        ]
        await change(hub, "postgres", "down")  # down again: the person's timeline stays theirs
        (incident,) = await incidents(client)
        assert len(incident["updates"]) == 2 and incident["monitors"][0]["down"] is True
        resolved = await client.post(f"/api/v1/incidents/{number}/resolve", json={"by": "ana"})
        assert resolved.json()["status"] == "resolved"


async def test_a_child_down_because_of_its_parent_joins_the_parents_incident(
    tmp_path: Path, clock: Clock
) -> None:
    async with running_hub(tmp_path, HUB_YAML, clock=clock) as (hub, client):
        await change(hub, "postgres", "down", message="connection refused")
        clock.now += 10
        await change(hub, "api", "down", cause="postgres", message="HTTP 500")
        (incident,) = await incidents(client)
        assert incident["title"] == "postgres is down"
        assert [m["name"] for m in incident["monitors"]] == ["api", "postgres"]
        assert incident["pages"] == ["ops", "public"]  # the child's pages joined
        assert incident["updates"][-1]["message"] == (
            "api is down because postgres, which it depends on, is down."
        )
        clock.now += 50
        await change(hub, "postgres", "up")
        (incident,) = await incidents(client)
        assert incident["resolved_at"] is None
        assert (
            incident["updates"][-1]["message"]
            == "postgres is up again after 1 m 00 s; still down: api."
        )
        await change(hub, "api", "up")
        (incident,) = await incidents(client)
        assert incident["status"] == "resolved"
        public = (await client.get("/api/v1/status/public")).json()["incidents"]
        assert [i["id"] for i in public["recent"]] == [incident["id"]]


async def test_the_incident_commits_with_the_monitor_change_or_not_at_all(
    tmp_path: Path, clock: Clock
) -> None:
    async with running_hub(tmp_path, HUB_YAML, clock=clock) as (hub, client):
        ctx = hub.context
        with pytest.raises(RuntimeError):
            async with ctx.db.write() as conn:
                await ctx.events.publish(conn, MonitorChange("api", "up", "down", ctx.clock()))
                raise RuntimeError("the monitor's own write failed")
        assert await incidents(client) == []
        alerts = (await client.get("/api/v1/alerts")).json()["alerts"]
        assert [a for a in alerts if a["labels"]["alertname"] == "StatusPageIncident"] == []


async def test_reload_changes_which_pages_a_monitor_opens_incidents_on(
    tmp_path: Path, clock: Clock
) -> None:
    async with running_hub(tmp_path, HUB_YAML, clock=clock) as (hub, client):
        (tmp_path / "hub.yaml").write_text(
            "status_pages:\n  - {slug: public, title: Agent API, public: true, monitors: [batch-job]}\n"
        )
        assert (await client.post("/api/v1/reload")).status_code == 200
        await change(hub, "api", "down")
        await change(hub, "batch-job", "down")
        (incident,) = await incidents(client)
        assert incident["title"] == "batch-job is down" and incident["pages"] == ["public"]


async def test_concurrent_visitors_share_one_build_of_the_page() -> None:
    from agentwatch.hub.status.cache import ViewCache

    now = [100.0]
    builds: list[int] = []
    gate = asyncio.Event()

    async def build() -> int:
        builds.append(1)
        await gate.wait()
        return len(builds)

    cache: ViewCache[int] = ViewCache(2.0, clock=lambda: now[0])
    waiting = [asyncio.ensure_future(cache.get("public", build)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == [1] * 50
    assert await cache.get("public", build) == 1  # still fresh
    now[0] += 2.0
    assert await cache.get("public", build) == 1  # expired: the previous while it builds
    await asyncio.sleep(0)
    assert await cache.get("public", build) == 2
    cache.clear()
    assert await cache.get("public", build) == 3

    async def failing() -> int:
        raise RuntimeError("database gone")

    cache.clear()
    with pytest.raises(RuntimeError):
        await cache.get("public", failing)
    assert await cache.get("public", build) == 4  # a failure is not kept


def test_updates_written_before_keep_the_page_words_not_the_check_message(
    tmp_path: Path,
) -> None:
    """A hub upgraded from a version that wrote the check's message into the monitors'
    updates no longer shows it: those updates say what is down; a person's stay."""
    engine = sa.create_engine(f"sqlite:///{tmp_path}/hub.db")
    written = [
        ("monitor:api", "api is down: HTTP 500 from http://10.0.0.5:8000/"),
        ("monitor:api", "api is down again: connection refused"),
        ("monitor:api", "api is down because postgres, which it depends on, is down: HTTP 500"),
        ("monitor:api", "api is up again after 2 m 05 s. Resolved automatically."),
        ("monitor:pg", "pg is down."),
        ("ana", "api is down: we are on it"),
    ]
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "status_0001")
        conn.execute(
            sa.text(
                "INSERT INTO status_incidents (id, title, status, impact, pages, automatic,"
                " opened_by, opened_at, updated_at) VALUES (1, 'api is down', 'investigating',"
                " 'major', '[]', 1, 'monitor:api', 1.0, 1.0)"
            )
        )
        for by, message in written:
            conn.execute(
                sa.text(
                    "INSERT INTO status_incident_updates (incident_id, at, status, message, by)"
                    " VALUES (1, 1.0, 'investigating', :message, :by)"
                ),
                {"message": message, "by": by},
            )
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "heads")
        rows = conn.execute(sa.text("SELECT message FROM status_incident_updates ORDER BY id"))
        assert [r.message for r in rows] == [
            "api is down.",
            "api is down again.",
            "api is down because postgres, which it depends on, is down.",
            "api is up again after 2 m 05 s. Resolved automatically.",
            "pg is down.",
            "api is down: we are on it",
        ]
    engine.dispose()
