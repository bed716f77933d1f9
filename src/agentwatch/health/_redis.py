"""Redis checks: ``PING`` with memory and clients as detail, and list / stream length.

>>> health.register("redis", RedisCheck("redis://127.0.0.1:6379/0"))
>>> health.register("jobs", RedisQueueDepthCheck(redis_client, "jobs", warn_at=500))

A URL opens a fresh connection per check (closed afterwards), so the check works from any
event loop; a ``redis.asyncio.Redis`` client is used as is; a sync ``redis.Redis`` client
runs in a worker thread. Needs ``pip install 'agentwatch[redis]'``.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

from ._queue import QueueDepthCheck
from .base import BaseCheck, CheckResult, Status

__all__ = ["RedisCheck", "RedisQueueDepthCheck"]

Command = tuple[str, ...]


async def _execute(
    owner: BaseCheck, target: Any, timeout: float, commands: list[Command]
) -> list[Any]:
    """Results of ``commands`` sent in order to a URL, an async client or a sync client."""
    if isinstance(target, str):
        try:
            from redis.asyncio import Redis
        except ImportError as exc:  # pragma: no cover - the extra is installed in dev
            raise RuntimeError("Redis checks need pip install 'agentwatch[redis]'") from exc
        client: Any = Redis.from_url(target, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return [await client.execute_command(*command) for command in commands]
        finally:
            await client.aclose()
    if inspect.iscoroutinefunction(getattr(target, "execute_command", None)):
        return [await target.execute_command(*command) for command in commands]
    return await owner.in_thread(lambda: [target.execute_command(*c) for c in commands])


class RedisCheck(BaseCheck):
    """``PING`` round trip (``redis:responseTime`` in ms); memory and clients as details.

    Warns when ``maxmemory`` is set and used memory passes ``warn_memory_percent``.
    """

    component_type = "datastore"

    def __init__(
        self, target: Any, *, socket_timeout: float = 5.0, warn_memory_percent: float = 90.0
    ) -> None:
        super().__init__()
        self.target = target
        self.socket_timeout = socket_timeout
        self.warn_memory_percent = warn_memory_percent

    async def check(self) -> CheckResult:
        start = time.perf_counter()
        commands: list[Command] = [("PING",), ("INFO", "memory"), ("INFO", "clients")]
        _, memory, clients = await _execute(self, self.target, self.socket_timeout, commands)
        round_trip_ms = round((time.perf_counter() - start) * 1000.0, 3)
        used, limit = int(memory.get("used_memory", 0)), int(memory.get("maxmemory", 0) or 0)
        details = {
            "used_memory_bytes": used,
            "used_memory_human": memory.get("used_memory_human"),
            "maxmemory_bytes": limit,
            "connected_clients": clients.get("connected_clients"),
        }
        status: Status = "pass"
        output = ""
        if limit and 100.0 * used / limit >= self.warn_memory_percent:
            status, output = "warn", f"memory {100.0 * used / limit:.1f}% of maxmemory"
        return CheckResult(status, round_trip_ms, "ms", "datastore", output, details)


class RedisQueueDepthCheck(QueueDepthCheck):
    """Queue depth of a Redis list (``LLEN``) or stream (``XLEN``); ``kind="auto"`` asks TYPE."""

    def __init__(
        self,
        target: Any,
        key: str,
        *,
        kind: str = "auto",
        warn_at: float | None = None,
        fail_at: float | None = None,
        socket_timeout: float = 5.0,
    ) -> None:
        super().__init__(warn_at=warn_at, fail_at=fail_at)
        if kind not in ("auto", "list", "stream"):
            raise ValueError(f"kind must be auto, list or stream, not {kind!r}")
        self.target = target
        self.key = key
        self.kind = kind
        self.socket_timeout = socket_timeout

    async def read_depth(self) -> int:
        kind = self.kind
        if kind == "auto":
            (found,) = await _execute(self, self.target, self.socket_timeout, [("TYPE", self.key)])
            kind = found.decode() if isinstance(found, bytes) else str(found)
        command = "XLEN" if kind == "stream" else "LLEN"  # a missing key ("none") is empty
        (depth,) = await _execute(self, self.target, self.socket_timeout, [(command, self.key)])
        return int(depth)
