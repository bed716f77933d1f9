"""Maintenance windows: from ``hub.yaml`` (cron or one-off) and from the API (a deploy job's
``agentwatch hub maintenance start --monitor api --for 30m``).

A monitor in a window shows ``maintenance``, its checks are left out of uptime, and its
alerts are held (the alerts part asks :meth:`Calendar.active_for`). A window naming no
monitors covers every monitor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .config import MaintenanceWindow
from .cron import parse_cron
from .tables import maintenance

__all__ = ["ActiveWindow", "Calendar"]


@dataclass(frozen=True, slots=True)
class ActiveWindow:
    id: int | None  # the API window's row id; None for a window of the file
    name: str
    monitors: tuple[str, ...]
    starts_at: float
    ends_at: float
    reason: str = ""

    def covers(self, labels: Mapping[str, str]) -> bool:
        if not self.monitors:
            return True
        return any(labels.get(key) in self.monitors for key in ("monitor", "service"))


class Calendar:
    """The windows in force; the file's computed on demand, the API's cached from the
    database (:meth:`load` after every change)."""

    def __init__(self, windows: Sequence[MaintenanceWindow] = ()) -> None:
        self.windows = tuple(windows)
        self.added: tuple[ActiveWindow, ...] = ()

    def active(self, at: float) -> list[ActiveWindow]:
        found = [w for w in self.added if w.starts_at <= at < w.ends_at]
        for window in self.windows:
            start = _start_of(window, at)
            if start is not None:
                found.append(
                    ActiveWindow(
                        None,
                        window.name,
                        window.monitors,
                        start,
                        start + window.duration,
                        window.reason,
                    )
                )
        return found

    def upcoming(self, at: float) -> list[ActiveWindow]:
        """Windows with a set start still to come: the API's, and the file's one-offs
        (``start:``); a cron window is in force or not, its next time is not listed."""
        found = [w for w in self.added if w.starts_at > at]
        for window in self.windows:
            if window.start is not None and window.start > at:
                end = window.start + window.duration
                found.append(
                    ActiveWindow(
                        None, window.name, window.monitors, window.start, end, window.reason
                    )
                )
        return sorted(found, key=lambda w: w.starts_at)

    def active_for(self, labels: Mapping[str, str], at: float) -> str | None:
        for window in self.active(at):
            if window.covers(labels):
                return window.name
        return None

    def window_of(self, monitor: str, at: float) -> ActiveWindow | None:
        for window in self.active(at):
            if window.covers({"monitor": monitor}):
                return window
        return None

    async def load(self, conn: AsyncConnection, now: float) -> None:
        rows = (
            await conn.execute(
                sa.select(maintenance).where(maintenance.c.ends_at > now).order_by(maintenance.c.id)
            )
        ).all()
        self.added = tuple(
            ActiveWindow(r.id, r.name, tuple(r.monitors), r.starts_at, r.ends_at, r.reason)
            for r in rows
        )


def _start_of(window: MaintenanceWindow, at: float) -> float | None:
    if window.start is not None:
        return window.start if window.start <= at < window.start + window.duration else None
    assert window.cron is not None
    zone = ZoneInfo(window.timezone)
    moment = datetime.fromtimestamp(at, zone)
    began = parse_cron(window.cron).last_before(moment, timedelta(seconds=window.duration))
    if began is None or began.timestamp() + window.duration <= at:
        return None
    return began.timestamp()


async def add_window(
    conn: AsyncConnection,
    *,
    name: str,
    monitors: Sequence[str],
    starts_at: float,
    ends_at: float,
    reason: str,
    now: float,
) -> int:
    result = await conn.execute(
        maintenance.insert().values(
            name=name,
            monitors=list(monitors),
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            created_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def end_window(conn: AsyncConnection, window_id: int, now: float) -> bool:
    result = await conn.execute(
        maintenance.update()
        .where(maintenance.c.id == window_id, maintenance.c.ends_at > now)
        .values(ends_at=now)
    )
    return bool(result.rowcount)
