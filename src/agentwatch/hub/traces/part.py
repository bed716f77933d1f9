"""The traces part: the store and its writer, the OTLP intake, the API and the pages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from starlette.routing import BaseRoute, Route

from ..parts import HubContext
from .api import TraceApi
from .intake import Intake
from .metrics import TraceMetrics
from .pages import TracePages
from .settings import TracesSettings
from .store import TraceStore, store_url
from .writer import TraceWriter, WriterLimits

__all__ = ["TracesPart", "build"]

_log = logging.getLogger("agentwatch.hub.traces")


def _limits(settings: TracesSettings) -> WriterLimits:
    return WriterLimits(
        max_queued_rows=settings.queue_max_spans,
        maintenance_seconds=settings.maintenance_seconds,
        retention_seconds=settings.retention_seconds,
        max_bytes=settings.max_bytes,
    )


class TracesPart:
    def __init__(self, ctx: HubContext, settings: TracesSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        hub_url = ctx.db.engine.url.render_as_string(hide_password=False)
        self.store = TraceStore(store_url(hub_url, settings.database, ctx.state_dir / "hub"))
        self.metrics = TraceMetrics(ctx.registry)
        self.writer = TraceWriter(
            self.store,
            _limits(settings),
            on_commit=self.metrics.committed,
            on_evicted=self.metrics.count_evicted,
            clock=ctx.clock,
        )
        self.metrics.watch(lambda: self.writer.queued_rows, lambda: self.writer.committing_rows)
        self.api = TraceApi(self.store, ctx.auth, ctx.clock)
        self.intake = Intake(self.writer, self.metrics, ctx.auth)
        self.pages = TracePages(self.api, ctx.templates)

    def routes(self) -> Sequence[BaseRoute]:
        if not self.settings.enabled:
            return []
        api, pages, intake = self.api, self.pages, self.intake
        return [
            Route("/v1/traces", intake.traces, methods=["POST"]),
            Route("/v1/logs", intake.logs, methods=["POST"]),
            Route("/api/v1/traces", api.list_traces),
            Route("/api/v1/traces/{trace_id}", api.show),
            Route("/api/v1/services", api.services),
            Route("/api/services", api.jaeger_services, include_in_schema=False),
            Route(
                "/api/services/{service}/operations",
                api.jaeger_service_operations,
                include_in_schema=False,
            ),
            Route("/api/operations", api.jaeger_operations, include_in_schema=False),
            Route("/api/traces", api.jaeger_search, include_in_schema=False),
            Route("/api/traces/{trace_id}", api.jaeger_trace, include_in_schema=False),
            Route("/traces", pages.list_page, include_in_schema=False),
            Route("/traces/{trace_id}", pages.show, include_in_schema=False),
        ]

    async def start(self) -> None:
        if not self.settings.enabled:
            return
        dropped = await asyncio.to_thread(self.store.ensure_schema)
        if dropped:
            self.metrics.evicted.labels("schema").inc(dropped)
        await asyncio.to_thread(self.store.stored_bytes)
        # what the writer's last maintenance counted: a scrape never waits on the store
        self.metrics.stored_bytes.set_function(lambda: self.store.last_stored_bytes)
        self.writer.start()
        _log.info("trace store %s", self.store.url)

    async def stop(self) -> None:
        await asyncio.to_thread(self.writer.stop)
        self.store.close()

    async def reload(self, config: object) -> None:
        if not isinstance(config, TracesSettings):
            return
        if config.database != self.settings.database:
            _log.warning("traces.database changed: restart the hub to move the trace store")
        self.settings = config
        self.writer.limits = _limits(config)


def build(ctx: HubContext, config: object) -> TracesPart:
    return TracesPart(ctx, config if isinstance(config, TracesSettings) else TracesSettings())
