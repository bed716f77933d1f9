"""The store's one writer: a thread that commits queued batches together (group commit).

The intake hands a decoded batch to :meth:`TraceWriter.submit` and answers the sender only
when the batch is committed, so an accepted span is a stored span. Batches that arrive
while a commit runs are written together by the next one, which keeps up with many
senders. The queue is bounded by spans: when it is full, ``submit`` says so at once and the
intake answers 429 with ``Retry-After`` (the sender keeps the batch and retries) instead of
letting memory grow or dropping anything. Retention and the size limit are applied by the
same thread between commits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import NamedTuple

from .otlp import Batch
from .store import Evicted, TraceStore

__all__ = ["TraceWriter", "WriterLimits"]

_log = logging.getLogger("agentwatch.hub.traces")


class WriterLimits(NamedTuple):
    max_queued_rows: int = 200_000  # spans and log records waiting for a commit
    max_rows_per_commit: int = 20_000
    maintenance_seconds: float = 10.0  # how often retention and the size limit are applied
    retention_seconds: float = 86_400.0
    max_bytes: int = 1 << 30


class _Job(NamedTuple):
    batch: Batch
    rows: int
    done: Future[None]


class TraceWriter:
    """Owns every write to a TraceStore."""

    def __init__(
        self,
        store: TraceStore,
        limits: WriterLimits,
        *,
        on_commit: Callable[[int, int, float], None] = lambda spans, logs, seconds: None,
        on_evicted: Callable[[Evicted], None] = lambda evicted: None,
        clock: Callable[[], float] = time.time,  # the wall clock retention is measured by
    ) -> None:
        self.store = store
        self.limits = limits
        self._on_commit = on_commit
        self._on_evicted = on_evicted
        self._clock = clock
        self._jobs: deque[_Job] = deque()
        self._queued_rows = 0
        self._committing_rows = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._next_maintenance = 0.0
        self._thread = threading.Thread(target=self._run, name="agentwatch-hub-traces", daemon=True)

    @property
    def queued_rows(self) -> int:
        return self._queued_rows

    @property
    def committing_rows(self) -> int:
        """Rows of the commit running now (stays up while the store is slow or locked)."""
        return self._committing_rows

    def start(self) -> None:
        self._thread.start()

    def submit(self, batch: Batch) -> Future[None] | None:
        """A future resolved when ``batch`` is committed; None when the queue is full."""
        rows = len(batch.spans) + len(batch.logs)
        done: Future[None] = Future()
        with self._cond:
            if self._stopping:
                return None
            # an empty queue takes any batch, so one larger than the bound still gets in
            if self._jobs and self._queued_rows + rows > self.limits.max_queued_rows:
                return None
            self._jobs.append(_Job(batch, rows, done))
            self._queued_rows += rows
            self._cond.notify()
        return done

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is queued (within ``timeout``), then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _take(self) -> list[_Job]:
        with self._cond:
            while not self._jobs and not self._stopping:
                wait = self._next_maintenance - time.monotonic()
                if wait <= 0:
                    return []
                self._cond.wait(min(wait, 1.0))
            taken: list[_Job] = []
            rows = 0
            while self._jobs and (
                not taken or rows + self._jobs[0].rows <= self.limits.max_rows_per_commit
            ):
                job = self._jobs.popleft()
                taken.append(job)
                rows += job.rows
            self._queued_rows -= rows
            self._committing_rows = rows
            return taken

    def _run(self) -> None:
        while True:
            jobs = self._take()
            if jobs:
                self._commit(jobs)
                self._committing_rows = 0
            elif self._stopping:
                return
            if time.monotonic() >= self._next_maintenance:
                self._maintain()

    def _commit(self, jobs: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            self.store.write([job.batch for job in jobs])
        except Exception as exc:  # answered to each sender as 503: they keep and resend
            _log.exception("trace store write failed")
            for job in jobs:
                job.done.set_exception(exc)
            return
        spans = sum(len(job.batch.spans) for job in jobs)
        logs = sum(len(job.batch.logs) for job in jobs)
        self._on_commit(spans, logs, time.perf_counter() - started)
        for job in jobs:
            job.done.set_result(None)

    def _maintain(self) -> None:
        self._next_maintenance = time.monotonic() + self.limits.maintenance_seconds
        try:
            evicted = self.store.maintain(
                int(self._clock() * 1e9),
                int(self.limits.retention_seconds * 1e9),
                self.limits.max_bytes,
            )
        except Exception:  # the next pass tries again; intake goes on meanwhile
            _log.exception("trace store maintenance failed")
            return
        if evicted:
            self._on_evicted(evicted)
