"""A loop's sleep that another task can cut short."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["Wakeup"]


class Wakeup:
    """``await wakeup.sleep(1.0)`` returns after a second, or as soon as ``set()`` is called.

    (``asyncio.timeout`` rather than ``asyncio.wait_for``: on Python 3.11 the latter can
    swallow a cancellation that arrives as the event is set, and the loop never stops.)
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def sleep(self, delay: float) -> None:
        if delay <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._event.wait()
        self._event.clear()
