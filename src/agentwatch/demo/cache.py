"""The demo's cache: Redis when ``REDIS_URL`` is set, else a small in-process dict.

With Redis, ``init(instrument_redis=True)`` records the cache pack. The in-process cache
records the same metrics itself through ``agentwatch.metric`` — the way an application
adds catalog metrics for a component agentwatch does not instrument.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple, Protocol

import agentwatch

__all__ = ["Cache", "MemoryCache", "RedisCache", "open_cache"]


class Cache(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl_seconds: int) -> None: ...

    async def close(self) -> None: ...


class _Item(NamedTuple):
    expires: float  # time.monotonic() after which the value is gone
    value: str


class MemoryCache:
    """A dict with expiry, counting hits and misses in the cache pack."""

    def __init__(self) -> None:
        self._items: dict[str, _Item] = {}

    def _record(self, operation: str, result: str, started: float) -> None:
        agentwatch.metric("cache_operations_total").labels("memory", operation, result).inc()
        agentwatch.metric("cache_operation_duration_seconds").labels("memory", operation).observe(
            time.perf_counter() - started
        )

    async def get(self, key: str) -> str | None:
        started = time.perf_counter()
        item = self._items.get(key)
        if item is not None and item.expires < time.monotonic():
            del self._items[key]
            item = None
        self._record("get", "hit" if item else "miss", started)
        return item.value if item else None

    async def set(self, key: str, value: str, ttl_seconds: int) -> None:
        started = time.perf_counter()
        if len(self._items) > 10_000:
            self._items.clear()
        self._items[key] = _Item(time.monotonic() + ttl_seconds, value)
        self._record("set", "ok", started)

    async def close(self) -> None:
        self._items.clear()


class RedisCache:
    """redis.asyncio; the cache pack comes from ``init(instrument_redis=True)``."""

    def __init__(self, url: str) -> None:
        import redis.asyncio

        self._client: Any = redis.asyncio.from_url(url, decode_responses=True)

    async def get(self, key: str) -> str | None:
        value = await self._client.get(key)
        return None if value is None else str(value)

    async def set(self, key: str, value: str, ttl_seconds: int) -> None:
        await self._client.set(key, value, ex=ttl_seconds)

    async def close(self) -> None:
        await self._client.aclose()


def open_cache(redis_url: str | None) -> Cache:
    return RedisCache(redis_url) if redis_url else MemoryCache()
