"""A status page's view, built at most once every ``ttl`` seconds however many ask.

During an outage everyone opens the status page at once; each page view would otherwise
read every monitor's state and 90 days of uptime. Concurrent requests share one build
(single flight, also past ``ttl`` while it runs), and the result serves for ``ttl`` seconds (monotonic clock). Once it
expired, the next visitor starts a new build and, until it is done, visitors are served
the previous result (stale while revalidate: nobody waits for a build of a page that
merely aged, and it is at most ``ttl`` plus one build old). ``clear`` (an incident or a
monitor changed) forgets the results: the next visitors wait for a build, none sees the
page from before the change. A build that fails is not kept, nor the result before it.
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
    previous: asyncio.Future[T] | None  # the last build, done: served while result is not


class ViewCache(Generic[T]):
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, _Entry[T]] = {}

    async def get(self, key: str, build: Callable[[], Awaitable[T]]) -> T:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is None or (entry.result.done() and (entry.expires <= now or _failed(entry))):
            previous = entry.result if entry is not None and not _failed(entry) else None
            entry = _Entry(now + self.ttl, asyncio.ensure_future(build()), previous)
            self._entries[key] = entry
            entry.result.add_done_callback(lambda done: self._forget_failed(key, done))
        if entry.previous is not None and not entry.result.done():
            return entry.previous.result()
        return await asyncio.shield(entry.result)

    def _forget_failed(self, key: str, done: asyncio.Future[T]) -> None:
        if done.cancelled() or done.exception() is not None:
            entry = self._entries.get(key)
            if entry is not None and entry.result is done:
                del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()


def _failed(entry: _Entry[T]) -> bool:
    """Its build is done and failed (about to be forgotten: its callback runs soon)."""
    done = entry.result
    return done.done() and (done.cancelled() or done.exception() is not None)
