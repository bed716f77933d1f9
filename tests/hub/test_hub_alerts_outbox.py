"""The outbox's claims and records on SQLite and the machine's Postgres: a channel has at
most ``per_channel`` rows in flight, a batch's outcomes are recorded together and each on
its own merits, a claim dropped without a record (a crash mid-batch) loses no row, and a
``Retry-After`` holds the channel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from agentwatch.hub.alerts.channels import ChannelConfig, DeliveryError
from agentwatch.hub.alerts.claims import Outcome, claim_batch, next_due, record
from agentwatch.hub.alerts.config import OutboxConfig
from agentwatch.hub.alerts.message import Notification
from agentwatch.hub.alerts.outbox import enqueue
from agentwatch.hub.alerts.tables import outbox
from agentwatch.hub.store import Database

NOW = 1_800_000_000.0
LEASE = 10.0
CONFIG = OutboxConfig(retry_initial=1.0, retry_max=4.0, lease=LEASE)


def _channel(name: str = "hook", rate: float | None = None) -> ChannelConfig:
    return ChannelConfig(name, "webhook", None, rate, False, 50, 3600.0, True)


CHANNELS = {"hook": _channel()}


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    url = (
        f"sqlite:///{tmp_path}/hub.db"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    database = Database.open(url)
    try:
        await database.migrate()
        yield database
    finally:
        await database.close()


async def _enqueue(db: Database, count: int, channel: str = "hook", group: int = 0) -> None:
    async with db.write() as conn:
        for n in range(count):
            key = f"g{group}:firing:{channel}:{n}"
            note = Notification(key, channel, "firing", f"g{group}", {}, (), NOW, "http://hub")
            await enqueue(conn, note, _channel(channel), NOW, group or None)


async def _claim(
    db: Database,
    now: float = NOW,
    per_channel: int = 4,
    channels: dict[str, ChannelConfig] = CHANNELS,
) -> list[Outcome]:
    """Claims as outcomes that succeeded (tests replace the error where they need one)."""
    async with db.write() as conn:
        taken = await claim_batch(conn, channels, now, per_channel, LEASE)
    return [Outcome(claim, None) for claim in taken.claims]


async def _record(db: Database, outcomes: list[Outcome], now: float = NOW + 1) -> list[str]:
    async with db.write() as conn:
        return await record(conn, outcomes, now, CONFIG)


async def _states(db: Database) -> list[tuple[str, int]]:
    async with db.read() as conn:
        query = sa.select(outbox.c.state, outbox.c.attempts).order_by(outbox.c.id)
        return [(r.state, r.attempts) for r in await conn.execute(query)]


async def test_a_channel_has_at_most_per_channel_rows_in_flight(db: Database) -> None:
    await _enqueue(db, 6)
    first = await _claim(db, per_channel=4)
    assert len(first) == 4
    async with db.write() as conn:
        full = await claim_batch(conn, CHANNELS, NOW, 4, LEASE)
        assert full.claims == [] and full.full == {"hook"}
        assert await next_due(conn, NOW, full.full) is None  # woken by a send, not a timer
    assert await _record(db, first[:1]) == ["sent"]
    assert len(await _claim(db, per_channel=4)) == 1  # one slot came free


async def test_a_batch_with_a_failing_row_records_the_others(db: Database) -> None:
    await _enqueue(db, 3)
    ok, failing, dead = await _claim(db)
    outcomes = [
        ok,
        failing._replace(error=DeliveryError("hook answered 502")),
        dead._replace(error=DeliveryError("hook answered 404", permanent=True)),
    ]
    assert await _record(db, outcomes) == ["sent", "failed", "dead"]
    assert await _states(db) == [("sent", 1), ("pending", 1), ("dead", 1)]
    assert await _claim(db, NOW + 1) == []  # the failed row waits for its backoff
    (again,) = await _claim(db, NOW + 1 + CONFIG.retry_initial)
    assert again.claim.row.id == failing.claim.row.id and again.claim.row.attempts == 2


async def test_a_lost_lease_leaves_that_row_to_its_new_owner_and_records_the_rest(
    db: Database,
) -> None:
    await _enqueue(db, 2)
    lost, kept = await _claim(db)
    # the lease ran out: another hub takes the older row again (and the newer one waits)
    (retaken,) = await _claim(db, NOW + LEASE + 1, per_channel=1)
    assert retaken.claim.row.id == lost.claim.row.id
    await _record(db, [lost, kept], NOW + LEASE + 2)
    assert await _states(db) == [("sending", 2), ("sent", 1)]  # the new owner's, untouched


async def test_a_crash_mid_batch_loses_no_row_and_repeats_only_the_rows_in_flight(
    db: Database,
) -> None:
    await _enqueue(db, 6)
    in_flight = await _claim(db, per_channel=4)
    await _record(db, in_flight[:2])  # two recorded, two sent but the hub died before
    after = NOW + LEASE + 1  # their lease runs out: any hub takes them again
    again = await _claim(db, after, per_channel=4)
    repeated = {o.claim.row.id for o in again} & {o.claim.row.id for o in in_flight}
    assert repeated == {o.claim.row.id for o in in_flight[2:]}
    await _record(db, again, after + 1)
    await _record(db, await _claim(db, after + 2, per_channel=4), after + 3)
    assert [state for state, _attempts in await _states(db)] == ["sent"] * 6


async def test_rows_of_a_group_go_out_one_after_another(db: Database) -> None:
    await _enqueue(db, 3, group=7)
    for n in range(3):
        (only,) = await _claim(db, NOW + n)
        assert only.claim.row.key == f"g7:firing:hook:{n}"
        await _record(db, [only], NOW + n)


async def test_retry_after_holds_the_channel_and_a_rate_limit_takes_one_row_a_slot(
    db: Database,
) -> None:
    await _enqueue(db, 4)
    first, *rest = await _claim(db)
    throttled = first._replace(error=DeliveryError("hook answered 429", retry_after=30.0))
    assert await _record(db, [throttled, *rest], NOW) == ["failed", "sent", "sent", "sent"]
    assert await _claim(db, NOW + 29) == []
    assert len(await _claim(db, NOW + 30)) == 1
    both = {**CHANNELS, "slow": _channel("slow", rate=1.0)}
    await _enqueue(db, 3, channel="slow")
    slow = [o.claim.row.channel for o in await _claim(db, NOW + 31, channels=both)]
    assert slow == ["slow"]  # one row a slot, though four may be in flight
    assert await _claim(db, NOW + 31.5, channels=both) == []
    assert len(await _claim(db, NOW + 32, channels=both)) == 1
