"""Incidents as rows: opening, adding to the timeline, resolving, reading back.

Every function takes the connection of the caller's transaction, so a monitor's change, the
incident it opens and the alert that announces it commit together::

    async with ctx.db.write() as conn:
        incident = await open_incident(conn, NewIncident("api is down", ...), at=now)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..events import IncidentChange
from .tables import incident_monitors, incident_updates, incidents

__all__ = [
    "IMPACTS",
    "RESOLVED",
    "STATUSES",
    "AffectedMonitor",
    "Incident",
    "IncidentFilter",
    "IncidentUpdate",
    "NewIncident",
    "add_update",
    "delete_incident",
    "get_incident",
    "incident_change",
    "iso",
    "list_incidents",
    "open_incident",
    "open_incidents_of",
    "set_monitor",
    "set_pages",
]

STATUSES = ("investigating", "identified", "monitoring", "resolved")
RESOLVED = "resolved"
IMPACTS = ("none", "minor", "major", "critical")


def iso(ts: float | None) -> str | None:
    """RFC 3339 in UTC (``2026-12-06T19:04:05.123Z``), None for None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class IncidentUpdate:
    """One entry of an incident's timeline."""

    id: int
    at: float
    status: str
    message: str
    by: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": iso(self.at),
            "status": self.status,
            "message": self.message,
            "by": self.by,
        }


@dataclass(frozen=True, slots=True)
class AffectedMonitor:
    name: str
    down: bool
    since: float

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "down": self.down, "since": iso(self.since)}


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    title: str
    status: str
    impact: str
    pages: tuple[str, ...]
    automatic: bool
    taken_over_by: str | None
    opened_by: str
    opened_at: float
    updated_at: float
    resolved_at: float | None
    monitors: tuple[AffectedMonitor, ...] = ()
    updates: tuple[IncidentUpdate, ...] = ()  # oldest first

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def monitor_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.monitors)

    @property
    def still_down(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.monitors if m.down)

    @property
    def latest(self) -> IncidentUpdate | None:
        return self.updates[-1] if self.updates else None

    def duration(self, now: float) -> float:
        return (self.resolved_at if self.resolved_at is not None else now) - self.opened_at

    def as_json(self, now: float, public_url: str = "") -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "impact": self.impact,
            "automatic": self.automatic,
            "taken_over_by": self.taken_over_by,
            "opened_by": self.opened_by,
            "opened_at": iso(self.opened_at),
            "updated_at": iso(self.updated_at),
            "resolved_at": iso(self.resolved_at),
            "duration_seconds": round(self.duration(now), 3),
            "pages": list(self.pages),
            "urls": [f"{public_url}/status/{slug}" for slug in self.pages],
            "monitors": [m.as_json() for m in self.monitors],
            "updates": [u.as_json() for u in self.updates],
        }


@dataclass(frozen=True, slots=True)
class NewIncident:
    title: str
    message: str
    by: str
    status: str = "investigating"
    impact: str = "major"
    pages: tuple[str, ...] = ()
    monitors: tuple[str, ...] = ()
    automatic: bool = False


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    state: str = "all"  # open | resolved | all
    page: str | None = None  # shown on this page: named it, or covers one of page_monitors
    page_monitors: tuple[str, ...] = ()
    monitor: str | None = None
    resolved_since: float | None = None  # with state=all: open ones and those resolved since
    before_id: int | None = None
    limit: int = 50


async def open_incident(
    conn: AsyncConnection, new: NewIncident, at: float, *, down: Collection[str] | None = None
) -> Incident:
    """Insert ``new``; its monitors count as down unless ``down`` names those that are."""
    result = await conn.execute(
        incidents.insert().values(
            title=new.title,
            status=new.status,
            impact=new.impact,
            pages=list(new.pages),
            automatic=new.automatic,
            taken_over_by=None,
            opened_by=new.by,
            opened_at=at,
            updated_at=at,
            resolved_at=at if new.status == RESOLVED else None,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    incident_id = int(key[0])
    if new.monitors:
        await conn.execute(
            incident_monitors.insert(),
            [
                {"incident_id": incident_id, "monitor": m, "down": down is None or m in down}
                | {"since": at}
                for m in new.monitors
            ],
        )
    await _insert_update(conn, incident_id, at, new.status, new.message, new.by)
    found = await get_incident(conn, incident_id)
    assert found is not None
    return found


async def _insert_update(
    conn: AsyncConnection, incident_id: int, at: float, status: str, message: str, by: str
) -> None:
    await conn.execute(
        incident_updates.insert().values(
            incident_id=incident_id, at=at, status=status, message=message, by=by
        )
    )


async def add_update(
    conn: AsyncConnection,
    incident: Incident,
    *,
    status: str,
    message: str,
    by: str,
    at: float,
    person: bool,
    impact: str | None = None,
    title: str | None = None,
) -> Incident:
    """Append to the timeline; ``status`` resolved resolves, another reopens a resolved one.
    ``person``: a person wrote it, so the incident is theirs (no automatic resolve)."""
    values: dict[str, Any] = {"status": status, "updated_at": at}
    values["resolved_at"] = (incident.resolved_at or at) if status == RESOLVED else None
    if impact is not None:
        values["impact"] = impact
    if title is not None:
        values["title"] = title
    if person and incident.taken_over_by is None:
        values["taken_over_by"] = by
    await conn.execute(incidents.update().where(incidents.c.id == incident.id).values(**values))
    await _insert_update(conn, incident.id, at, status, message, by)
    found = await get_incident(conn, incident.id)
    assert found is not None
    return found


async def set_monitor(
    conn: AsyncConnection, incident: Incident, monitor: str, *, down: bool, at: float
) -> None:
    """Record ``monitor`` as down or recovered in ``incident`` (adding it if new)."""
    if monitor in incident.monitor_names:
        await conn.execute(
            incident_monitors.update()
            .where(
                incident_monitors.c.incident_id == incident.id,
                incident_monitors.c.monitor == monitor,
            )
            .values(down=down, since=at)
        )
    else:
        await conn.execute(
            incident_monitors.insert().values(
                incident_id=incident.id, monitor=monitor, down=down, since=at
            )
        )


async def set_pages(conn: AsyncConnection, incident: Incident, pages: Iterable[str]) -> None:
    merged = list(dict.fromkeys([*incident.pages, *pages]))
    if merged != list(incident.pages):
        await conn.execute(
            incidents.update().where(incidents.c.id == incident.id).values(pages=merged)
        )


async def delete_incident(conn: AsyncConnection, incident_id: int) -> None:
    """Remove an incident and its timeline (a false alarm the public should not see)."""
    for table in (incident_updates, incident_monitors):
        await conn.execute(table.delete().where(table.c.incident_id == incident_id))
    await conn.execute(incidents.delete().where(incidents.c.id == incident_id))


async def get_incident(conn: AsyncConnection, incident_id: int) -> Incident | None:
    found = await _load(conn, sa.select(incidents).where(incidents.c.id == incident_id))
    return found[0] if found else None


async def open_incidents_of(conn: AsyncConnection, monitor: str) -> list[Incident]:
    """Open incidents that cover ``monitor``, oldest first."""
    covering = sa.select(incident_monitors.c.incident_id).where(
        incident_monitors.c.monitor == monitor
    )
    return await _load(
        conn,
        sa.select(incidents)
        .where(incidents.c.resolved_at.is_(None), incidents.c.id.in_(covering))
        .order_by(incidents.c.id),
    )


async def list_incidents(conn: AsyncConnection, f: IncidentFilter) -> list[Incident]:
    """Newest first."""
    query = sa.select(incidents).order_by(incidents.c.id.desc()).limit(f.limit)
    if f.state == "open":
        query = query.where(incidents.c.resolved_at.is_(None))
    elif f.state == "resolved":
        query = query.where(incidents.c.resolved_at.is_not(None))
    if f.resolved_since is not None:
        query = query.where(
            sa.or_(incidents.c.resolved_at.is_(None), incidents.c.resolved_at >= f.resolved_since)
        )
    if f.page is not None:  # slugs are [a-z0-9-]: nothing to escape in LIKE
        shown: sa.ColumnElement[bool] = sa.cast(incidents.c.pages, sa.Text).like(f'%"{f.page}"%')
        if f.page_monitors:
            covering = sa.select(incident_monitors.c.incident_id).where(
                incident_monitors.c.monitor.in_(f.page_monitors)
            )
            shown = sa.or_(shown, incidents.c.id.in_(covering))
        query = query.where(shown)
    if f.monitor is not None:
        query = query.where(
            incidents.c.id.in_(
                sa.select(incident_monitors.c.incident_id).where(
                    incident_monitors.c.monitor == f.monitor
                )
            )
        )
    if f.before_id is not None:
        query = query.where(incidents.c.id < f.before_id)
    return await _load(conn, query)


async def _load(conn: AsyncConnection, query: sa.Select[Any]) -> list[Incident]:
    rows = (await conn.execute(query)).mappings().all()
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    updates = await _updates(conn, ids)
    monitors = await _monitors(conn, ids)
    return [
        Incident(
            id=row["id"],
            title=row["title"],
            status=row["status"],
            impact=row["impact"],
            pages=tuple(row["pages"] or ()),
            automatic=bool(row["automatic"]),
            taken_over_by=row["taken_over_by"],
            opened_by=row["opened_by"],
            opened_at=row["opened_at"],
            updated_at=row["updated_at"],
            resolved_at=row["resolved_at"],
            monitors=tuple(monitors.get(row["id"], ())),
            updates=tuple(updates.get(row["id"], ())),
        )
        for row in rows
    ]


async def _updates(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, list[IncidentUpdate]]:
    rows = await conn.execute(
        sa.select(incident_updates)
        .where(incident_updates.c.incident_id.in_(ids))
        .order_by(incident_updates.c.at, incident_updates.c.id)
    )
    found: dict[int, list[IncidentUpdate]] = {}
    for row in rows.mappings():
        found.setdefault(row["incident_id"], []).append(
            IncidentUpdate(row["id"], row["at"], row["status"], row["message"], row["by"])
        )
    return found


async def _monitors(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, list[AffectedMonitor]]:
    rows = await conn.execute(
        sa.select(incident_monitors)
        .where(incident_monitors.c.incident_id.in_(ids))
        .order_by(incident_monitors.c.monitor)
    )
    found: dict[int, list[AffectedMonitor]] = {}
    for row in rows.mappings():
        found.setdefault(row["incident_id"], []).append(
            AffectedMonitor(row["monitor"], bool(row["down"]), row["since"])
        )
    return found


def incident_change(incident: Incident, public_url: str) -> IncidentChange:
    """The event that tells the other parts (alerts) about ``incident``'s latest update."""
    latest = incident.latest
    return IncidentChange(
        incident_id=incident.id,
        title=incident.title,
        status=incident.status,
        message=latest.message if latest else "",
        at=latest.at if latest else incident.updated_at,
        impact=incident.impact,
        monitors=incident.monitor_names,
        pages=incident.pages,
        url=f"{public_url}/status/{incident.pages[0]}" if incident.pages else "",
    )
