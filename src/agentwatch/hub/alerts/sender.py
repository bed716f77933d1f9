"""The sender: claims outbox rows, sends them through their channels, records the outcomes.

One loop per hub takes turns at the database: each turn records the outcomes of the sends
that ended since the last (group commit) and claims, in the same transaction, the due rows
of every channel up to ``outbox.workers`` rows in flight per channel (counted across all
hubs), which are then sent at once. A crash repeats at most the rows in flight, sent or
not yet recorded: ``workers`` per channel. Failures are retried with exponential backoff
and jitter, or after the receiver's ``Retry-After`` (which also holds the channel's send
slot); a permanent refusal, or a row still failing at its deadline, is dead-lettered.
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
BATCH = 500  # outcomes recorded in one turn at most
STOP_GRACE = 5.0  # seconds the sends under way have to end when the hub stops
_log = logging.getLogger("agentwatch.hub.alerts")


class Sender:
    def __init__(
        self, ctx: HubContext, config: Callable[[], AlertsConfig], metrics: AlertMetrics
    ) -> None:
        self._ctx = ctx
        self._config = config
        self._metrics = metrics
        self._wake = Wakeup()
        self._inflight: set[asyncio.Task[None]] = set()
        self._finished: list[Outcome] = []  # sent or failed, not yet recorded
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
            await self._stop()

    async def _stop(self) -> None:
        """Let the sends under way end (up to :data:`STOP_GRACE`) and record them: a hub
        stopped on purpose leaves no delivered row for the next start to send again."""
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=STOP_GRACE)
        for task in list(self._inflight):
            task.cancel()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        finished, self._finished = self._finished, []
        await self._record_each(finished)

    async def _round(self) -> None:
        """Record the sends that ended and claim the next rows, in one transaction (one
        turn at the write lock, one commit, however many rows)."""
        outcomes, self._finished = self._finished[:BATCH], self._finished[BATCH:]
        try:
            claims, delay = await self._turn(outcomes)  # delay: until the next row is due
        except asyncio.CancelledError:
            # the hub stops: _stop records them (a row recorded already is left as it is)
            self._finished[:0] = outcomes
            raise
        except Exception:
            _log.exception("recording and claiming outbox rows failed; retrying in %.0f s", POLL)
            await self._record_each(outcomes)
            claims, delay = [], POLL
        for claim in claims:
            task = asyncio.create_task(self._deliver(claim))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        await self._wake.sleep(delay)  # a send ending or a new row wakes it sooner

    async def _turn(self, outcomes: list[Outcome]) -> tuple[list[Claim], float]:
        config = self._config()
        now = self._ctx.clock()
        channels = {c.name: c for c in config.channels}
        async with self._ctx.db.write() as conn:
            results = await record(conn, outcomes, now, config.outbox)
            taken: Round = await claim_batch(
                conn, channels, now, config.outbox.workers, config.outbox.lease
            )
            upcoming = await next_due(conn, now, taken.full)
        for outcome, result in zip(outcomes, results, strict=True):
            self._count(outcome, result, now)
        if upcoming is None:
            return taken.claims, POLL
        return taken.claims, max(0.01, min(POLL, upcoming - now))

    async def _record_each(self, outcomes: list[Outcome]) -> None:
        """Each outcome in a transaction of its own, after a failed turn (one bad row must
        not lose the others) and when the hub stops; a row that cannot be recorded is sent
        again after its lease."""
        now = self._ctx.clock()
        for outcome in outcomes:
            try:
                async with self._ctx.db.write() as conn:
                    (result,) = await record(conn, [outcome], now, self._config().outbox)
                self._count(outcome, result, now)
            except Exception:
                _log.exception(
                    "recording outbox row %s failed; it is sent again when its lease runs out",
                    outcome.claim.row.id,
                )

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
        self._finished.append(Outcome(claim, error))
        self._wake.set()

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
