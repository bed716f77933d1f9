"""When each monitor is checked: every ``interval`` from a jittered start, at most
``concurrency`` checks at once, each outcome recorded (and its status change published)
in one transaction. On a shared Postgres, a check runs only on the hub holding the
monitor's lease (see :mod:`.leases`).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx
import sqlalchemy as sa

from ..events import MonitorChange
from ..parts import HubContext
from . import store
from .config import MonitorConfig, Retention
from .leases import Leases
from .maintenance import Calendar
from .metrics import MonitorMetrics
from .probes import ProbeResult, run_probe
from .tables import state

__all__ = ["Scheduler"]

_log = logging.getLogger("agentwatch.hub.monitors")
FIRST_SPREAD = 10.0  # seconds over which the first checks of a start are spread
PRUNE_EVERY = 600.0
DRAIN = 5.0  # seconds a stopping hub waits for its checks under way
RETRY_AFTER = 0.05  # past a lease's end, before asking for it
KEEP_IDLE = 8  # idle connections the probes' client keeps
BATCH = 500  # outcomes written in one transaction at most
GATHER = 0.1  # seconds the writer waits for more outcomes before a transaction


_Pending = tuple[MonitorConfig, store.Outcome, "asyncio.Future[None]"]


@dataclass
class Scheduler:
    ctx: HubContext
    metrics: MonitorMetrics
    calendar: Calendar
    monitors: Callable[[], Mapping[str, MonitorConfig]]
    pages: Callable[[str], tuple[str, ...]]
    concurrency: int = 64
    leases: Leases | None = None  # several hubs on one database: leases decide who checks
    paused: set[str] = field(default_factory=set)
    _due: dict[str, float] = field(default_factory=dict)  # name -> next check (monotonic)
    _heap: list[tuple[float, str]] = field(default_factory=list)  # (due, name), stale ones too
    _running: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _pending: list[_Pending] = field(default_factory=list)  # outcomes for the next commit
    _writer: asyncio.Task[None] | None = None
    _http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """The probes' own client: its pool sized to the checks at once, with few idle
        connections kept (httpcore scans the whole pool, asking each idle socket whether it
        is readable, on every request and every response: the hub's shared client, 100
        connections, made that most of a check's CPU)."""
        if self._http is None:
            limits = httpx.Limits(
                max_connections=self.concurrency,
                max_keepalive_connections=min(self.concurrency, KEEP_IDLE),
            )
            self._http = httpx.AsyncClient(timeout=10.0, follow_redirects=False, limits=limits)
        return self._http

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Start each check when due: a heap of due times, so a wake costs the checks it
        starts, not the number of monitors."""
        semaphore = asyncio.Semaphore(self.concurrency)
        known: Mapping[str, MonitorConfig] | None = None
        while True:
            current = self.monitors()
            if current is not known:  # the file or the API changed the monitors
                self._sync(current, known or {})
                known = current
            now = time.monotonic()
            while self._heap and self._heap[0][0] <= now:
                due, name = heapq.heappop(self._heap)
                monitor = current.get(name)
                if monitor is None or self._due.get(name) != due:
                    continue  # gone, or moved to another time
                step = (
                    due + monitor.interval
                    if now - due < monitor.interval
                    else now + monitor.interval
                )
                self._schedule(name, step)
                if name in self.paused:
                    self._forget_lease(name)
                elif name not in self._running:  # one check of a monitor at a time
                    self._start(semaphore, monitor, due)
            await self._sleep((self._heap[0][0] if self._heap else now + 1.0) - time.monotonic())

    def _sync(
        self, current: Mapping[str, MonitorConfig], known: Mapping[str, MonitorConfig]
    ) -> None:
        """Schedule new monitors, forget removed ones, and bring in the next check of one
        whose interval was shortened (1h to 10s was checked again only an hour later)."""
        now = time.monotonic()
        for name in [n for n in self._due if n not in current]:
            del self._due[name]
            self._forget_lease(name)
        for name, monitor in current.items():
            before = known.get(name)
            shortened = before is not None and monitor.interval < before.interval
            if name not in self._due or (shortened and self._due[name] > now + monitor.interval):
                self._schedule(name, now + random.uniform(0, min(monitor.interval, FIRST_SPREAD)))

    def soon(self, name: str) -> None:
        """Check ``name`` at the next wake (a resumed monitor)."""
        if name in self._due:
            self._schedule(name, time.monotonic())
            self.wake()

    def _schedule(self, name: str, at: float) -> None:
        self._due[name] = at
        heapq.heappush(self._heap, (at, name))

    def _forget_lease(self, name: str) -> None:
        if self.leases is not None:
            self.leases.held.pop(name, None)  # not renewed: it runs out, counts no more

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(0.01, min(seconds, 1.0)))

    def _start(self, semaphore: asyncio.Semaphore, monitor: MonitorConfig, due: float) -> None:
        self._running.add(monitor.name)
        task = asyncio.get_running_loop().create_task(self._guarded(semaphore, monitor, due))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(
        self, semaphore: asyncio.Semaphore, monitor: MonitorConfig, due: float
    ) -> None:
        try:
            async with semaphore:  # the probes at once; the commit is waited for outside
                self.metrics.lateness.observe(max(0.0, time.monotonic() - due))
                outcome = await self.check(monitor)
            if outcome is not None:
                await self.record(monitor, outcome)
        except Exception:  # one monitor's failure never stops the others
            _log.exception("check of monitor %s failed", monitor.name)
        finally:
            self._running.discard(monitor.name)

    async def check(self, monitor: MonitorConfig) -> store.Outcome | None:
        """The monitor's outcome now (None: another hub holds its lease, or a push monitor
        was heard from, or created, within ``interval + grace``: its heartbeats say)."""
        if self.leases is not None and not await self._claim(monitor):
            return None
        at = self.ctx.clock()
        window = self.calendar.window_of(monitor.name, at)
        if window is not None:
            outcome = store.Outcome("maintenance", at, None, f"maintenance: {window.name}")
        else:
            result = await self._probe(monitor, at)
            if result is None:
                return None
            outcome = store.Outcome(
                result.status,
                at,
                result.latency_ms,
                result.message,
                result.trace_id,
                result.components,
            )
            self.metrics.checks.labels(monitor.name, result.status).inc()
            if result.latency_ms is not None:
                self.metrics.latency.labels(monitor.name).observe(result.latency_ms / 1000.0)
        return outcome

    async def _claim(self, monitor: MonitorConfig) -> bool:
        assert self.leases is not None
        claim = await self.leases.claim(
            monitor.name, interval=monitor.interval, monitors=len(self.monitors())
        )
        if not claim.run and claim.retry_at is not None:
            # ask again the moment the holder's lease runs out
            wait = max(0.0, claim.retry_at - self.ctx.clock()) + RETRY_AFTER
            self._schedule(monitor.name, time.monotonic() + wait)
            self.wake()
        return claim.run

    async def _probe(self, monitor: MonitorConfig, at: float) -> ProbeResult | None:
        if monitor.type != "push":
            return await run_probe(monitor, self.http)
        columns = (state.c.last_push, state.c.created_at)
        async with self.ctx.db.read() as conn:
            row = (
                await conn.execute(sa.select(*columns).where(state.c.name == monitor.name))
            ).first()
        last = row.last_push if row is not None else None
        heard = last if last is not None else (row.created_at if row is not None else None)
        if heard is not None and at - heard <= monitor.interval + monitor.grace:
            # the job's heartbeats record up or down themselves; the schedule only notices
            # silence (it recording "up, heard 0 s ago" raced a heartbeat saying down); a new
            # monitor is pending until the job has had its interval (a nightly job...)
            return None
        since = "never" if last is None else f"{at - last:.0f}s ago"
        return ProbeResult(
            "down",
            None,
            f"no heartbeat within {monitor.interval + monitor.grace:g}s (last: {since})",
        )

    async def record(self, monitor: MonitorConfig, outcome: store.Outcome) -> None:
        """Store ``outcome`` and publish the status change it makes, in one transaction;
        returns once committed. Outcomes arriving within :data:`GATHER` seconds, or while a
        transaction commits, go in one transaction together (group commit: one fsync and one
        set of statements for many checks; a status change is published that much later)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((monitor, outcome, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_pending())
        await asyncio.shield(done)  # a cancelled check is still recorded

    async def _write_pending(self) -> None:
        await asyncio.sleep(GATHER)  # 100 checks a second: 10 a transaction, not 1 or 2
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            try:
                await self._write(batch)
            except Exception:  # one bad outcome must not lose the others: each on its own
                for item in batch:
                    try:
                        await self._write([item])
                    except Exception as exc:
                        if not item[2].done():
                            item[2].set_exception(exc)

    async def _write(self, batch: list[_Pending]) -> None:
        async with self.ctx.db.write() as conn:
            changes = await store.record_many(conn, [(m, o) for m, o, _done in batch])
            written = [(m, o, r) for (m, _o, _d), (o, r) in zip(batch, changes, strict=True)]
            for monitor, outcome, recorded in written:
                if recorded is not None:
                    await self.ctx.events.publish(conn, self.change(monitor, outcome, recorded))
        for (monitor, outcome, recorded), (_m, _o, done) in zip(written, batch, strict=True):
            if recorded is not None:
                self.metrics.show(monitor.name, recorded.status)
                _log.info(
                    "monitor %s: %s -> %s (%s)",
                    monitor.name,
                    recorded.previous,
                    recorded.status,
                    outcome.message,
                )
            if not done.done():
                done.set_result(None)

    def change(
        self, monitor: MonitorConfig, outcome: store.Outcome, recorded: store.Recorded
    ) -> MonitorChange:
        return MonitorChange(
            monitor=monitor.name,
            previous=recorded.previous,
            status=recorded.status,
            at=outcome.at,
            message=outcome.message,
            monitor_type=monitor.type,
            target=monitor.target,
            trace_id=outcome.trace_id,
            cause=outcome.cause,
            labels=dict(monitor.labels),
            pages=self.pages(monitor.name),
        )

    async def prune_forever(
        self,
        retention: Callable[[], Retention],
        pruned: Callable[[float], None] = lambda before: None,
        every: float = PRUNE_EVERY,
    ) -> None:
        """Delete what is past retention every ``every`` seconds; then ``pruned`` with the
        start before which the daily rollups are gone (who kept some reads them again)."""
        while True:
            await asyncio.sleep(every)
            try:
                kept, now = retention(), self.ctx.clock()
                async with self.ctx.db.write() as conn:
                    await store.prune(conn, kept, now)
                pruned(now - kept.daily)
            except Exception:
                _log.exception("pruning monitor history failed")

    async def stop(self, drain: float = DRAIN) -> None:
        """Let the checks under way finish and be recorded (up to ``drain`` seconds), then
        cancel the rest. The caller has stopped :meth:`run` first."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=drain)
        for task in list(self._tasks):
            task.cancel()
        if self._writer is not None:  # what the finished checks handed over is committed
            await asyncio.wait([self._writer], timeout=drain)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
