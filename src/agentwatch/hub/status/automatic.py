"""Incidents that open and resolve themselves as the monitors on a page go down and recover.

Runs inside the monitors part's write transaction (a :class:`MonitorChange` subscriber):

- a monitor shown on a page goes ``down``: an incident "<monitor> is down" opens
  (investigating, impact major) on the pages that show it, unless an open incident already
  covers the monitor (then it is marked down again there) or its ``depends_on`` parent is
  in an open incident (then the child joins that one: one outage, one incident);
- a covered monitor comes back ``up``: the timeline says so, and once every monitor of an
  automatic incident is up again the incident resolves itself, unless a person took it
  over (updated it by API or CLI): then it is theirs to resolve, and nothing is written to
  their timeline.

``degraded``, ``paused``, ``maintenance`` and ``pending`` neither open nor resolve anything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from ..events import MonitorChange
from ..web.render import format_duration
from .incidents import (
    RESOLVED,
    Incident,
    NewIncident,
    add_update,
    open_incident,
    open_incidents_of,
    set_monitor,
    set_pages,
)
from .settings import StatusSettings

__all__ = ["AutoIncidents"]

Announce = Callable[[AsyncConnection, Incident], Awaitable[None]]


class AutoIncidents:
    def __init__(self, settings: Callable[[], StatusSettings], announce: Announce) -> None:
        self._settings = settings
        self._announce = announce

    async def on_monitor_change(self, conn: AsyncConnection, event: MonitorChange) -> None:
        if event.status == "down":
            await self._down(conn, event)
        elif event.status == "up":
            await self._up(conn, event)

    def _pages(self, event: MonitorChange) -> tuple[str, ...]:
        settings = self._settings()
        mine = settings.pages_showing(event.monitor)
        told = tuple(slug for slug in event.pages if settings.page(slug) is not None)
        return tuple(dict.fromkeys((*mine, *told)))

    async def _down(self, conn: AsyncConnection, event: MonitorChange) -> None:
        monitor, by = event.monitor, f"monitor:{event.monitor}"
        covering = await open_incidents_of(conn, monitor)
        for incident in covering:
            if monitor in incident.still_down:
                continue
            await set_monitor(conn, incident, monitor, down=True, at=event.at)
            if incident.automatic and incident.taken_over_by is None:
                updated = await add_update(
                    conn,
                    incident,
                    status=incident.status,
                    message=_down_message(event, again=True),
                    by=by,
                    at=event.at,
                    person=False,
                )
                await self._announce(conn, updated)
        if covering:
            return
        pages = self._pages(event)
        if not pages:
            return  # on no page: the alert says it; there is nobody to tell publicly
        parent = await open_incidents_of(conn, event.cause) if event.cause else []
        if parent:
            await self._join(conn, parent[-1], event, pages)
            return
        opened = await open_incident(
            conn,
            NewIncident(
                title=f"{monitor} is down",
                message=_down_message(event),
                by=by,
                pages=pages,
                monitors=(monitor,),
                automatic=True,
            ),
            at=event.at,
        )
        await self._announce(conn, opened)

    async def _join(
        self,
        conn: AsyncConnection,
        incident: Incident,
        event: MonitorChange,
        pages: tuple[str, ...],
    ) -> None:
        await set_monitor(conn, incident, event.monitor, down=True, at=event.at)
        await set_pages(conn, incident, pages)
        updated = await add_update(
            conn,
            incident,
            status=incident.status,
            message=_down_message(event),
            by=f"monitor:{event.monitor}",
            at=event.at,
            person=False,
        )
        await self._announce(conn, updated)

    async def _up(self, conn: AsyncConnection, event: MonitorChange) -> None:
        monitor = event.monitor
        for incident in await open_incidents_of(conn, monitor):
            if monitor not in incident.still_down:
                continue
            since = next(m.since for m in incident.monitors if m.name == monitor)
            await set_monitor(conn, incident, monitor, down=False, at=event.at)
            if not incident.automatic or incident.taken_over_by is not None:
                continue  # a person's incident: they resolve it
            remaining = [name for name in incident.still_down if name != monitor]
            back = f"{monitor} is up again after {format_duration(event.at - since)}"
            if remaining:
                status, message = incident.status, f"{back}; still down: {', '.join(remaining)}."
            else:
                status, message = RESOLVED, f"{back}. Resolved automatically."
            updated = await add_update(
                conn,
                incident,
                status=status,
                message=message,
                by=f"monitor:{monitor}",
                at=event.at,
                person=False,
            )
            await self._announce(conn, updated)


def _down_message(event: MonitorChange, *, again: bool = False) -> str:
    """What is down, in the page's words: not the check's message, which names the probe's
    target (an operator reads it on ``/`` and in the monitors API)."""
    what = f"{event.monitor} is down{' again' if again else ''}"
    if event.cause:
        what += f" because {event.cause}, which it depends on, is down"
    return f"{what}."
