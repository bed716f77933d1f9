"""The running status part: its routes, the incident subscriber, and what it tells others."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.routing import BaseRoute, Route

from ..events import MonitorChange
from ..parts import HubContext
from .api import StatusApi
from .automatic import AutoIncidents
from .incidents import Incident, NewIncident, incident_change
from .metrics import OpenIncidentsGauge
from .pages import StatusPages
from .settings import StatusSettings

__all__ = ["StatusPart", "build"]

_log = logging.getLogger("agentwatch.hub.status")


class StatusPart:
    def __init__(self, ctx: HubContext, settings: StatusSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.auto = AutoIncidents(lambda: self.settings, self.announce)
        self.api = StatusApi(self)
        self.pages = StatusPages(self)
        self.open_gauge = OpenIncidentsGauge(ctx.registry, ctx.db)
        self._task: asyncio.Task[None] | None = None
        ctx.events.subscribe(MonitorChange, self.on_monitor_change)

    def routes(self) -> Sequence[BaseRoute]:
        api, pages = self.api, self.pages
        return [
            Route("/status", pages.index, include_in_schema=False),
            Route("/status/{slug}", pages.show),
            Route("/status/{slug}/feed.atom", pages.feed, include_in_schema=False),
            Route("/api/v1/status", api.pages, methods=["GET"]),
            Route("/api/v1/status/{slug}", api.page, methods=["GET"]),
            Route("/api/v1/incidents", api.list_incidents, methods=["GET"]),
            Route("/api/v1/incidents", api.open, methods=["POST"]),
            Route("/api/v1/incidents/{incident_id}", api.get, methods=["GET"]),
            Route("/api/v1/incidents/{incident_id}", api.delete, methods=["DELETE"]),
            Route("/api/v1/incidents/{incident_id}/updates", api.update, methods=["POST"]),
            Route("/api/v1/incidents/{incident_id}/resolve", api.resolve, methods=["POST"]),
        ]

    async def start(self) -> None:
        """Warm the pages (before the hub says it is ready), then count open incidents."""
        try:
            await self.pages.warm()
        except Exception:  # the pages build when asked, as without
            _log.exception("warming the status pages failed")
        self._task = asyncio.get_running_loop().create_task(
            self.open_gauge.run(), name="agentwatch-hub-status-gauge"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def reload(self, config: Any) -> None:
        self.settings = config if isinstance(config, StatusSettings) else StatusSettings()
        self.api.views.clear()

    async def on_monitor_change(self, conn: AsyncConnection, event: MonitorChange) -> None:
        self.api.views.clear()
        await self.auto.on_monitor_change(conn, event)

    async def announce(self, conn: AsyncConnection, incident: Incident) -> None:
        """Tell the other parts (alerts) in the same transaction."""
        self.api.views.clear()
        self.open_gauge.changed()
        await self.ctx.events.publish(conn, incident_change(incident, self.ctx.public_url))

    def with_default_pages(self, new: NewIncident) -> NewIncident:
        """No pages given: the pages showing its monitors, else (no monitors) every page."""
        if new.pages:
            return new
        if new.monitors:
            pages = [slug for m in new.monitors for slug in self.settings.pages_showing(m)]
        else:
            pages = [p.slug for p in self.settings.pages]
        return replace(new, pages=tuple(dict.fromkeys(pages)))


def build(ctx: HubContext, config: object) -> StatusPart:
    return StatusPart(ctx, config if isinstance(config, StatusSettings) else StatusSettings())
