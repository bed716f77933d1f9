"""Taking outbox rows to send, and recording what happened to them.

A claim takes due rows of the channels with a free send slot (``alerts_channel_slots``: the
channel's rate limit as a row, shared by every hub), marks them ``sending`` under a lease
and reserves the slot, all in one short transaction. The slot row is locked first (``FOR
UPDATE SKIP LOCKED``), so one hub at a time claims for a channel and counts its rows in
flight: a channel has at most ``per_channel`` rows ``sending`` across all hubs (so a crash
repeats at most that many rows per channel), a rate-limited one takes one row per slot. The
rows of a group go out in the order they were made (a resolve never overtakes its firing's
retries: a row waits while an older row of its group and channel is pending or sending).
When more than ``storm_threshold`` rows of a coalescing channel are waiting, they are folded
into one summary row (a storm is coalesced, never dropped). The outcomes of many sends are
recorded in one transaction (:func:`record`), each only if its lease still holds.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .channels import ChannelConfig, DeliveryError
from .config import OutboxConfig
from .message import SUMMARY, AlertView, Notification
from .outbox import OutboxRow
from .tables import channel_slots, outbox

__all__ = [
    "Claim",
    "Outcome",
    "Round",
    "backoff",
    "claim_batch",
    "next_due",
    "record",
    "release_all",
]

MAX_SUMMARY = 500  # rows folded into one summary at most


class Claim(NamedTuple):
    row: OutboxRow
    lease_until: float
    members: int  # rows coalesced into it (0: a plain row)


class Outcome(NamedTuple):
    """What one send of a claim came to (``error`` None: delivered)."""

    claim: Claim
    error: DeliveryError | None


class Round(NamedTuple):
    """A claim's rows, and the channels that have ``per_channel`` rows in flight (their
    next row waits for a send to end, not for a timer)."""

    claims: list[Claim]
    full: frozenset[str]


def backoff(attempts: int, config: OutboxConfig, rng: random.Random | None = None) -> float:
    """Exponential from ``retry_initial``, capped at ``retry_max``, with equal jitter."""
    delay = min(config.retry_max, config.retry_initial * (2 ** max(0, attempts - 1)))
    return float(delay / 2 + (rng or random).random() * delay / 2)


# The claim's statements are built once, with bind parameters: building and hashing a
# statement with its EXISTS subqueries cost more than running it, on every turn.
_NOW = sa.bindparam("b_now", type_=sa.Float(precision=53))
_CHANNELS: sa.BindParameter[list[str]] = sa.bindparam("b_channels", expanding=True)
_QUEUED = outbox.alias("queued")


def _due() -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(outbox.c.state == "pending", outbox.c.next_attempt_at <= _NOW),
        sa.and_(outbox.c.state == "sending", outbox.c.lease_until <= _NOW),
    )


def _queued_before() -> sa.ColumnElement[bool]:
    """An older row of the same group and channel is still to be sent."""
    return sa.exists().where(
        _QUEUED.c.group_id == outbox.c.group_id,
        _QUEUED.c.channel == outbox.c.channel,
        _QUEUED.c.id < outbox.c.id,
        _QUEUED.c.state.in_(("pending", "sending")),
    )


def _next_due_query(greatest: Callable[..., sa.ColumnElement[float]]) -> sa.Select[Any]:
    return (
        sa.select(sa.func.min(greatest(outbox.c.next_attempt_at, channel_slots.c.next_send_at)))
        .select_from(outbox.join(channel_slots, channel_slots.c.channel == outbox.c.channel))
        .where(outbox.c.state == "pending", ~_queued_before())
        .where(outbox.c.channel.not_in(sa.bindparam("b_full", expanding=True)))
    )


_NEXT_DUE = {
    "sqlite": _next_due_query(sa.func.max),
    "postgresql": _next_due_query(sa.func.greatest),
}

# the channels whose send slot is free and that have a due row, their slot rows locked
_READY = (
    sa.select(channel_slots.c.channel)
    .where(channel_slots.c.channel.in_(_CHANNELS), channel_slots.c.next_send_at <= _NOW)
    .where(sa.exists().where(outbox.c.channel == channel_slots.c.channel, _due()))
    .order_by(channel_slots.c.channel)
    .with_for_update(skip_locked=True)
)

# rows being sent by channel: under a live lease (by any hub), and whose lease ran out
_LIVE = outbox.c.lease_until > _NOW
_SENDING = (
    sa.select(
        outbox.c.channel,
        sa.func.count().filter(_LIVE),
        sa.func.count().filter(~_LIVE),
    )
    .where(outbox.c.channel.in_(_CHANNELS), outbox.c.state == "sending")
    .group_by(outbox.c.channel)
)

_CANDIDATES = (
    sa.select(outbox)
    .where(outbox.c.channel == sa.bindparam("b_channel"), ~_queued_before())
    .order_by(outbox.c.next_attempt_at, outbox.c.id)
    .limit(sa.bindparam("b_limit", type_=sa.Integer))
    .with_for_update(skip_locked=True)
)
_EXPIRED = _CANDIDATES.where(outbox.c.state == "sending", outbox.c.lease_until <= _NOW)
_PENDING = _CANDIDATES.where(outbox.c.state == "pending", outbox.c.next_attempt_at <= _NOW)

_TAKE = (
    sa.update(outbox)
    .where(outbox.c.id.in_(sa.bindparam("b_ids", expanding=True)))
    .values(state="sending", lease_until=sa.bindparam("b_lease"), attempts=outbox.c.attempts + 1)
)


async def next_due(
    conn: AsyncConnection, now: float, full: frozenset[str] = frozenset()
) -> float | None:
    """When the next row of a channel not in ``full`` becomes sendable (None: none waits)."""
    query = _NEXT_DUE[conn.dialect.name]
    value = (await conn.execute(query, {"b_now": now, "b_full": list(full)})).scalar()
    return None if value is None else float(value)


async def _ready(conn: AsyncConnection, channels: list[str], now: float) -> list[str]:
    """The channels whose send slot is free and that have a due row, their slot rows locked
    (another hub claiming for a channel holds its slot row: that channel is skipped)."""
    return list((await conn.execute(_READY, {"b_channels": channels, "b_now": now})).scalars())


class _Sending(NamedTuple):
    live: int  # rows being sent now
    expired: int  # rows whose sender died (their lease ran out): to be taken again


async def _sending(conn: AsyncConnection, channels: list[str], now: float) -> dict[str, _Sending]:
    rows = await conn.execute(_SENDING, {"b_channels": channels, "b_now": now})
    return {channel: _Sending(int(live), int(expired)) for channel, live, expired in rows.all()}


async def _reserve(conn: AsyncConnection, channel: ChannelConfig, now: float) -> None:
    if channel.rate:
        await conn.execute(
            sa.update(channel_slots)
            .where(channel_slots.c.channel == channel.name)
            .values(next_send_at=now + 1.0 / channel.rate)
        )


async def _take(conn: AsyncConnection, rows: list[OutboxRow], lease_until: float) -> list[Claim]:
    await conn.execute(_TAKE, {"b_ids": [row.id for row in rows], "b_lease": lease_until})
    return [Claim(row._replace(attempts=row.attempts + 1), lease_until, 0) for row in rows]


def summary(rows: list[OutboxRow], channel: str, now: float) -> Notification:
    """One notification standing for ``rows`` (their alerts, counted by status)."""
    notes = [Notification.from_json(r.payload) for r in rows]
    alerts: list[AlertView] = [a for n in notes for a in n.alerts]
    counts = {"notifications": len(notes)}
    for status in ("firing", "resolved", "acknowledged"):
        counts[status] = sum(1 for a in alerts if a.status == status)
    return Notification(
        key=f"summary:{channel}:{rows[0].id}-{rows[-1].id}",
        channel=channel,
        status=SUMMARY,
        group_fingerprint="",
        group_labels={},
        alerts=tuple(alerts[:100]),
        created_at=now,
        hub_url=notes[0].hub_url,
        reason="storm",
        counts=counts,
    )


async def _coalesce(
    conn: AsyncConnection, channel: ChannelConfig, now: float, lease_until: float
) -> Claim | None:
    query = (
        sa.select(outbox)
        .where(outbox.c.channel == channel.name, _due(), ~_queued_before())
        .order_by(outbox.c.id)
        .limit(MAX_SUMMARY)
        .with_for_update(skip_locked=True)
    )
    rows = [OutboxRow.from_row(r) for r in (await conn.execute(query, {"b_now": now})).all()]
    if len(rows) <= channel.storm_threshold:
        return None
    note = summary(rows, channel.name, now)
    deadline = max(r.deadline_at for r in rows)
    result = await conn.execute(
        sa.insert(outbox)
        .values(
            key=note.key,
            channel=channel.name,
            status=SUMMARY,
            state="sending",
            payload=note.to_json(),
            created_at=now,
            deadline_at=deadline,
            next_attempt_at=now,
            lease_until=lease_until,
            attempts=1,
        )
        .returning(*outbox.c)
    )
    row = OutboxRow.from_row(result.one())
    await conn.execute(
        sa.update(outbox)
        .where(outbox.c.id.in_([r.id for r in rows]))
        .values(state="coalesced", summary_id=row.id, lease_until=None)
    )
    return Claim(row, lease_until, len(rows))


async def _candidates(
    conn: AsyncConnection, channel: str, now: float, limit: int, expired: bool
) -> list[OutboxRow]:
    """Due rows of ``channel``, oldest attempt first: rows whose lease ran out (if
    ``expired``: there are some), then pending rows. Two queries rather than one with
    ``OR``: each walks its index in order and stops at ``limit`` (with the ``OR`` the
    database sorted every pending row on each claim, 40-90 ms at 10,000 pending on SQLite,
    inside the write transaction)."""
    params = {"b_channel": channel, "b_now": now, "b_limit": limit}
    queries = (_EXPIRED, _PENDING) if expired else (_PENDING,)
    rows = [OutboxRow.from_row(r) for q in queries for r in await conn.execute(q, params)]
    rows.sort(key=lambda r: (r.next_attempt_at, r.id))
    return rows[:limit]


async def _claim_channel(
    conn: AsyncConnection,
    channel: ChannelConfig,
    now: float,
    free: int,
    lease_until: float,
    expired: bool,
) -> list[Claim]:
    """Up to ``free`` rows of one channel (its slot row locked), or its storm summary."""
    rows = await _candidates(conn, channel.name, now, 1 if channel.rate else free, expired)
    if not rows:
        return []
    summary = await _coalesce(conn, channel, now, lease_until) if channel.coalesce else None
    claims = [summary] if summary else await _take(conn, rows, lease_until)
    await _reserve(conn, channel, now)
    return claims


async def claim_batch(
    conn: AsyncConnection,
    channels: Mapping[str, ChannelConfig],
    now: float,
    per_channel: int,
    lease: float,
) -> Round:
    """Rows of every ready channel, up to ``per_channel`` in flight each (call inside a
    write transaction)."""
    ready = await _ready(conn, list(channels), now) if channels and per_channel > 0 else []
    if not ready:
        return Round([], frozenset())
    sending = await _sending(conn, ready, now)
    in_flight = Counter({name: counts.live for name, counts in sending.items()})
    claims: list[Claim] = []
    for name in ready:
        free = per_channel - in_flight[name]
        if free > 0:
            expired = name in sending and sending[name].expired > 0
            taken = await _claim_channel(conn, channels[name], now, free, now + lease, expired)
            in_flight[name] += len(taken)
            claims += taken
    return Round(claims, frozenset(n for n, count in in_flight.items() if count >= per_channel))


_RECORD = (
    sa.update(outbox)
    .where(outbox.c.id == sa.bindparam("b_id"), outbox.c.state == "sending")
    .where(outbox.c.lease_until == sa.bindparam("b_lease"))
    .values(
        state=sa.bindparam("b_state"),
        next_attempt_at=sa.bindparam("b_next"),
        sent_at=sa.bindparam("b_sent"),
        dead_at=sa.bindparam("b_dead"),
        last_error=sa.bindparam("b_error"),
        lease_until=None,
    )
)


def _result(outcome: Outcome, now: float, config: OutboxConfig) -> tuple[str, dict[str, object]]:
    """``"sent"``, ``"failed"`` (to be tried again) or ``"dead"``, and the row's new values
    for :data:`_RECORD`."""
    row, error = outcome.claim.row, outcome.error
    values: dict[str, object] = {
        "b_id": row.id,
        "b_lease": outcome.claim.lease_until,
        "b_state": "sent",
        "b_next": row.next_attempt_at,
        "b_sent": None,
        "b_dead": None,
        "b_error": None,
    }
    if error is None:
        return "sent", values | {"b_sent": now}
    message = str(error)[:1000]
    if error.permanent or now >= row.deadline_at:
        return "dead", values | {"b_state": "dead", "b_dead": now, "b_error": message}
    wait = error.retry_after if error.retry_after is not None else backoff(row.attempts, config)
    at = min(now + wait, row.deadline_at)
    return "failed", values | {"b_state": "pending", "b_next": at, "b_error": message}


async def record(
    conn: AsyncConnection, outcomes: Sequence[Outcome], now: float, config: OutboxConfig
) -> list[str]:
    """Record many sends in one statement: each row ``sent``, back to ``pending`` for its
    next attempt, or dead-lettered; a row whose lease was lost (another hub owns it now) is
    left alone. Returns each outcome's result: ``"sent"``, ``"failed"`` or ``"dead"``."""
    if not outcomes:
        return []
    results, values = zip(*(_result(o, now, config) for o in outcomes), strict=True)
    await conn.execute(_RECORD, list(values))
    summaries = [o.claim.row.id for o in outcomes if o.error is None and o.claim.members]
    if summaries:
        await conn.execute(
            sa.update(outbox).where(outbox.c.summary_id.in_(summaries)).values(sent_at=now)
        )
    await _hold_slots(conn, outcomes, results, now)
    return list(results)


async def _hold_slots(
    conn: AsyncConnection, outcomes: Sequence[Outcome], results: Sequence[str], now: float
) -> None:
    """A ``Retry-After`` holds its channel's send slot that long: no row of the channel is
    claimed meanwhile (rows already being sent finish)."""
    waits: dict[str, float] = {}
    for outcome, result in zip(outcomes, results, strict=True):
        after = outcome.error.retry_after if outcome.error else None
        if after and result == "failed":
            channel = outcome.claim.row.channel
            waits[channel] = max(after, waits.get(channel, 0.0))
    for channel, after in waits.items():
        await conn.execute(
            sa.update(channel_slots)
            .where(channel_slots.c.channel == channel)
            .where(channel_slots.c.next_send_at < now + after)
            .values(next_send_at=now + after)
        )


async def release_all(conn: AsyncConnection) -> int:
    """Every ``sending`` row back to ``pending`` (a SQLite hub owns its file: no one else
    can be sending them)."""
    result = await conn.execute(
        sa.update(outbox)
        .where(outbox.c.state == "sending")
        .values(state="pending", lease_until=None)
    )
    return int(result.rowcount or 0)
