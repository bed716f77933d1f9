"""The running monitors part: its routes, the scheduler, the directory the status part
reads, and the maintenance calendar the alerts part asks."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.routing import BaseRoute, Route

from ..config import HubConfigError, Problem
from ..parts import DayUptime, HubContext, MonitorState
from . import store
from .api import MonitorsApi
from .config import MonitorConfig, MonitorsConfig, monitor_from_json
from .leases import BEAT, Leases
from .maintenance import Calendar
from .metrics import MonitorMetrics
from .scheduler import Scheduler
from .views import state_of

__all__ = ["MonitorsPart"]

_log = logging.getLogger("agentwatch.hub.monitors")
DAY = 86400.0


class MonitorsPart:
    def __init__(self, ctx: HubContext, config: MonitorsConfig | None) -> None:
        self.ctx = ctx
        self.config = config or MonitorsConfig()
        self.api_monitors: dict[str, MonitorConfig] = {}
        self._merged: dict[str, MonitorConfig] | None = None
        self.metrics = MonitorMetrics(ctx.registry)
        self.calendar = Calendar(self.config.maintenance)
        hub_id = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"
        self.leases = (
            Leases(ctx.db, hub_id=hub_id, clock=ctx.clock) if ctx.db.dialect != "sqlite" else None
        )
        self.scheduler = Scheduler(
            ctx,
            self.metrics,
            self.calendar,
            monitors=self.monitors,
            pages=lambda name: self.config.pages.get(name, ()),
            concurrency=self.config.concurrency,
            leases=self.leases,
        )
        self._api = MonitorsApi(self)
        self._tasks: list[asyncio.Task[None]] = []
        ctx.maintenance = self.calendar
        self.directory = Directory(self)
        ctx.monitors = self.directory

    def monitors(self) -> dict[str, MonitorConfig]:
        """Every monitor by name, the file's and the API's (the same dict until one changes)."""
        if self._merged is None:
            self._merged = {**self.api_monitors, **self.config.by_name()}
        return self._merged

    def set_api_monitor(self, monitor: MonitorConfig | None, name: str = "") -> None:
        """Add or replace an API monitor (None: remove ``name``)."""
        if monitor is None:
            self.api_monitors.pop(name, None)
        else:
            self.api_monitors[monitor.name] = monitor
        self._changed()

    def _changed(self) -> None:
        self._merged = None
        self.scheduler.wake()

    def is_public(self, name: str) -> bool:
        return name in self.config.public

    def routes(self) -> Sequence[BaseRoute]:
        a = self._api
        return [
            Route("/", a.overview, include_in_schema=False),
            Route("/api/v1/monitors", a.list_monitors, methods=["GET"]),
            Route("/api/v1/monitors", a.create, methods=["POST"]),
            Route("/api/v1/monitors/{name}", a.get_monitor, methods=["GET"]),
            Route("/api/v1/monitors/{name}", a.replace, methods=["PUT"]),
            Route("/api/v1/monitors/{name}", a.delete, methods=["DELETE"]),
            Route("/api/v1/monitors/{name}/history", a.history, methods=["GET"]),
            Route("/api/v1/monitors/{name}/pause", a.pause, methods=["POST"]),
            Route("/api/v1/monitors/{name}/resume", a.resume, methods=["POST"]),
            Route("/api/v1/push/{name}", a.push, methods=["GET", "POST"]),
            Route("/api/v1/maintenance", a.maintenance, methods=["GET", "POST"]),
            Route("/api/v1/maintenance/{window_id}", a.end_maintenance, methods=["DELETE"]),
            Route("/badge/{name}.svg", a.badge),
        ]

    async def start(self) -> None:
        now = self.ctx.clock()
        async with self.ctx.db.write() as conn:
            toggled = await store.sync_yaml(conn, self.config.monitors, now)
            await self.calendar.load(conn, now)
            rows = await store.state_rows(conn)
        self.api_monitors = self._api_monitors(rows)
        self._merged = None
        for row in rows:
            self.metrics.show(row.name, row.status)
        self.scheduler.paused = {row.name for row in rows if row.paused}
        for monitor in toggled:  # ``paused:`` changed in the file while the hub was down
            await self.set_paused(monitor, monitor.paused)
        jobs = [
            ("scheduler", self.scheduler.run()),
            (
                "prune",
                self.scheduler.prune_forever(
                    lambda: self.config.retention, pruned=self.directory.pruned
                ),
            ),
        ]
        if self.leases is not None:
            await self.leases.beat()
            jobs.append(("leases", self._share_forever(self.leases)))
        loop = asyncio.get_running_loop()
        for name, job in jobs:
            self._tasks.append(loop.create_task(job, name=f"agentwatch-hub-monitors-{name}"))
        _log.info("%d monitors (%d from the API)", len(self.monitors()), len(self.api_monitors))

    async def _share_forever(self, leases: Leases) -> None:
        """Beat this hub's row; take the monitors and pauses other hubs' APIs made."""
        while True:
            await asyncio.sleep(BEAT)
            try:
                await leases.beat()
                async with self.ctx.db.read() as conn:
                    rows = await store.shared_rows(conn)
                found = self._api_monitors(rows, known=self.api_monitors)
                if found.keys() != self.api_monitors.keys() or any(
                    found[name] is not self.api_monitors[name] for name in found
                ):
                    self.api_monitors = found
                    self._changed()
                self.scheduler.paused = {row.name for row in rows if row.paused}
            except Exception:
                _log.exception("sharing the monitors with the other hubs failed")

    def _api_monitors(
        self, rows: Sequence[Any], known: dict[str, MonitorConfig] | None = None
    ) -> dict[str, MonitorConfig]:
        found: dict[str, MonitorConfig] = {}
        for row in rows:
            if row.owner != "api":
                continue
            if known and row.name in known and known[row.name].spec == row.spec:
                found[row.name] = known[row.name]
                continue
            try:
                monitor = monitor_from_json(row.spec, environ=self.ctx.environ)
            except HubConfigError as exc:  # e.g. an ${ENV} no longer set: say so, go on
                (_log.debug if known is not None else _log.error)(
                    "API monitor %s cannot run: %s", row.name, exc
                )
                continue
            found[monitor.name] = monitor
        return found

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.scheduler.stop()
        if self.leases is not None:
            try:
                await self.leases.release_all()
            except Exception:  # the others take over when the leases run out
                _log.exception("giving the monitors' leases back failed")

    async def reload(self, config: object) -> None:
        if not isinstance(config, MonitorsConfig):
            return
        kept = config.by_name()
        self._refuse_orphans(kept)
        gone = [m for name, m in self.config.by_name().items() if name not in kept]
        async with self.ctx.db.write() as conn:
            await self.removing(conn, gone)
            toggled = await store.sync_yaml(conn, config.monitors, self.ctx.clock())
        for monitor in gone:
            self.metrics.forget(monitor.name)
        self.config = config
        self.calendar.windows = config.maintenance
        self._changed()
        for monitor in toggled:
            await self.set_paused(monitor, monitor.paused)

    def _refuse_orphans(self, kept: dict[str, MonitorConfig]) -> None:
        """A file that drops a monitor an API monitor depends on is refused, as a DELETE
        of it is: the API monitor would name a parent that is not there."""
        problems = [
            Problem(
                "",
                "monitors",
                f"{parent!r} is in the depends_on of the API monitor {child.name!r}: keep it "
                "in the file, or change that monitor first",
            )
            for child in self.api_monitors.values()
            for parent in child.depends_on
            if parent != "internet" and parent not in kept and parent not in self.api_monitors
        ]
        if problems:
            raise HubConfigError(problems)

    async def removing(self, conn: AsyncConnection, monitors: Sequence[MonitorConfig]) -> None:
        """Monitors about to be deleted: a down or degraded one resolves its alerts (a
        ``removed`` change), in the transaction that deletes it."""
        rows = await store.state_rows(conn, [m.name for m in monitors])
        previous = {row.name: row.status for row in rows}
        now = self.ctx.clock()
        for monitor in monitors:
            if previous.get(monitor.name) not in ("down", "degraded"):
                continue
            outcome = store.Outcome("removed", now, None, "the monitor was removed")
            recorded = store.Recorded(previous[monitor.name], "removed")
            await self.ctx.events.publish(conn, self.scheduler.change(monitor, outcome, recorded))

    async def set_paused(self, monitor: MonitorConfig, paused: bool) -> None:
        now = self.ctx.clock()
        async with self.ctx.db.write() as conn:
            recorded = await store.set_paused(conn, monitor.name, paused, now)
            changed = recorded is not None and recorded.previous != recorded.status
            if changed and recorded is not None:
                outcome = store.Outcome(
                    recorded.status, now, None, "paused" if paused else "resumed"
                )
                await self.ctx.events.publish(
                    conn, self.scheduler.change(monitor, outcome, recorded)
                )
        (self.scheduler.paused.add if paused else self.scheduler.paused.discard)(monitor.name)
        if changed:  # resuming a monitor that runs keeps its status and its counts
            self.metrics.show(monitor.name, "paused" if paused else "pending")
            if not paused:
                self.scheduler.soon(monitor.name)

    async def heartbeat(self, monitor: MonitorConfig, status: str, message: str) -> None:
        now = self.ctx.clock()
        async with self.ctx.db.write() as conn:
            await _mark_push(conn, monitor.name, now)
        await self.scheduler.record(monitor, store.Outcome(status, now, None, message))


async def _mark_push(conn: AsyncConnection, name: str, now: float) -> None:
    from .tables import state

    await conn.execute(state.update().where(state.c.name == name).values(last_push=now))


class Directory:
    """:class:`~agentwatch.hub.parts.MonitorDirectory` over the part's tables.

    A status page of 1,000 monitors asks 90 days of each at every build: 90,000 rollup
    rows. Only today and yesterday still change (a check is rolled up by the time it ran,
    and one run just before midnight is recorded just after), so the days before them are
    read once per monitor and kept (``_settled``) until the day rolls over or the prune
    deletes some of them (:meth:`pruned`). They are kept by monitor: a page that shows
    another monitor reads that one's days; a monitor changed, removed or made again keeps
    its rollups, so its days stay what they were (whichever hub wrote them)."""

    def __init__(self, part: MonitorsPart) -> None:
        self.part = part
        self._window: tuple[float, int] | None = None  # (first day, days) _settled covers
        self._settled: dict[str, tuple[DayUptime, ...]] = {}

    def forget(self) -> None:
        """Read every day again at the next ask."""
        self._settled = {}

    def pruned(self, before: float) -> None:
        """The daily rollups starting before ``before`` were deleted: forget the days kept if
        that is some of them (a daily retention shorter than the days asked)."""
        if self._window is not None and before > self._window[0]:
            self.forget()

    async def states(self, names: Sequence[str] | None = None) -> list[MonitorState]:
        async with self.part.ctx.db.read() as conn:
            rows = await store.state_rows(conn, names, store.LISTED)
        by_name = {row.name: state_of(row) for row in rows}
        order = list(names) if names is not None else sorted(by_name)
        return [by_name[name] for name in order if name in by_name]

    async def daily_uptime(self, names: Sequence[str], days: int) -> dict[str, list[DayUptime]]:
        now = self.part.ctx.clock()
        today = now - now % DAY
        first = today - (days - 1) * DAY
        if self._window != (first, days):  # a new day (or another length): all afresh
            self._window, self._settled = (first, days), {}
        kept = self._settled  # forget() during the reads replaces it: theirs is dropped
        settled = max(0, days - 2)  # the days before yesterday
        unknown = [name for name in names if name not in kept]
        known = [name for name in names if name in kept]
        recent_first = first + settled * DAY
        async with self.part.ctx.db.read() as conn:
            whole = await store.daily(conn, unknown, first) if unknown else []
            latest = await store.daily(conn, known, recent_first) if known else []
        found = _uptimes(whole, unknown, first, days)
        for name in unknown:
            kept[name] = tuple(found[name][:settled])
        recent = _uptimes(latest, known, recent_first, days - settled)
        for name in known:
            found[name] = [*kept[name], *recent[name]]
        return {name: found[name] for name in names}


def _uptimes(
    rows: Sequence[Any], names: Sequence[str], first: float, days: int
) -> dict[str, list[DayUptime]]:
    """Each monitor's ``days`` days from ``first``, oldest first, from its rollup rows.

    A page's first build turns 90,000 rows into days: each row is unpacked (a row's
    attribute costs more than the tuple's item), and a day alike in many monitors (every
    check up, at the same interval) is one object, which the status bars then compare by
    identity."""
    # the days' names and their no-data entries once, not per monitor (1,000 x 90)
    starts = [first + i * DAY for i in range(days)]
    labels = {start: _day_name(start) for start in starts}
    empty = {start: DayUptime(labels[start], None) for start in starts}
    found: dict[str, dict[float, DayUptime]] = {}
    alike: dict[tuple[float, ...], DayUptime] = {}
    for monitor, start, *counts in rows:  # store.daily's columns, in their order
        label = labels.get(start)
        if label is None:
            continue
        key = (start, *counts)
        day = alike.get(key)
        if day is None:
            day = alike[key] = _day(label, *counts)
        found.setdefault(monitor, {})[start] = day
    return {
        name: [days_of.get(start) or empty[start] for start in starts]
        if (days_of := found.get(name)) is not None
        else list(empty.values())
        for name in names
    }


def _day_name(start: float) -> str:
    return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d")


def _day(
    day: str,
    checks: int,
    up: int,
    degraded: int,
    maintenance: int,
    seconds_down: float,
    seconds_maintenance: float,
) -> DayUptime:
    counted = checks - maintenance
    good = up + degraded
    return DayUptime(
        day,
        round(good / counted, 6) if counted > 0 else None,
        down_seconds=seconds_down,
        maintenance_seconds=seconds_maintenance,
    )
