"""The monitors' rows on SQLite and the machine's Postgres: uptime over windows summed by
the database, retention prunes what it should and keeps the rest, the compact results
table keeps rows written before it, a passing check keeps no trace id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from starlette.responses import JSONResponse

from agentwatch.hub.monitors import store
from agentwatch.hub.monitors.config import MonitorConfig, Retention, monitor_from_json
from agentwatch.hub.monitors.tables import results, rollups
from agentwatch.hub.monitors.uptime import UptimeWindows
from agentwatch.hub.monitors.views import UPTIME_WINDOWS, EncodedListing, monitor_json
from agentwatch.hub.store import Database
from agentwatch.hub.store.migrate import alembic_config

DAY = 86400.0
NOW = 1_800_000_000.0


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/hub.db"
    return str(request.getfixturevalue("pg_url"))


def _monitor(name: str) -> MonitorConfig:
    spec = {"name": name, "type": "tcp", "host": "127.0.0.1", "port": 1, "interval": "60s"}
    return monitor_from_json(spec, environ={})


async def test_retention_prunes_each_monitor_and_keeps_the_rest(url: str) -> None:
    db = Database.open(url)
    try:
        await db.migrate()
        monitors = [_monitor("a"), _monitor("b")]
        async with db.write() as conn:
            await store.sync_yaml(conn, monitors, NOW)
            for monitor in monitors:
                for age in (100 * DAY, 8 * DAY, DAY, 0.0):
                    outcome = store.Outcome("down", NOW - age, 1.5, "refused", trace_id="ab" * 16)
                    await store.record(conn, monitor, outcome)
            await store.record(
                conn, monitors[0], store.Outcome("up", NOW + 1, 1.0, "open", trace_id="cd" * 16)
            )
        async with db.read() as conn:
            windows = {"24h": DAY, "90d": 90 * DAY, "1y": 365 * DAY}
            uptime = await UptimeWindows(windows).of(conn, ["a", "b", "c"], NOW + 2)
        # a: down 1 d ago, down and up now (24 h, hourly); + down 8 d ago (90 d, daily)
        assert uptime["a"] == {"24h": round(1 / 3, 6), "90d": 0.25, "1y": 0.2}
        assert uptime["b"] == {"24h": 0.0, "90d": 0.0, "1y": 0.0}
        assert uptime["c"] == {"24h": None, "90d": None, "1y": None}  # never checked
        async with db.write() as conn:
            removed = await store.prune(conn, Retention(), NOW)
        async with db.read() as conn:
            kept = (await conn.execute(sa.select(results).order_by(results.c.at))).all()
            hours = (
                await conn.execute(sa.select(rollups.c.start).where(rollups.c.period == "hour"))
            ).all()
            days = (
                await conn.execute(sa.select(rollups.c.start).where(rollups.c.period == "day"))
            ).all()
        # results: 100 d and 8 d ago go (7 d kept); hourly: 100 d ago goes (90 d kept)
        assert sorted({r.at for r in kept}) == [NOW - DAY, NOW, NOW + 1]
        assert len(kept) == 5 and removed == 2 * 2 + 2 * 1
        assert len(hours) == 2 * 3 and len(days) == 2 * 4  # the daily rollups stay 400 d
        assert [r.trace_id for r in kept if r.status == "up"] == [None]
        assert {r.trace_id for r in kept if r.status == "down"} == {"ab" * 16}
    finally:
        await db.close()


def test_the_compact_tables_keep_rows_written_before_them(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/hub.db")
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "monitors_0002")
        conn.execute(
            sa.text(
                "INSERT INTO monitors_results (monitor, at, status, latency_ms, message)"
                " VALUES ('api', 1.5, 'up', 3.0, 'HTTP 200'), ('api', 2.5, 'down', NULL, 'x')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO monitors_rollups VALUES ('api', 'hour', 0, 2, 1, 0, 1, 0, 3.0, 60, 0)"
            )
        )
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "heads")
        rows = conn.execute(sa.text("SELECT monitor, at, status FROM monitors_results")).all()
        assert sorted(tuple(r) for r in rows) == [("api", 1.5, "up"), ("api", 2.5, "down")]
        assert conn.execute(sa.text("SELECT checks FROM monitors_rollups")).scalar() == 2
        ddl = conn.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE name = 'monitors_results'")
        ).scalar()
        assert "WITHOUT ROWID" in str(ddl).upper()
        indexes = conn.execute(
            sa.text("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        ).all()
        assert not [i for i in indexes if "monitors_results" in i.name]
    engine.dispose()


async def test_uptime_kept_between_asks_matches_uptime_summed_afresh(url: str) -> None:
    """One UptimeWindows asked again and again (it keeps the older buckets' sums) answers
    what a new one sums from every rollup: after new checks, a late check landing in the
    bucket before, the windows moving past a bucket, and a monitor asked for the first time."""
    db = Database.open(url)
    windows = {"24h": DAY, "7d": 7 * DAY, "90d": 90 * DAY}
    kept = UptimeWindows(windows)

    async def check(name: str, status: str, at: float) -> None:
        async with db.write() as conn:
            await store.record(conn, _monitor(name), store.Outcome(status, at, 1.0, status))

    async def both(names: list[str], now: float) -> tuple[object, object]:
        async with db.read() as conn:
            return await kept.of(conn, names, now), await UptimeWindows(windows).of(
                conn, names, now
            )

    try:
        await db.migrate()
        async with db.write() as conn:
            await store.sync_yaml(conn, [_monitor("a"), _monitor("b")], NOW)
        for age, status in ((30 * DAY, "down"), (5 * DAY, "up"), (3 * 3600, "down"), (60, "up")):
            await check("a", status, NOW - age)
            await check("b", "up", NOW - age)
        first, fresh = await both(["a"], NOW)
        assert first == fresh == {"a": {"24h": 0.5, "7d": round(2 / 3, 6), "90d": 0.5}}
        steps = [
            (NOW + 10, "a", "down", NOW + 20),  # a new check, same buckets
            (NOW - 5, "a", "up", NOW + 30),  # late: lands in the hour before (NOW is on the hour)
            (NOW + 2 * 3600, "a", "down", NOW + 2 * 3600 + 1),  # the windows move an hour
            (NOW + DAY + 1, "a", "up", NOW + 2 * DAY),  # and a day
        ]
        for at, name, status, now in steps:
            await check(name, status, at)
            asked, fresh = await both(["a"], now)
            assert asked == fresh, (at, status, now)
        asked, fresh = await both(["a", "b"], NOW + 2 * DAY)  # b: not asked before
        assert asked == fresh and asked["b"]["90d"] == 1.0  # type: ignore[index]
        asked, fresh = await both(["a", "c"], NOW + 2 * DAY)  # c: never checked
        assert asked == fresh and asked["c"] == {"24h": None, "7d": None, "90d": None}  # type: ignore[index]
    finally:
        await db.close()


async def test_the_kept_listing_says_what_a_listing_encoded_afresh_says(url: str) -> None:
    """/api/v1/monitors keeps each monitor's encoded JSON; after checks, a pause and a
    monitor gone, it is byte for byte what Starlette encodes from the rows afresh."""
    db = Database.open(url)
    kept = EncodedListing()
    monitors = [_monitor(name) for name in ("a", "b", "c")]

    async def listing(names: list[str]) -> tuple[bytes, bytes]:
        async with db.read() as conn:
            rows = await store.state_rows(conn, names, store.LISTED)
            uptime = await UptimeWindows(UPTIME_WINDOWS).of(conn, names, NOW + 10)
        fresh = JSONResponse({"monitors": [monitor_json(r, uptime[r.name]) for r in rows]}).body
        return kept.body(rows, uptime), bytes(fresh)

    try:
        await db.migrate()
        async with db.write() as conn:
            await store.sync_yaml(conn, monitors, NOW)
        first, fresh = await listing(["a", "b", "c"])
        assert first == fresh and b'"status":"pending"' in first
        async with db.write() as conn:
            await store.record(conn, monitors[0], store.Outcome("down", NOW + 1, 2.0, "refused"))
            await store.set_paused(conn, "b", True, NOW + 2)
        second, fresh = await listing(["a", "b", "c"])
        assert second == fresh != first
        assert json.loads(second)["monitors"][0]["uptime"]["24h"] == 0.0
        assert [m["status"] for m in json.loads(second)["monitors"]] == [
            "down",
            "paused",
            "pending",
        ]
        third, fresh = await listing(["a", "c"])
        assert third == fresh and b'"name":"b"' not in third
    finally:
        await db.close()
