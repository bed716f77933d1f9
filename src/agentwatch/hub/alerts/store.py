"""Accepting alerts: store each one and put it in its groups, inside the caller's transaction.

The intake endpoints, the monitor and the incident subscribers all call :func:`accept` in
the transaction that answers (or records the change), so an alert acknowledged with 2xx is
already on disk with its group's timer. A group that was idle starts its ``group_wait``
(or flushes at once when the alert started longer than ``group_wait`` ago, as Alertmanager
does for an alert that waited upstream); news for a busy group (an alert joins, resolves
or changes) brings its flush forward to its next ``group_interval`` tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .config import RouteConfig
from .model import FIRING, RESOLVED, AlertRecord, IncomingAlert
from .routing import group_labels, match_routes
from .sql import insert_ignore
from .tables import alerts, group_alerts, groups

__all__ = ["Accepted", "accept", "load_alert", "touch"]

_OWN_SOURCES = ("monitor", "incident")


class Accepted(NamedTuple):
    alerts: int
    changed: int  # new alerts and status changes
    routed: int  # alerts that joined at least one group


async def load_alert(conn: AsyncConnection, fp: str, *, lock: bool = False) -> AlertRecord | None:
    query = sa.select(alerts).where(alerts.c.fingerprint == fp)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return AlertRecord.from_row(row) if row is not None else None


def _new_row(alert: IncomingAlert, fp: str, now: float) -> dict[str, Any]:
    resolved = alert.status == RESOLVED
    return {
        "fingerprint": fp,
        "alertname": alert.labels.get("alertname", "")[:200],
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "links": dict(alert.links),
        "status": alert.status,
        "source": alert.source,
        "revision": 1,
        "starts_at": alert.starts_at or now,
        "ends_at": alert.ends_at,
        "first_seen": now,
        "last_seen": now,
        "resolved_at": (alert.ends_at or now) if resolved else None,
        "generator_url": alert.generator_url,
        "trace_id": alert.trace_id,
        "monitor": alert.monitor,
        "cause": alert.cause,
    }


def _is_replay(row: AlertRecord, alert: IncomingAlert) -> bool:
    """A firing that started when the resolved one did: an old notification sent again."""
    return (
        row.status == RESOLVED
        and alert.status == FIRING
        and alert.starts_at is not None
        and abs(alert.starts_at - row.starts_at) < 0.001
    )


def _changes(row: AlertRecord, alert: IncomingAlert, now: float) -> dict[str, Any]:
    values: dict[str, Any] = {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations) or row.annotations,
        "links": {**row.links, **alert.links},
        "last_seen": now,
        "ends_at": alert.ends_at,
        "generator_url": alert.generator_url or row.generator_url,
        "trace_id": alert.trace_id or row.trace_id,
        "cause": alert.cause,
    }
    if alert.status != row.status:
        values.update(status=alert.status, revision=row.revision + 1)
        if alert.status == FIRING:
            values.update(
                starts_at=alert.starts_at or now,
                resolved_at=None,
                acked_at=None,
                acked_by=None,
                ack_comment=None,
            )
        else:
            values["resolved_at"] = alert.ends_at or now
    elif alert.update:
        values["revision"] = row.revision + 1
    return values


async def _store(
    conn: AsyncConnection, alert: IncomingAlert, now: float
) -> tuple[str, bool, float]:
    """Insert or update the alert; returns (fingerprint, whether it changed, starts_at)."""
    fp = alert.fingerprint
    row = await load_alert(conn, fp, lock=True)
    if row is None and alert.status == RESOLVED and alert.source in _OWN_SOURCES:
        return fp, False, now  # a monitor recovering from a state it never alerted on
    if row is None:
        values = _new_row(alert, fp, now)
        if await insert_ignore(conn, alerts, values):
            return fp, True, values["starts_at"]
        row = await load_alert(conn, fp, lock=True)  # another hub inserted it just now
        assert row is not None
    if _is_replay(row, alert):
        return fp, False, row.starts_at
    values = _changes(row, alert, now)
    await conn.execute(sa.update(alerts).where(alerts.c.fingerprint == fp).values(**values))
    changed = "revision" in values
    return fp, changed, values.get("starts_at", row.starts_at)


async def _group_row(
    conn: AsyncConnection, route: RouteConfig, labels: dict[str, str], gfp: str
) -> Any:
    query = (
        sa.select(groups)
        .where(groups.c.route == route.key, groups.c.fingerprint == gfp)
        .with_for_update()
    )
    row = (await conn.execute(query)).first()
    if row is None:
        await insert_ignore(
            conn, groups, {"route": route.key, "fingerprint": gfp, "labels": labels}
        )
        row = (await conn.execute(query)).first()
    return row


async def touch(conn: AsyncConnection, group: Any, interval: float, now: float) -> None:
    """Bring a busy group's flush forward to its next ``group_interval`` tick (news)."""
    at = max(now, (group.last_flush_at or now) + interval)
    await conn.execute(
        sa.update(groups)
        .where(groups.c.id == group.id, groups.c.next_flush_at > at)
        .values(next_flush_at=at)
    )


async def _join(
    conn: AsyncConnection,
    route: RouteConfig,
    alert: IncomingAlert,
    stored: tuple[str, bool, float],
    now: float,
) -> bool:
    fp, changed, starts_at = stored
    labels, gfp = group_labels(route, alert.labels)
    if alert.status == RESOLVED:
        found = await conn.execute(
            sa.select(groups)
            .join(group_alerts, groups.c.id == group_alerts.c.group_id)
            .where(groups.c.route == route.key, groups.c.fingerprint == gfp)
            .where(group_alerts.c.fingerprint == fp)
        )
        group = found.first()
        if group is not None and changed and group.next_flush_at is not None:
            await touch(conn, group, route.timing.group_interval, now)
        return group is not None  # a resolve joins no group it was not in
    group = await _group_row(conn, route, labels, gfp)
    joined = await insert_ignore(conn, group_alerts, {"group_id": group.id, "fingerprint": fp})
    if group.next_flush_at is None:
        wait = route.timing.group_wait
        at = now if starts_at + wait < now else now + wait
        await conn.execute(
            sa.update(groups)
            .where(groups.c.id == group.id)
            .values(next_flush_at=at, active_since=now)
        )
    elif joined or changed:
        await touch(conn, group, route.timing.group_interval, now)
    return True


async def accept(
    conn: AsyncConnection,
    incoming: Sequence[IncomingAlert],
    routes: Sequence[RouteConfig],
    now: float,
) -> Accepted:
    """Store ``incoming`` and join their groups (call inside a write transaction)."""
    changed = routed = 0
    for alert in incoming:
        stored = await _store(conn, alert, now)
        changed += stored[1]
        joined = False
        for route in match_routes(routes, alert.labels):
            joined = await _join(conn, route, alert, stored, now) or joined
        routed += joined
    return Accepted(len(incoming), changed, routed)
