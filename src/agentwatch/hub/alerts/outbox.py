"""The durable outbox: one row per notification, written in the transaction that decided it.

States: ``pending`` (waiting for its attempt), ``sending`` (claimed under a lease),
``sent``, ``dead`` (undeliverable: a permanent refusal, or still failing at its
``deadline_at``, ``max_age`` after it was made), ``coalesced`` (folded into a storm summary,
itself a row). A hub that dies while sending leaves its rows ``sending``; when their lease
runs out any hub takes them again, so a crash between sending and recording repeats those
rows and no other: at most ``outbox.workers`` per channel (the rows a channel has in flight,
across all hubs). Several hubs on Postgres claim rows with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .channels import ChannelConfig
from .message import Notification
from .sql import insert_ignore
from .tables import channel_slots, outbox

__all__ = ["STATES", "OutboxRow", "enqueue", "list_rows", "retry_rows"]

STATES = ("pending", "sending", "sent", "dead", "coalesced")


class OutboxRow(NamedTuple):
    id: int
    key: str
    channel: str
    status: str
    state: str
    payload: dict[str, Any]
    created_at: float
    deadline_at: float
    next_attempt_at: float
    lease_until: float | None
    attempts: int
    last_error: str | None
    sent_at: float | None
    dead_at: float | None
    summary_id: int | None
    group_id: int | None

    @classmethod
    def from_row(cls, row: Any) -> OutboxRow:
        return cls(**{name: getattr(row, name) for name in cls._fields})

    def public(self) -> dict[str, Any]:
        """What ``GET /api/v1/outbox`` shows (the payload's title, not the whole payload)."""
        data = self._asdict()
        payload = data.pop("payload")
        data["title"] = Notification.from_json(payload).title if payload else ""
        data["alerts"] = [a["fingerprint"] for a in payload.get("alerts", ())][:100]
        return data


async def enqueue(
    conn: AsyncConnection,
    notification: Notification,
    channel: ChannelConfig,
    now: float,
    group_id: int | None = None,
) -> bool:
    """Write the row (once per idempotency key); False when the key was there already."""
    inserted = await insert_ignore(
        conn,
        outbox,
        {
            "key": notification.key,
            "channel": channel.name,
            "status": notification.status,
            "state": "pending",
            "payload": notification.to_json(),
            "created_at": now,
            "deadline_at": now + channel.max_age,
            "next_attempt_at": now,
            "attempts": 0,
            "group_id": group_id,
        },
    )
    await insert_ignore(conn, channel_slots, {"channel": channel.name, "next_send_at": 0.0})
    return inserted > 0


async def list_rows(
    conn: AsyncConnection,
    *,
    state: str | None = None,
    channel: str | None = None,
    limit: int = 100,
    before: int | None = None,
) -> list[OutboxRow]:
    """Rows newest first (``before``: only ids below it, for paging)."""
    query = sa.select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if state:
        query = query.where(outbox.c.state == state)
    if channel:
        query = query.where(outbox.c.channel == channel)
    if before:
        query = query.where(outbox.c.id < before)
    return [OutboxRow.from_row(r) for r in (await conn.execute(query)).all()]


async def retry_rows(
    conn: AsyncConnection,
    ids: Sequence[int] | None,
    channels: dict[str, ChannelConfig],
    now: float,
) -> list[int]:
    """Dead rows (``ids``, or all when None) back to pending, with a fresh ``max_age``."""
    query = sa.select(outbox.c.id, outbox.c.channel).where(outbox.c.state == "dead")
    if ids is not None:
        query = query.where(outbox.c.id.in_(list(ids)))
    rows = (await conn.execute(query.with_for_update())).all()
    for row in rows:
        channel = channels.get(row.channel)
        max_age = channel.max_age if channel else 24 * 3600.0
        await conn.execute(
            sa.update(outbox)
            .where(outbox.c.id == row.id)
            .values(
                state="pending",
                next_attempt_at=now,
                deadline_at=now + max_age,
                attempts=0,
                dead_at=None,
                lease_until=None,
            )
        )
    return [row.id for row in rows]
