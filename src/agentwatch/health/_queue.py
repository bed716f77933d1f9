"""Queue depth: warn and fail thresholds over a depth read from any callable.

>>> health.register("jobs", QueueDepthCheck(lambda: queue.qsize(), warn_at=100, fail_at=1000))

For a Redis list or stream use :class:`~agentwatch.health.RedisQueueDepthCheck`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import BaseCheck, CheckResult, call_maybe_async, status_for

__all__ = ["QueueDepthCheck"]


class QueueDepthCheck(BaseCheck):
    """Observed value: messages waiting (``name:depth``); warn / fail at the thresholds."""

    def __init__(
        self,
        depth: Callable[[], Any] | None = None,
        *,
        warn_at: float | None = None,
        fail_at: float | None = None,
    ) -> None:
        super().__init__()
        self._depth = depth
        self.warn_at = warn_at
        self.fail_at = fail_at

    async def read_depth(self) -> int:
        """The current depth; subclasses override (the Redis one sends LLEN / XLEN)."""
        if self._depth is None:
            raise TypeError("QueueDepthCheck needs a depth callable")
        return int(await call_maybe_async(self._depth))

    async def check(self) -> CheckResult:
        depth = await self.read_depth()
        status = status_for(depth, self.warn_at, self.fail_at)
        limit = self.fail_at if status == "fail" else self.warn_at
        output = f"{depth} messages waiting (threshold {limit:g})" if status != "pass" else ""
        details = {"warn_at": self.warn_at, "fail_at": self.fail_at}
        return CheckResult(status, depth, "messages", self.component_type, output, details, "depth")
