"""Acknowledging an alert: no more repeats, and the channels that got it are told.

``POST /api/v1/alerts/{fingerprint}/ack`` (``{"by": "ana", "comment": "on it"}``). Every
channel that was told the alert is firing gets an ``acknowledged`` notification (PagerDuty:
``event_action: acknowledge``); repeats stop while every firing alert of a group is
acknowledged. The alert firing again after a resolve clears the acknowledgement.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..web import ApiError
from .channels import ChannelConfig
from .flush import alert_view
from .message import ACKNOWLEDGED, Notification
from .model import FIRING, AlertRecord
from .outbox import enqueue
from .store import load_alert
from .tables import alerts, deliveries, group_alerts, groups

__all__ = ["acknowledge"]


async def _tell(
    conn: AsyncConnection,
    alert: AlertRecord,
    channels: Mapping[str, ChannelConfig],
    hub_url: str,
    now: float,
) -> int:
    rows = await conn.execute(
        sa.select(groups.c.id, groups.c.fingerprint, groups.c.labels, deliveries)
        .join(group_alerts, group_alerts.c.group_id == groups.c.id)
        .join(deliveries, deliveries.c.group_id == groups.c.id)
        .where(group_alerts.c.fingerprint == alert.fingerprint)
    )
    told = 0
    for row in rows:
        channel = channels.get(row.channel)
        if channel is None or alert.token not in row.firing:
            continue
        seq = row.seq + 1
        note = Notification(
            key=f"{row.fingerprint}:{ACKNOWLEDGED}:{row.channel}:{row.id}.{seq}",
            channel=row.channel,
            status=ACKNOWLEDGED,
            group_fingerprint=row.fingerprint,
            group_labels=dict(row.labels),
            alerts=(alert_view(alert, hub_url),),
            created_at=now,
            hub_url=hub_url,
            reason="ack",
        )
        await enqueue(conn, note, channel, now, row.id)
        await conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.group_id == row.id, deliveries.c.channel == row.channel)
            .values(seq=seq)
        )
        told += 1
    return told


async def acknowledge(
    conn: AsyncConnection,
    fingerprint: str,
    by: str,
    comment: str,
    channels: Mapping[str, ChannelConfig],
    hub_url: str,
    now: float,
) -> tuple[AlertRecord, int]:
    """Acknowledge a firing alert; returns it and how many channels are told."""
    alert = await load_alert(conn, fingerprint, lock=True)
    if alert is None:
        raise ApiError(404, f"no alert with fingerprint {fingerprint}", field="fingerprint")
    if alert.status != FIRING:
        raise ApiError(409, f"alert {fingerprint} is resolved: there is nothing to acknowledge")
    if alert.acked_at is not None:
        return alert, 0
    await conn.execute(
        sa.update(alerts)
        .where(alerts.c.fingerprint == fingerprint)
        .values(acked_at=now, acked_by=by[:200] or "someone", ack_comment=comment)
    )
    acked = alert._replace(acked_at=now, acked_by=by[:200] or "someone", ack_comment=comment)
    return acked, await _tell(conn, acked, channels, hub_url, now)
