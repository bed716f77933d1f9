"""Runtime pack: process and GC collectors, and the asyncio event-loop lag probe.

The probe sleeps ``interval`` seconds on the application's loop and measures how late it
woke up: that delay is how long any ready callback waited, i.e. the loop lag a request
would have seen. It records the last value and the worst in the last minute.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)

from .._state import report_internal_error
from .registry import Metrics

__all__ = ["LoopLagProbe", "register_runtime_collectors"]


def register_runtime_collectors(registry: CollectorRegistry) -> list[object]:
    """Process, GC and platform collectors on a registry that lacks them (the global has them)."""
    if registry is REGISTRY:
        return []
    return [
        ProcessCollector(registry=registry),
        GCCollector(registry=registry),
        PlatformCollector(registry=registry),
    ]


class LoopLagProbe:
    """Measures event-loop lag from inside the loop it watches."""

    def __init__(self, metrics: Metrics, interval_seconds: float = 0.5, window: int = 120) -> None:
        self._interval = interval_seconds
        self._lag = metrics["asyncio_event_loop_lag_seconds"].labels()
        self._lag_max = metrics["asyncio_event_loop_lag_max_seconds"].labels()
        self._tasks = metrics["asyncio_tasks"].labels()
        self._recent: deque[float] = deque(maxlen=window)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start on the running loop; a second call while running does nothing."""
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="agentwatch-loop-lag")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self._interval)
            try:
                self.observe(max(0.0, loop.time() - before - self._interval))
                self._tasks.set(len(asyncio.all_tasks(loop)))
            except Exception as exc:
                report_internal_error("loop_lag", exc)

    def observe(self, lag: float) -> None:
        self._recent.append(lag)
        self._lag.set(lag)
        self._lag_max.set(max(self._recent))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await task
