"""The group timers: flush every group whose ``next_flush_at`` has come.

One loop per hub. Each pass takes up to :data:`BATCH` due groups (``FOR UPDATE SKIP
LOCKED``: several hubs share the groups), flushes each in a savepoint (a group that fails
is retried a group_interval later and holds up no other) and commits the outbox rows with
the groups' new timers. Between passes it sleeps until the next timer, a wake-up from an
intake, or one second (another hub may have made a group due).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..parts import HubContext
from .config import AlertsConfig, RouteConfig
from .flush import FlushEnv, flush_group
from .model import FIRING, RESOLVED
from .muting import Muting
from .routing import all_routes
from .silences import active_silences
from .tables import alerts, group_alerts, groups
from .wakeup import Wakeup

__all__ = ["BATCH", "Dispatcher"]

BATCH = 200
POLL = 1.0
_log = logging.getLogger("agentwatch.hub.alerts")


async def resolve_expired(conn: AsyncConnection, now: float) -> int:
    """Firing alerts whose ``endsAt`` has passed become resolved (generic intake); their
    groups are flushed now."""
    expired = alerts.c.status == FIRING, alerts.c.ends_at.is_not(None), alerts.c.ends_at <= now
    fps = [
        r.fingerprint for r in await conn.execute(sa.select(alerts.c.fingerprint).where(*expired))
    ]
    if not fps:
        return 0
    await conn.execute(
        sa.update(alerts)
        .where(alerts.c.fingerprint.in_(fps))
        .values(status=RESOLVED, resolved_at=alerts.c.ends_at, revision=alerts.c.revision + 1)
    )
    members = sa.select(group_alerts.c.group_id).where(group_alerts.c.fingerprint.in_(fps))
    await conn.execute(
        sa.update(groups)
        .where(groups.c.id.in_(members), groups.c.next_flush_at > now)
        .values(next_flush_at=now)
    )
    return len(fps)


class Dispatcher:
    def __init__(
        self,
        ctx: HubContext,
        config: Callable[[], AlertsConfig],
        on_enqueued: Callable[[], None],
    ) -> None:
        self._ctx = ctx
        self._config = config
        self._on_enqueued = on_enqueued
        self._wake = Wakeup()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                delay = await self.flush_due()
            except Exception:  # the database is away: log, wait, try again
                _log.exception("flushing alert groups failed; retrying in %.0f s", POLL)
                delay = POLL
            await self._wake.sleep(delay)

    async def flush_due(self) -> float:
        """One pass; returns how long to sleep before the next."""
        ctx, config = self._ctx, self._config()
        now = ctx.clock()
        routes = {r.key: r for r in all_routes(config.routes)}
        enqueued = 0
        async with ctx.db.write() as conn:
            await resolve_expired(conn, now)
            due = (
                await conn.execute(
                    sa.select(groups)
                    .where(groups.c.next_flush_at <= now)
                    .order_by(groups.c.next_flush_at)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if due:
                muting = Muting(
                    conn, await active_silences(conn, now), config.inhibit, ctx.maintenance, now
                )
                env = FlushEnv({c.name: c for c in config.channels}, muting, ctx.public_url, now)
                for group in due:
                    enqueued += await self._flush_one(conn, group, routes.get(group.route), env)
            upcoming = (await conn.execute(sa.select(sa.func.min(groups.c.next_flush_at)))).scalar()
        if enqueued:
            self._on_enqueued()
        if len(due) == BATCH:
            return 0.0
        if upcoming is None:
            return POLL
        return max(0.0, min(POLL, float(upcoming) - ctx.clock()))

    async def _flush_one(
        self, conn: AsyncConnection, group: Any, route: RouteConfig | None, env: FlushEnv
    ) -> int:
        try:
            async with conn.begin_nested():
                return await flush_group(conn, group, route, env)
        except Exception:
            _log.exception(
                "flushing alert group %s (route %s) failed", group.fingerprint, group.route
            )
            await conn.execute(
                sa.update(groups)
                .where(groups.c.id == group.id)
                .values(next_flush_at=env.now + 60.0)
            )
            return 0
