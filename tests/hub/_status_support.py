"""What the status part's tests share: a target server the test switches to failing, and
waiting for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from agentwatch.demo.serving import BackgroundServer


class Target:
    """A real HTTP server on 127.0.0.1 answering ``status`` (200 until the test says 503).

    >>> with Target() as target:          # doctest: +SKIP
    ...     target.status = 503
    """

    def __init__(self) -> None:
        self.status = 200
        self.hits = 0
        self._server = BackgroundServer(Starlette(routes=[Route("/", self._answer)]))

    async def _answer(self, _request: Request) -> Response:
        self.hits += 1
        return PlainTextResponse("ok" if self.status < 400 else "failing", self.status)

    @property
    def url(self) -> str:
        return f"{self._server.url}/"

    def __enter__(self) -> Target:
        self._server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stop()


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 30.0, what: str = "condition"
) -> None:
    """Poll ``check`` until true; fail naming ``what`` after ``timeout`` (not a timed assertion:
    the deadline only keeps a broken hub from hanging the suite)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout} s")
        await asyncio.sleep(0.05)
