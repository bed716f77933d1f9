"""Sending spooled batches again: the outcome of one attempt, backoff, the retry pass.

Any signal takes part by registering a :data:`Sender` for its path (``/v1/traces``,
``/v1/logs``): one attempt to post a body, answering an :class:`Outcome`. :class:`Redelivery`
keeps one backoff for the receiver (exponential from ``initial_seconds``, ±20% jitter,
capped at ``max_seconds``; a ``Retry-After`` the receiver sent on 429 or 503 wins) and, when
it is due, sends the spool's batches oldest first until one fails or its time budget is
spent. While it backs off, new batches go straight to the spool (:meth:`backing_off`), so an
outage keeps nothing waiting in memory.

It runs on the thread that drains an export queue; the spool's per-file locks make several
threads or processes safe together.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from .._metrics.registry import Metrics
from .spool import Claim, Spool, signal_label

__all__ = ["Outcome", "Redelivery", "Sender"]

_log = logging.getLogger("agentwatch")
_WARN_EVERY_SECONDS = 30.0


@dataclass(frozen=True)
class Outcome:
    """What one attempt to send a body came to."""

    delivered: bool
    retry: bool = False  # not delivered, worth trying later (connection, timeout, 429, 5xx)
    retry_after: float | None = None  # seconds the receiver asked to wait
    reason: str = ""


DELIVERED = Outcome(True)
Sender = Callable[[bytes], Outcome]


class Redelivery:
    """Backoff shared by the signals of one receiver, and the pass over the spool."""

    def __init__(
        self,
        spool: Spool,
        metrics: Metrics,
        *,
        initial_seconds: float = 1.0,
        max_seconds: float = 15.0,
        max_retry_after_seconds: float = 300.0,
    ) -> None:
        self.spool = spool
        self._senders: dict[str, Sender] = {}
        self._initial = initial_seconds
        self._max = max_seconds
        self._max_retry_after = max_retry_after_seconds
        self._failures = 0
        self._next_attempt = 0.0  # monotonic; 0: not backing off
        self._retries = metrics["agentwatch_spool_retries_total"]
        self._delivered = metrics["agentwatch_spool_delivered_total"]
        self._last_warning = -_WARN_EVERY_SECONDS

    def add_sender(self, signal: str, sender: Sender) -> None:
        """Send spooled batches of ``signal`` with ``sender``."""
        self._senders[signal] = sender

    def backing_off(self) -> bool:
        return time.monotonic() < self._next_attempt

    def retry_in(self) -> float:
        """Seconds until the receiver is tried again (0: now)."""
        return max(self._next_attempt - time.monotonic(), 0.0)

    def record(self, outcome: Outcome) -> None:
        """Note the outcome of an attempt (spooled or fresh): reset or extend the backoff."""
        if outcome.delivered or not outcome.retry:  # a refusal: the receiver is up
            self._failures = 0
            self._next_attempt = 0.0
            return
        if outcome.retry_after is not None:
            delay = min(outcome.retry_after, self._max_retry_after)
        else:
            delay = min(self._initial * 2**self._failures, self._max)
            delay *= random.uniform(0.8, 1.2)
        self._failures += 1
        self._next_attempt = time.monotonic() + delay
        self._warn(outcome, delay)

    def run_due(self, budget_seconds: float) -> int:
        """Send spooled batches while due and within ``budget_seconds``; the number sent."""
        if self.backing_off() or not self._senders:
            return 0
        deadline = time.monotonic() + budget_seconds
        sent = 0
        try:
            for claim in self.spool.claims(self._senders):
                if time.monotonic() >= deadline:
                    claim.release()
                    break
                sent += self._send_claimed(claim)
                if self.backing_off():
                    break
        finally:
            self.spool.refresh_gauges()
        return sent

    def _send_claimed(self, claim: Claim) -> int:
        """One attempt at a claimed batch, settled: 1 when delivered."""
        batch = claim.batch
        try:
            outcome = self._senders[batch.signal](batch.body)
        except Exception as exc:  # a sender bug: keep the batch, back off
            outcome = Outcome(False, retry=True, reason=repr(exc))
        if outcome.delivered:
            claim.done()
            self._delivered.labels(signal_label(batch.signal)).inc()
        elif outcome.retry:
            claim.release()
            self._retries.labels(signal_label(batch.signal)).inc()
        else:
            self.spool.reject(claim)
        self.record(outcome)
        return 1 if outcome.delivered else 0

    def _warn(self, outcome: Outcome, delay: float) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_SECONDS:
            self._last_warning = now
            _log.warning(
                "agentwatch: OTLP receiver unavailable (%s): batches wait in the spool %s, "
                "next attempt in %.1f s",
                outcome.reason or "no reason given",
                self.spool.folder,
                delay,
            )
