"""The health check contract.

A check is any object with an async ``check()`` returning a :class:`CheckResult`::

    class QueueConsumerCheck:
        async def check(self) -> CheckResult:
            lag = await consumer.lag()
            return CheckResult("warn" if lag > 100 else "pass", lag, "messages", "component")

The registry times the call, applies the timeout, caches the result and turns an exception
into a ``fail`` whose output is the (redacted) error text, so a check may simply raise.
A check may also carry ``critical = True`` (readiness gates do) to change the default of
``HealthRegistry.register(critical=...)``.

:class:`BaseCheck` is a tiny optional base: it runs blocking client calls in a thread,
one at a time, so a hung dependency holds at most one thread however often it is probed.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

__all__ = [
    "STATUS_VALUES",
    "BaseCheck",
    "CheckResult",
    "HealthCheck",
    "Status",
    "call_maybe_async",
    "status_for",
]

Status = Literal["pass", "warn", "fail"]
STATUS_VALUES: dict[str, float] = {"pass": 1.0, "warn": 0.5, "fail": 0.0}
T = TypeVar("T")


@dataclass(frozen=True)
class CheckResult:
    """What one check observed.

    ``status``: pass | warn | fail. ``observed_value`` / ``observed_unit``: the measurement
    (None: the registry reports the check's latency in ms). ``measurement`` names it in the
    health+json key ``component:measurement`` (draft names: responseTime, utilization,
    connections, uptime). ``component_type``: component | datastore | system | a URI.
    ``output``: a short message, shown for warn and fail. ``details``: extra values shown
    to callers allowed to see details (``/health/full`` with the token).
    """

    status: Status
    observed_value: Any = None
    observed_unit: str | None = None
    component_type: str = "component"
    output: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    measurement: str = "responseTime"

    def __post_init__(self) -> None:
        if self.status not in STATUS_VALUES:
            raise ValueError(f"status must be pass, warn or fail, not {self.status!r}")


@runtime_checkable
class HealthCheck(Protocol):
    """Anything with ``async check() -> CheckResult``."""

    async def check(self) -> CheckResult: ...


def status_for(value: float, warn_at: float | None, fail_at: float | None) -> Status:
    """``fail`` at or above ``fail_at``, ``warn`` at or above ``warn_at``, else ``pass``.

    For "lower is worse" values (free disk) pass the negated value and thresholds.
    """
    if fail_at is not None and value >= fail_at:
        return "fail"
    if warn_at is not None and value >= warn_at:
        return "warn"
    return "pass"


async def call_maybe_async(fn: Callable[[], Any]) -> Any:
    """Call ``fn``; await its result when it is awaitable (sync or async callables)."""
    result = fn()
    if inspect.isawaitable(result):
        return await result
    return result


class BaseCheck:
    """Optional base class: defaults plus :meth:`in_thread` for blocking client calls."""

    component_type = "component"
    critical = False

    def __init__(self) -> None:
        self._busy = threading.Lock()

    async def check(self) -> CheckResult:  # pragma: no cover - the contract
        raise NotImplementedError

    async def in_thread(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a worker thread; refuse while a previous call is still stuck.

        A thread cannot be cancelled: when a call outlives its timeout the thread keeps
        running until the client's own timeout. Refusing a second call keeps a hung
        dependency from piling up threads.
        """
        if not self._busy.acquire(blocking=False):
            raise TimeoutError("previous check still running (dependency hung)")

        def run() -> T:
            try:
                return fn()
            finally:
                self._busy.release()

        return await asyncio.to_thread(run)
