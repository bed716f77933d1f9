"""The running alerts part: its routes, the dispatcher and sender loops, the subscribers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.routing import BaseRoute, Route

from ..events import IncidentChange, MonitorChange
from ..parts import HubContext
from .api import AlertsApi
from .changes import incident_alerts, monitor_alerts
from .claims import release_all
from .config import AlertsConfig
from .dispatcher import Dispatcher
from .intake import Intake
from .metrics import AlertMetrics
from .model import IncomingAlert
from .outbox import STATES
from .sender import Sender
from .store import Accepted, accept
from .tables import outbox

__all__ = ["AlertsPart"]

_log = logging.getLogger("agentwatch.hub.alerts")
GAUGE_EVERY = 5.0


class AlertsPart:
    def __init__(self, ctx: HubContext, config: AlertsConfig | None) -> None:
        self.ctx = ctx
        self.config = config or AlertsConfig()
        self.metrics = AlertMetrics(ctx.registry)
        self.sender = Sender(ctx, lambda: self.config, self.metrics)
        self.dispatcher = Dispatcher(ctx, lambda: self.config, self.sender.wake)
        self._intake = Intake(self)
        self._api = AlertsApi(self)
        self._tasks: list[asyncio.Task[None]] = []
        ctx.events.subscribe(MonitorChange, self.on_monitor_change)
        ctx.events.subscribe(IncidentChange, self.on_incident_change)

    def routes(self) -> Sequence[BaseRoute]:
        i, a = self._intake, self._api
        return [
            Route("/api/v1/alerts/alertmanager", i.alertmanager, methods=["POST"]),
            Route("/api/v1/alerts/grafana", i.grafana, methods=["POST"]),
            Route("/api/v1/alerts", i.generic, methods=["POST"]),
            Route("/api/v1/alerts", a.list_alerts, methods=["GET"]),
            Route("/api/v1/alerts/{fingerprint}", a.get_alert, methods=["GET"]),
            Route("/api/v1/alerts/{fingerprint}/ack", a.ack, methods=["POST"]),
            Route("/api/v1/silences", a.silences, methods=["GET", "POST"]),
            Route("/api/v1/silences/{silence_id}", a.expire, methods=["DELETE"]),
            Route("/api/v1/outbox", a.outbox, methods=["GET"]),
            Route("/api/v1/outbox/retry", a.retry, methods=["POST"]),
            Route("/api/v1/outbox/{row_id}/retry", a.retry, methods=["POST"]),
        ]

    async def start(self) -> None:
        if self.ctx.db.dialect == "sqlite":  # this hub owns the file: nothing else is sending
            async with self.ctx.db.write() as conn:
                released = await release_all(conn)
            if released:
                _log.info(
                    "%s outbox rows were being sent when the hub stopped; sending again", released
                )
        loop = asyncio.get_running_loop()
        for name, job in (
            ("dispatcher", self.dispatcher.run()),
            ("sender", self.sender.run()),
            ("outbox gauge", self._gauge()),
        ):
            self._tasks.append(loop.create_task(job, name=f"agentwatch-hub-alerts-{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def reload(self, config: Any) -> None:
        self.config = config or AlertsConfig()
        self.sender.rebuild()
        self.dispatcher.wake()
        self.sender.wake()

    # -- accepting -------------------------------------------------------------------------

    async def accept_in(self, conn: AsyncConnection, alerts: Sequence[IncomingAlert]) -> Accepted:
        """Store ``alerts`` in the caller's transaction; the dispatcher looks soon after."""
        accepted = await accept(conn, alerts, self.config.routes, self.ctx.clock())
        asyncio.get_running_loop().call_later(0.05, self.dispatcher.wake)
        return accepted

    async def accept(self, alerts: Sequence[IncomingAlert]) -> Accepted:
        """Store ``alerts`` in a transaction of their own, committed on return."""
        async with self.ctx.db.write() as conn:
            accepted = await accept(conn, alerts, self.config.routes, self.ctx.clock())
        self.dispatcher.wake()
        return accepted

    async def on_monitor_change(self, conn: AsyncConnection, event: MonitorChange) -> None:
        alerts = monitor_alerts(event, self.ctx.public_url)
        if alerts:
            await self.accept_in(conn, alerts)
            self.metrics.received.labels("monitor").inc(len(alerts))

    async def on_incident_change(self, conn: AsyncConnection, event: IncidentChange) -> None:
        await self.accept_in(conn, incident_alerts(event))
        self.metrics.received.labels("incident").inc()

    async def _gauge(self) -> None:
        while True:
            try:
                async with self.ctx.db.read() as conn:
                    rows = await conn.execute(
                        sa.select(outbox.c.state, sa.func.count()).group_by(outbox.c.state)
                    )
                    counts = {row[0]: row[1] for row in rows}
                for state in STATES:
                    self.metrics.outbox.labels(state).set(counts.get(state, 0))
            except Exception:  # a gauge is not worth a crash; the next pass tries again
                _log.debug("counting outbox rows failed", exc_info=True)
            await asyncio.sleep(GAUGE_EVERY)
