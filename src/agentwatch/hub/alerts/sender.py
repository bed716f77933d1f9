"""The sender: claims outbox rows, sends them through their channels, records the outcomes.

One claiming loop per hub takes, in one transaction, the due rows of every channel up to
``outbox.workers`` rows in flight per channel (counted across all hubs) and sends each at
once. Outcomes are recorded together (group commit: the outcomes that arrive while one
transaction commits go into the next), so a crash repeats at most the rows that were in
flight: ``workers`` per channel. Failures are retried with exponential backoff and jitter,
or after the receiver's ``Retry-After`` (which also holds the channel's send slot); a
permanent refusal, or a row still failing at its deadline, is dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..parts import HubContext
from .channels import Channel, DeliveryError, build_channel
from .claims import Claim, Outcome, Round, claim_batch, next_due, record
from .config import AlertsConfig
from .message import Notification
from .metrics import AlertMetrics
from .wakeup import Wakeup

__all__ = ["Sender"]

POLL = 1.0
BATCH = 500  # outcomes recorded in one transaction at most
_log = logging.getLogger("agentwatch.hub.alerts")
_Pending = tuple[Outcome, asyncio.Future[None]]


class Sender:
    def __init__(
        self, ctx: HubContext, config: Callable[[], AlertsConfig], metrics: AlertMetrics
    ) -> None:
        self._ctx = ctx
        self._config = config
        self._metrics = metrics
        self._wake = Wakeup()
        self._inflight: set[asyncio.Task[None]] = set()
        self._pending: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self.channels: dict[str, Channel] = {}
        self.rebuild()

    def rebuild(self) -> None:
        """Channels from the current configuration (after a reload)."""
        self.channels = {
            c.name: build_channel(c, self._ctx.http, self._ctx.clock)
            for c in self._config().channels
        }

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                await self._round()
        finally:
            for task in list(self._inflight):
                task.cancel()
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _round(self) -> None:
        try:
            claims, delay = await self._claim()
        except Exception:
            _log.exception("claiming outbox rows failed; retrying in %.0f s", POLL)
            claims, delay = [], POLL
        for claim in claims:
            task = asyncio.create_task(self._deliver(claim))
            self._inflight.add(task)
            task.add_done_callback(self._done)
        if not claims:
            await self._wake.sleep(delay)  # a send finishing or a new row wakes it sooner

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()

    async def _claim(self) -> tuple[list[Claim], float]:
        config = self._config()
        now = self._ctx.clock()
        channels = {c.name: c for c in config.channels}
        async with self._ctx.db.write() as conn:
            taken: Round = await claim_batch(
                conn, channels, now, config.outbox.workers, config.outbox.lease
            )
            upcoming = None if taken.claims else await next_due(conn, now, taken.full)
        if taken.claims:
            return taken.claims, 0.0
        if upcoming is None:
            return [], POLL
        return [], max(0.01, min(POLL, upcoming - now))

    async def _deliver(self, claim: Claim) -> None:
        row = claim.row
        channel = self.channels.get(row.channel)
        error: DeliveryError | None = None
        if channel is None:
            error = DeliveryError(f"channel {row.channel} is no longer configured", permanent=True)
        else:
            try:
                note = Notification.from_json(row.payload)
                timeout = self._config().outbox.lease * 0.8
                async with asyncio.timeout(timeout):
                    await channel.send(note)
            except DeliveryError as exc:
                error = exc
            except TimeoutError:
                error = DeliveryError(f"{row.channel}: no answer within the send timeout")
            except Exception as exc:  # a channel's bug: keep the row, say what happened
                _log.exception("channel %s failed to send outbox row %s", row.channel, row.id)
                error = DeliveryError(f"{row.channel}: {type(exc).__name__}: {exc}")
        await self._record(Outcome(claim, error))

    async def _record(self, outcome: Outcome) -> None:
        """Queue ``outcome`` for the next group commit; returns once it is committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((outcome, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_pending())
        await asyncio.shield(done)  # a send cancelled at shutdown is still recorded

    async def _write_pending(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            try:
                await self._write(batch)
            except Exception:  # one bad outcome must not lose the others: each on its own
                for item in batch:
                    try:
                        await self._write([item])
                    except Exception:
                        row = item[0].claim.row
                        _log.exception(
                            "recording outbox row %s failed; it is sent again when its "
                            "lease runs out",
                            row.id,
                        )
                        if not item[1].done():
                            item[1].set_result(None)

    async def _write(self, batch: list[_Pending]) -> None:
        now = self._ctx.clock()
        outcomes = [outcome for outcome, _done in batch]
        async with self._ctx.db.write() as conn:
            results = await record(conn, outcomes, now, self._config().outbox)
        for outcome, result in zip(outcomes, results, strict=True):
            self._count(outcome, result, now)
        for _outcome, done in batch:
            if not done.done():
                done.set_result(None)

    def _count(self, outcome: Outcome, result: str, now: float) -> None:
        """Metrics and the log line of one recorded outcome."""
        (row, _lease, members), error = outcome
        self._metrics.notifications.labels(row.channel, result).inc()
        if members:
            self._metrics.notifications.labels(row.channel, "coalesced").inc(members)
        if error is None:
            self._metrics.delay.labels(row.channel).observe(max(0.0, now - row.created_at))
        elif result == "dead":
            _log.warning("outbox row %s to %s is dead: %s", row.id, row.channel, error)
        else:
            _log.info(
                "outbox row %s to %s failed (attempt %s): %s",
                row.id,
                row.channel,
                row.attempts,
                error,
            )
