"""Flushing a group: what each of its channels is to be told, as outbox rows.

Alertmanager's dedup stage (``notify/dedup_stage.go``, ``needsUpdate``) over rows: each
channel of a group remembers what it was told (``alerts_deliveries``: the firing and
resolved alerts, by fingerprint and revision, and when). A channel is notified when a
firing alert it was not told of is there (first notification, new alerts), when an alert it
was told was firing has resolved (``resolved``, whatever mutes the alert now), or when
``repeat_interval`` has passed and some firing alert is not acknowledged. Muted firing
alerts (silence, inhibition, maintenance, a parent monitor down) are left out.

Unlike Alertmanager's in-memory timers, a group does not wake every ``group_interval`` for
nothing: after a flush it sleeps until its repeat is due, unless news arrives (the intake
brings the flush forward to the next tick) or one of its alerts is muted (looked at every
``group_interval``, so it is released as soon as its silence or maintenance ends).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .channels import ChannelConfig
from .config import RouteConfig
from .message import AlertView, Notification
from .model import FIRING, RESOLVED, AlertRecord
from .muting import MONITOR_DOWN, Muting
from .outbox import enqueue
from .sql import insert_ignore
from .tables import alerts, deliveries, group_alerts, groups

__all__ = ["Delivery", "FlushEnv", "alert_view", "flush_group", "news"]


class Delivery(NamedTuple):
    """What one channel of a group was last told."""

    firing: frozenset[str]  # "<fingerprint>@<revision>"
    resolved: frozenset[str]
    notified_at: float
    seq: int

    def told_firing(self, alert: AlertRecord) -> bool:
        return any(token.split("@", 1)[0] == alert.fingerprint for token in self.firing)


@dataclass
class FlushEnv:
    """What a flush pass needs besides the group."""

    channels: Mapping[str, ChannelConfig]
    muting: Muting
    hub_url: str
    now: float


def news(
    entry: Delivery | None,
    visible: Sequence[AlertRecord],
    resolved: Sequence[AlertRecord],
    repeat: float,
    now: float,
) -> str | None:
    """Why the channel must be notified now (``first``, ``new_alerts``, ``resolved``,
    ``repeat``), or None. ``resolved`` holds only alerts the channel was told were firing."""
    told = entry.firing if entry else frozenset()
    if {a.token for a in visible} - told:
        return "new_alerts" if told else "first"
    if resolved:
        return "resolved"
    if (
        entry is not None
        and visible
        and now - entry.notified_at >= repeat
        and any(a.acked_at is None for a in visible)
    ):
        return "repeat"
    return None


def _links(alert: AlertRecord, hub_url: str) -> dict[str, str]:
    notes = alert.annotations
    links = {
        "runbook": notes.get("runbook_url") or notes.get("runbook") or "",
        "dashboard": notes.get("dashboard_url")
        or notes.get("dashboard")
        or alert.links.get("dashboard", ""),
        "status_page": notes.get("status_page_url") or alert.links.get("status_page", ""),
        "trace": f"{hub_url}/traces/{alert.trace_id}" if alert.trace_id else "",
        "traces": notes.get("traces_url") or "",
        "alert": f"{hub_url}/alerts/{alert.fingerprint}",
        "source": alert.generator_url,
    }
    return {name: url for name, url in links.items() if url}


def alert_view(alert: AlertRecord, hub_url: str, held: Sequence[str] = ()) -> AlertView:
    return AlertView(
        fingerprint=alert.fingerprint,
        status=alert.status,
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.starts_at,
        ends_at=alert.resolved_at if alert.status == RESOLVED else None,
        trace_id=alert.trace_id,
        links=_links(alert, hub_url),
        held=tuple(held),
        acked_by=alert.acked_by,
    )


async def _held_children(conn: AsyncConnection, alert: AlertRecord) -> list[str]:
    if alert.alertname != MONITOR_DOWN or not alert.monitor or alert.status != FIRING:
        return []
    rows = await conn.execute(
        sa.select(alerts.c.monitor)
        .where(alerts.c.cause == alert.monitor, alerts.c.status == FIRING)
        .order_by(alerts.c.monitor)
    )
    return sorted({r.monitor for r in rows if r.monitor})


async def _members(conn: AsyncConnection, group_id: int) -> list[AlertRecord]:
    rows = await conn.execute(
        sa.select(alerts)
        .join(group_alerts, group_alerts.c.fingerprint == alerts.c.fingerprint)
        .where(group_alerts.c.group_id == group_id)
        .order_by(alerts.c.starts_at, alerts.c.fingerprint)
    )
    return [AlertRecord.from_row(r) for r in rows]


async def _deliveries(conn: AsyncConnection, group_id: int) -> dict[str, Delivery]:
    rows = await conn.execute(sa.select(deliveries).where(deliveries.c.group_id == group_id))
    return {
        r.channel: Delivery(frozenset(r.firing), frozenset(r.resolved), r.notified_at, r.seq)
        for r in rows
    }


async def _record(
    conn: AsyncConnection, group_id: int, channel: str, delivery: Delivery, exists: bool
) -> None:
    values: dict[str, Any] = {
        "firing": sorted(delivery.firing),
        "resolved": sorted(delivery.resolved),
        "notified_at": delivery.notified_at,
        "seq": delivery.seq,
    }
    if exists:
        await conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.group_id == group_id, deliveries.c.channel == channel)
            .values(**values)
        )
    else:
        await insert_ignore(conn, deliveries, {"group_id": group_id, "channel": channel, **values})


async def _notify(
    conn: AsyncConnection,
    group: Any,
    repeat: float,
    channel: ChannelConfig,
    told: Delivery | None,
    shown: list[AlertRecord],
    env: FlushEnv,
) -> Delivery | None:
    """Decide for one channel; enqueue a row when there is news. Returns the new entry."""
    visible = [a for a in shown if a.status == FIRING]
    resolved = [a for a in shown if a.status == RESOLVED and told and told.told_firing(a)]
    reason = news(told, visible, resolved, repeat, env.now)
    if reason is None:
        return None
    seq = (told.seq if told else 0) + 1
    entry = Delivery(
        frozenset(a.token for a in visible),
        frozenset(a.token for a in resolved),
        env.now,
        seq,
    )
    included = visible + (resolved if channel.send_resolved else [])
    if not included:
        return entry  # only resolves, and this channel does not want them
    status = FIRING if visible else RESOLVED
    views = [alert_view(a, env.hub_url, await _held_children(conn, a)) for a in included]
    note = Notification(
        key=f"{group.fingerprint}:{status}:{channel.name}:{group.id}.{seq}",
        channel=channel.name,
        status=status,
        group_fingerprint=group.fingerprint,
        group_labels=dict(group.labels),
        alerts=tuple(views),
        created_at=env.now,
        hub_url=env.hub_url,
        reason=reason,
    )
    await enqueue(conn, note, channel, env.now, group.id)
    return entry


async def flush_group(
    conn: AsyncConnection, group: Any, route: RouteConfig | None, env: FlushEnv
) -> int:
    """Flush one due group (its row locked by the caller); returns the rows enqueued."""
    members = await _members(conn, group.id)
    if route is None:  # the route left the configuration: nothing more to send for it
        await conn.execute(sa.delete(group_alerts).where(group_alerts.c.group_id == group.id))
        await _idle(conn, group.id, env.now)
        return 0
    shown = [a for a in members if await env.muting.reason(a) is None]
    muted = len(shown) < len(members)
    told = await _deliveries(conn, group.id)
    enqueued, still_firing, repeats = 0, set(), []
    for name in route.channels:
        channel = env.channels.get(name)
        if channel is None:
            continue
        repeat = route.timing.repeat_interval
        entry = await _notify(conn, group, repeat, channel, told.get(name), shown, env)
        if entry is not None:
            await _record(conn, group.id, name, entry, name in told)
            enqueued += 1
        current = entry or told.get(name)
        if current is not None:
            still_firing |= {t.split("@", 1)[0] for t in current.firing}
            if current.firing:
                repeats.append(current.notified_at + repeat)
    gone = [
        a.fingerprint for a in members if a.status == RESOLVED and a.fingerprint not in still_firing
    ]
    if gone:
        await conn.execute(
            sa.delete(group_alerts)
            .where(group_alerts.c.group_id == group.id)
            .where(group_alerts.c.fingerprint.in_(gone))
        )
    if len(gone) == len(members):
        await _idle(conn, group.id, env.now)
        return enqueued
    await conn.execute(
        sa.update(groups)
        .where(groups.c.id == group.id)
        .values(next_flush_at=_next_flush(route, muted, repeats, env.now), last_flush_at=env.now)
    )
    return enqueued


def _next_flush(route: RouteConfig, muted: bool, repeats: list[float], now: float) -> float:
    """A muted alert is looked at every group_interval (its silence may end); otherwise the
    group sleeps until its first repeat is due (news brings it forward, see store.touch)."""
    interval = route.timing.group_interval
    if muted:
        return now + interval
    due = min(repeats) if repeats else now + route.timing.repeat_interval
    return max(now + interval, due)


async def _idle(conn: AsyncConnection, group_id: int, now: float) -> None:
    await conn.execute(
        sa.update(groups)
        .where(groups.c.id == group_id)
        .values(next_flush_at=None, active_since=None, last_flush_at=now)
    )
