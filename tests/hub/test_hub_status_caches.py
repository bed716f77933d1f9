"""What the status page keeps between visits, and when it lets go: the settled days of the
monitors' rollups (until the day rolls over or the prune deletes some),
each monitor's rendered piece of the page (until what it shows changes), and the previous
view while the next one builds (never after a change)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import jinja2
import pytest
from tests.hub._support import running_hub

from agentwatch.hub.app import Hub
from agentwatch.hub.monitors.config import Retention
from agentwatch.hub.monitors.part import Directory, MonitorsPart
from agentwatch.hub.monitors.tables import rollups
from agentwatch.hub.parts import DayUptime, MonitorState
from agentwatch.hub.status.cache import ViewCache
from agentwatch.hub.status.fragments import TEMPLATE, Fragments
from agentwatch.hub.status.view import monitor_view
from agentwatch.hub.web.render import Templates

DAY = 86400.0
HUB_YAML = """
monitors:
  - {name: api, type: tcp, host: 127.0.0.1, port: 9, paused: true}
  - {name: db, type: tcp, host: 127.0.0.1, port: 9, paused: true}
  - {name: web, type: tcp, host: 127.0.0.1, port: 9, paused: true}
status_pages:
  - {slug: public, title: Agent API, public: true, monitors: [web]}
"""
SHOWN_YAML = HUB_YAML.replace("monitors: [web]", "monitors: [api, db]")  # read at start


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0 - 1_800_000_000.0 % DAY + 12 * 3600  # noon UTC

    def __call__(self) -> float:
        return self.now


async def _roll_up(hub: Hub, monitor: str, start: float, up: int, down: int = 0) -> None:
    """A day's rollup row as the checks leave it (replacing any)."""
    row = {"monitor": monitor, "period": "day", "start": start, "checks": up + down, "up": up}
    row |= {"degraded": 0, "down": down, "maintenance": 0, "latency_total": 0.0}
    row |= {"seconds_down": 60.0 * down, "seconds_maintenance": 0.0}
    async with hub.context.db.write() as conn:
        await conn.execute(
            rollups.delete().where(
                rollups.c.monitor == monitor, rollups.c.period == "day", rollups.c.start == start
            )
        )
        await conn.execute(rollups.insert().values(row))


def _directory(hub: Hub) -> Directory:
    found = hub.context.monitors
    assert isinstance(found, Directory)
    return found


async def _fresh_read(hub: Hub) -> dict[str, list[DayUptime]]:
    """What a directory that kept nothing reads."""
    return await Directory(_directory(hub).part).daily_uptime(["api", "db"], 90)


def _today(clock: Clock) -> float:
    return clock.now - clock.now % DAY


async def test_today_and_yesterday_are_read_again_at_every_ask(tmp_path: Path) -> None:
    clock = Clock()
    async with running_hub(tmp_path, HUB_YAML, clock=clock) as (hub, _):
        directory, today = _directory(hub), _today(clock)
        await _roll_up(hub, "api", today - 10 * DAY, up=10)
        first = await directory.daily_uptime(["api", "db"], 90)
        assert first == await _fresh_read(hub)
        assert first["api"][-11] == DayUptime(first["api"][-11].day, 1.0)
        await _roll_up(hub, "api", today, up=9, down=1)
        await _roll_up(hub, "db", today - DAY, up=1, down=1)
        again = await directory.daily_uptime(["api", "db"], 90)
        assert again == await _fresh_read(hub)
        assert again["api"][-1].uptime == 0.9 and again["db"][-2].uptime == 0.5


async def test_a_settled_day_is_read_once_until_the_day_rolls_over(tmp_path: Path) -> None:
    clock = Clock()
    async with running_hub(tmp_path, HUB_YAML, clock=clock) as (hub, _):
        directory, today = _directory(hub), _today(clock)
        await _roll_up(hub, "api", today - 2 * DAY, up=10)
        before = await directory.daily_uptime(["api"], 90)
        await _roll_up(hub, "api", today - 2 * DAY, up=5, down=5)  # not by a check
        assert await directory.daily_uptime(["api"], 90) == before  # kept
        clock.now += DAY
        rolled = await directory.daily_uptime(["api"], 90)
        assert rolled == {"api": (await _fresh_read(hub))["api"]}
        assert rolled["api"][-4].uptime == 0.5 and rolled["api"][-1].day != before["api"][-1].day


async def test_a_monitor_new_to_the_page_is_read_whole(tmp_path: Path) -> None:
    clock = Clock()
    async with running_hub(tmp_path, HUB_YAML, clock=clock) as (hub, _):
        directory, today = _directory(hub), _today(clock)
        await _roll_up(hub, "db", today - 30 * DAY, up=1, down=3)
        await directory.daily_uptime(["api"], 90)
        found = await directory.daily_uptime(["api", "db"], 90)
        assert found == await _fresh_read(hub)
        assert found["db"][-31].uptime == 0.25


async def _prune_once(hub: Hub, retention: Retention) -> None:
    """One round of the part's prune loop, handing the directory what it deleted."""
    directory = _directory(hub)
    done = asyncio.Event()

    def pruned(before: float) -> None:
        directory.pruned(before)
        done.set()

    part: MonitorsPart = directory.part
    task = asyncio.ensure_future(
        part.scheduler.prune_forever(lambda: retention, pruned=pruned, every=0.0)
    )
    try:
        await asyncio.wait_for(done.wait(), 30)
    finally:
        task.cancel()


@pytest.mark.parametrize(
    ("daily", "shown"),
    [(30 * DAY, None), (400 * DAY, 1.0)],  # pruned: no data; kept (and read again or not)
)
async def test_a_pruned_day_is_gone_from_the_page(
    tmp_path: Path, daily: float, shown: float | None
) -> None:
    clock = Clock()
    async with running_hub(tmp_path, HUB_YAML, clock=clock) as (hub, _):
        directory, today = _directory(hub), _today(clock)
        await _roll_up(hub, "api", today - 60 * DAY, up=10)
        assert (await directory.daily_uptime(["api"], 90))["api"][-61].uptime == 1.0
        await _prune_once(hub, Retention(daily=daily))
        found = await directory.daily_uptime(["api", "db"], 90)
        assert found == await _fresh_read(hub)
        assert found["api"][-61].uptime == shown


# -- the rendered pieces -----------------------------------------------------------------


def _env() -> jinja2.Environment:
    templates = Templates(["status"])
    env = templates.env
    env.filters.update(status_percent=lambda f: "no data" if f is None else f"{f * 100:.2f} %")
    return env


def _days(*uptimes: float | None) -> list[DayUptime]:
    return [
        DayUptime(f"2026-11-{n:02d}", u, down_seconds=0.0 if u in (None, 1.0) else 600.0)
        for n, u in enumerate(uptimes, 1)
    ]


def _state(status: str, message: str = "", name: str = "api", **more: Any) -> MonitorState:
    fields: dict[str, Any] = {"last_check": 1.0, "latency_ms": 3.0} | more
    return MonitorState(name, "http", status, message=message, **fields)


def _piece(
    fragments: Fragments, state: MonitorState, days: list[DayUptime], *, operator: bool = True
) -> str:
    return str(fragments.of("public", [monitor_view(state, days)], operator=operator)[state.name])


@pytest.mark.parametrize(
    ("second", "second_days", "changes"),
    [
        (_state("up", "ok", last_check=9.0, latency_ms=9.0), _days(1.0, 1.0), False),
        (_state("up", "HTTP 200 in 9 ms"), _days(1.0, 1.0), False),  # message hidden when up
        (_state("down", "HTTP 503"), _days(1.0, 1.0), True),
        (_state("up", "", description="The API"), _days(1.0, 1.0), True),
        (_state("up", "ok"), _days(1.0, 0.5), True),  # today's uptime
        (_state("up", "ok"), _days(1.0, 1.0, None), True),  # a new day
        (_state("up", "ok", name="web"), _days(1.0, 1.0), True),
    ],
)
def test_a_monitors_piece_is_rendered_again_when_what_it_shows_changes(
    second: MonitorState, second_days: list[DayUptime], changes: bool
) -> None:
    env = _env()
    fragments = Fragments(env)
    first = _piece(fragments, _state("up", "ok"), _days(1.0, 1.0))
    again = _piece(fragments, second, second_days)
    direct = env.get_template(TEMPLATE).render(m=monitor_view(second, second_days), operator=True)
    assert again == direct  # what an include of the template would give
    assert (again != first) == changes


def test_a_down_monitor_shows_its_new_message_and_cause() -> None:
    fragments = Fragments(_env())
    days = _days(1.0, 0.5)
    assert "HTTP 503" in _piece(fragments, _state("down", "HTTP 503"), days)
    piece = _piece(fragments, _state("down", "HTTP 502", cause="postgres"), days)
    assert "because postgres is down: HTTP 502" in piece and "HTTP 503" not in piece


def test_a_visitors_piece_has_the_cause_not_the_check_message() -> None:
    """The check's message names the probe's target: an operator's piece has it, a
    visitor's (kept apart, so neither serves the other) does not."""
    fragments = Fragments(_env())
    days = _days(1.0, 0.5)
    state = _state("down", "HTTP 500 from http://127.0.0.1:8000/", cause="postgres")
    operator = _piece(fragments, state, days, operator=True)
    visitor = _piece(fragments, state, days, operator=False)
    assert "because postgres is down: HTTP 500 from http://127.0.0.1:8000/" in operator
    assert "because postgres is down" in visitor and "127.0.0.1" not in visitor
    assert _piece(fragments, state, days, operator=True) == operator


# -- the view, stale while the next builds ---------------------------------------------


class Builds:
    """Each build waits for ``release`` and returns its number."""

    def __init__(self) -> None:
        self.count = 0
        self.release = asyncio.Event()

    async def __call__(self) -> int:
        self.count += 1
        number = self.count
        await self.release.wait()
        return number


async def _expired_after_one_build() -> tuple[Builds, ViewCache[int]]:
    """A cache whose one view (build 1) has just expired; the next build waits for release."""
    now = [100.0]
    builds = Builds()
    cache: ViewCache[int] = ViewCache(2.0, clock=lambda: now[0])
    builds.release.set()
    assert await cache.get("public", builds) == 1
    builds.release.clear()
    now[0] += 2.0
    return builds, cache


async def test_an_expired_view_serves_the_previous_while_the_next_builds() -> None:
    builds, cache = await _expired_after_one_build()
    assert await cache.get("public", builds) == 1  # expired: the previous, a build started
    await asyncio.sleep(0)
    assert await cache.get("public", builds) == 1  # the same build, still the previous
    assert builds.count == 2
    builds.release.set()
    await asyncio.sleep(0)
    assert await cache.get("public", builds) == 2


async def test_after_a_clear_visitors_wait_for_the_new_view() -> None:
    builds, cache = await _expired_after_one_build()
    cache.clear()  # an incident opened: the view before it is never served again
    waiting = asyncio.ensure_future(cache.get("public", builds))
    await asyncio.sleep(0)
    assert not waiting.done()
    builds.release.set()
    assert await waiting == 2


async def test_a_failed_build_drops_the_previous_view_too() -> None:
    builds, cache = await _expired_after_one_build()

    async def failing() -> int:
        raise RuntimeError("database gone")

    assert await cache.get("public", failing) == 1  # served while it (fails to) build
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await cache.get("public", failing)
    builds.release.set()
    assert await cache.get("public", builds) == 2


# -- warm at start -----------------------------------------------------------------------


async def test_the_hub_reads_its_pages_days_before_it_is_ready(tmp_path: Path) -> None:
    clock = Clock()
    async with running_hub(tmp_path, SHOWN_YAML, clock=clock) as (hub, _):
        await _roll_up(hub, "api", _today(clock) - 5 * DAY, up=10)
    async with running_hub(tmp_path, SHOWN_YAML, clock=clock) as (hub, client):
        await _roll_up(hub, "api", _today(clock) - 5 * DAY, up=1, down=1)  # not by a check
        incident = {"title": "API slow", "message": "Looking", "monitors": ["api"]}
        assert (await client.post("/api/v1/incidents", json=incident)).status_code == 201
        page = (await client.get("/api/v1/status/public")).json()  # built after the start
        (api,) = [m for m in page["monitors"] if m["name"] == "api"]
        assert api["days"][-6]["uptime"] == 1.0  # as read when the hub started


async def test_the_json_twin_follows_the_view_and_the_days_asked(tmp_path: Path) -> None:
    async with running_hub(tmp_path, SHOWN_YAML, clock=Clock()) as (_, client):
        first = await client.get("/api/v1/status/public")
        assert first.headers["content-type"] == "application/json"
        short = (await client.get("/api/v1/status/public?days=2")).json()
        assert [len(m["days"]) for m in short["monitors"]] == [2, 2]
        again = await client.get("/api/v1/status/public")
        assert again.content == first.content and len(again.json()["monitors"][0]["days"]) == 90
        incident = {"title": "API slow", "message": "Looking", "monitors": ["api"]}
        assert (await client.post("/api/v1/incidents", json=incident)).status_code == 201
        after = (await client.get("/api/v1/status/public")).json()
        assert [i["title"] for i in after["incidents"]["active"]] == ["API slow"]
