"""The status part's metric, on the hub's registry (served at ``/metrics``):

- ``agentwatch_status_incidents_open{impact}``: open incidents by impact (none, minor, major,
  critical), counted in the database every few seconds and soon after every change, so it
  is right on every hub sharing a Postgres database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Gauge

from ..store import Database
from .incidents import IMPACTS
from .tables import incidents

__all__ = ["OpenIncidentsGauge"]

_log = logging.getLogger("agentwatch.hub.status")
EVERY = 5.0


class OpenIncidentsGauge:
    def __init__(self, registry: CollectorRegistry, db: Database) -> None:
        self.gauge = Gauge(
            "agentwatch_status_incidents_open",
            "Open status page incidents by impact (none, minor, major, critical).",
            ["impact"],
            registry=registry,
        )
        for impact in IMPACTS:
            self.gauge.labels(impact).set(0)
        self._db = db
        self._changed = asyncio.Event()

    def changed(self) -> None:
        """An incident changed: count again soon (after the transaction commits)."""
        self._changed.set()

    async def count(self) -> None:
        async with self._db.read() as conn:
            rows = await conn.execute(
                sa.select(incidents.c.impact, sa.func.count())
                .where(incidents.c.resolved_at.is_(None))
                .group_by(incidents.c.impact)
            )
            counts = {row.impact: row[1] for row in rows}
        for impact in IMPACTS:
            self.gauge.labels(impact).set(counts.get(impact, 0))

    async def run(self) -> None:
        while True:
            try:
                await self.count()
            except Exception:  # a gauge is not worth a crash; the next pass tries again
                _log.debug("counting open incidents failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), EVERY)
                await asyncio.sleep(0.05)  # let the change's transaction commit
            self._changed.clear()
