"""A status page's view, built at most once every ``ttl`` seconds however many ask.

During an outage everyone opens the status page at once; each page view would otherwise
read every monitor's state and 90 days of uptime. Concurrent requests share one build
(single flight), and the result serves for ``ttl`` seconds (monotonic clock), or until an
incident or a monitor changes (``clear``). A build that fails is not kept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, NamedTuple, TypeVar

__all__ = ["ViewCache"]

T = TypeVar("T")


class _Entry(NamedTuple, Generic[T]):
    expires: float
    result: asyncio.Future[T]


class ViewCache(Generic[T]):
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, _Entry[T]] = {}

    async def get(self, key: str, build: Callable[[], Awaitable[T]]) -> T:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is None or entry.expires <= now:
            entry = _Entry(now + self.ttl, asyncio.ensure_future(build()))
            self._entries[key] = entry
            entry.result.add_done_callback(lambda done: self._forget_failed(key, done))
        return await asyncio.shield(entry.result)

    def _forget_failed(self, key: str, done: asyncio.Future[T]) -> None:
        if done.cancelled() or done.exception() is not None:
            entry = self._entries.get(key)
            if entry is not None and entry.result is done:
                del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()
