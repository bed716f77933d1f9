"""The sender: claims outbox rows, sends them through their channels, records the outcome.

One claiming loop per hub hands claims to at most ``outbox.workers`` concurrent sends. Each
outcome is recorded in its own transaction right after the send (so a crash repeats at most
the row being sent). Failures are retried with exponential backoff and jitter, or after the
receiver's ``Retry-After`` (which also holds the channel's whole send slot); a permanent
refusal, or a row still failing at its deadline, is dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..parts import HubContext
from .channels import Channel, DeliveryError, build_channel
from .claims import Claim, claim_batch, mark_failed, mark_sent, next_due
from .config import AlertsConfig
from .message import Notification
from .metrics import AlertMetrics
from .wakeup import Wakeup

__all__ = ["Sender"]

POLL = 1.0
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
        free = self._config().outbox.workers - len(self._inflight)
        delay = POLL
        if free > 0:
            try:
                claims, delay = await self._claim(free)
            except Exception:
                _log.exception("claiming outbox rows failed; retrying in %.0f s", POLL)
                claims, delay = [], POLL
            for claim in claims:
                task = asyncio.create_task(self._deliver(claim))
                self._inflight.add(task)
                task.add_done_callback(self._done)
            if claims:
                return
        await self._wake.sleep(delay)  # a send finishing or a new row wakes it sooner

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()

    async def _claim(self, free: int) -> tuple[list[Claim], float]:
        config = self._config()
        now = self._ctx.clock()
        channels = {c.name: c for c in config.channels}
        async with self._ctx.db.write() as conn:
            claims = await claim_batch(conn, channels, now, free, config.outbox.lease)
            upcoming = None if claims else await next_due(conn, now)
        if claims:
            return claims, 0.0
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
        await self._record(claim, error)

    async def _record(self, claim: Claim, error: DeliveryError | None) -> None:
        row, config = claim.row, self._config()
        now = self._ctx.clock()
        async with self._ctx.db.write() as conn:
            if error is None:
                await mark_sent(conn, claim, now)
                result = "sent"
            else:
                result = await mark_failed(conn, claim, error, now, config.outbox)
        self._metrics.notifications.labels(row.channel, result).inc()
        if claim.members:
            self._metrics.notifications.labels(row.channel, "coalesced").inc(claim.members)
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
