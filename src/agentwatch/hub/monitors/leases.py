"""Several hubs on one Postgres: who checks which monitor.

A monitor is checked only by the hub holding its lease (``lease_owner``/``lease_until`` on
its state row). The holder renews the lease at each check for one and a half intervals (at
least the interval and :data:`SLACK` seconds); a hub that is refused waits for the holder's
lease to run out and asks again then, so a dead hub's monitors are checked again within 1.5
intervals of its last check (the interval and 2 s for intervals under 4 s).

Each hub beats its row in ``monitors_hubs`` every :data:`BEAT` seconds; the hubs seen alive
share the monitors: a hub takes a free lease only while it holds fewer than its share
(``ceil(monitors / live hubs)``), and gives back, at their next check, the leases it holds
beyond its share (not those taken in the last :data:`SETTLE` seconds, while a dead hub may
still count as alive). A lease that ran out is taken by whoever asks first, share or not,
so no monitor waits for the count to settle.

>>> leases = Leases(db, hub_id="host:123:ab", clock=time.time)     # doctest: +SKIP
>>> (await leases.claim("api", interval=60.0, monitors=1000)).run  # doctest: +SKIP
True
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store import Database
from .tables import hubs, state

__all__ = ["BEAT", "Claim", "Leases", "lease_for"]

_log = logging.getLogger("agentwatch.hub.monitors")
BEAT = 1.0  # seconds between two beats of a hub's row
ALIVE = 3.0 * BEAT  # a hub whose row was not beaten for this long counts as gone
SETTLE = 2.0 * ALIVE  # leases taken over are kept this long before any is given back
SLACK = 2.0  # seconds a renewal may come late before the lease runs out
FORGET = 3600.0  # rows of hubs gone this long are deleted


def lease_for(interval: float) -> float:
    """How long a lease lasts: the interval and room for a late renewal (half an interval,
    at least :data:`SLACK` seconds)."""
    return interval + max(0.5 * interval, SLACK)


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to "may this hub check the monitor now?"."""

    run: bool
    retry_at: float | None = None  # when the holder's lease runs out (refused only)


@dataclass
class Leases:
    db: Database
    hub_id: str
    clock: Callable[[], float]
    live_hubs: int = 1
    held: dict[str, float] = field(default_factory=dict)  # monitor -> when taken over

    async def beat(self) -> int:
        """Beat this hub's row, forget long-gone hubs; the number of hubs alive now."""
        now = self.clock()
        async with self.db.write() as conn:
            beaten = await conn.execute(
                hubs.update().where(hubs.c.hub_id == self.hub_id).values(seen_until=now + ALIVE)
            )
            if not beaten.rowcount:
                await conn.execute(
                    hubs.insert().values(hub_id=self.hub_id, started_at=now, seen_until=now + ALIVE)
                )
            await conn.execute(hubs.delete().where(hubs.c.seen_until < now - FORGET))
            alive = (
                await conn.execute(
                    sa.select(sa.func.count()).select_from(hubs).where(hubs.c.seen_until > now)
                )
            ).scalar_one()
        self.live_hubs = max(1, int(alive))
        return self.live_hubs

    def share(self, monitors: int) -> int:
        return max(1, math.ceil(monitors / self.live_hubs))

    async def claim(self, name: str, *, interval: float, monitors: int) -> Claim:
        """Take or renew the lease on ``name`` (:func:`lease_for`); give it back instead
        when this hub holds more than its share of ``monitors``."""
        now = self.clock()
        share = self.share(monitors)
        async with self.db.write() as conn:
            if name in self.held and len(self.held) > share and now - self.held[name] > SETTLE:
                await _release(conn, name, self.hub_id)
                del self.held[name]
                _log.info("monitor %s: lease given back (%d hubs alive)", name, self.live_hubs)
                return Claim(False, now + interval)
            taken = await self._take(conn, name, now, now + lease_for(interval), share)
            if taken:
                return Claim(True)
            until = (
                await conn.execute(sa.select(state.c.lease_until).where(state.c.name == name))
            ).scalar()
        self.held.pop(name, None)
        return Claim(False, until if until is not None and until > now else now + interval)

    async def _take(
        self, conn: AsyncConnection, name: str, now: float, until: float, share: int
    ) -> bool:
        mine = state.c.lease_owner == self.hub_id
        expired = sa.and_(state.c.lease_owner.is_not(None), state.c.lease_until < now)
        free = state.c.lease_owner.is_(None)
        full = name in self.held or len(self.held) >= share
        allowed = [mine, expired] if full else [mine, expired, free]
        result = await conn.execute(
            state.update()
            .where(state.c.name == name, sa.or_(*allowed))
            .values(lease_owner=self.hub_id, lease_until=until)
        )
        if not result.rowcount:
            return False
        if name not in self.held:
            self.held[name] = now
        return True

    async def release_all(self) -> None:
        """On a clean stop: give every lease back and leave, so the others take over now."""
        async with self.db.write() as conn:
            await conn.execute(
                state.update()
                .where(state.c.lease_owner == self.hub_id)
                .values(lease_owner=None, lease_until=None)
            )
            await conn.execute(hubs.delete().where(hubs.c.hub_id == self.hub_id))
        self.held.clear()


async def _release(conn: AsyncConnection, name: str, owner: str) -> None:
    await conn.execute(
        state.update()
        .where(state.c.name == name, state.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )
