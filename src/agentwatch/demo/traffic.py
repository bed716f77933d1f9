"""Traffic for the demo service: workflows, chats, approvals, failures, with a progress bar.

Requests arrive as a Poisson process at ``rate`` per second. The mix: support tickets
(some forced to fail, some slow), refunds waiting for a human approval (an approver
approves most of them after a short delay), research reports with long prompts (cache
reads), synchronous runs, chats (streamed, some abandoned half way), run lookups, and a
few bad requests (unknown workflow, invalid body).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

import httpx

__all__ = ["Progress", "TrafficGenerator"]

_TICKETS = [
    "My order 1042 is delayed, the carrier has not moved it for a week",
    "I was charged twice for my subscription this month",
    "How do I reset my password, the reset e-mail never arrives",
    "The invoice for March is missing from my account",
    "My headphones stopped working after three months, is this under warranty",
]


class Progress:
    """A one-line progress bar on a terminal; periodic plain lines otherwise."""

    def __init__(self, total_seconds: float, stream: TextIO | None = None) -> None:
        self.total = max(total_seconds, 0.001)
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last_line = 0.0

    def update(self, elapsed: float, counts: Counter[str]) -> None:
        share = min(elapsed / self.total, 1.0)
        filled = int(share * 30)
        bar = "#" * filled + "." * (30 - filled)
        text = (
            f"[{bar}] {share:4.0%} {elapsed:5.1f}/{self.total:.0f}s  "
            f"sent {counts['sent']}  2xx {counts['2xx']}  4xx {counts['4xx']}  "
            f"5xx {counts['5xx']}  approvals {counts['approvals']}"
        )
        if self.tty:
            self.stream.write("\r" + text)
            self.stream.flush()
        elif elapsed - self._last_line >= 10 or share >= 1.0:
            self._last_line = elapsed
            self.stream.write(text + "\n")

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


class TrafficGenerator:
    """Sends the demo mix to ``base_url`` for ``duration`` seconds."""

    def __init__(
        self,
        base_url: str,
        *,
        rate: float = 5.0,
        duration: float = 60.0,
        seed: int | None = None,
        on_progress: Callable[[float, Counter[str]], None] | None = None,
    ) -> None:
        self.base_url = base_url
        self.rate = rate
        self.duration = duration
        self.random = random.Random(seed)
        self.on_progress = on_progress
        self.counts: Counter[str] = Counter()
        self.run_ids: list[str] = []
        self._decided: set[str] = set()
        self._decisions: set[asyncio.Task[None]] = set()

    async def run(self, stop: Callable[[], bool] = lambda: False) -> Counter[str]:
        """Send traffic until ``duration`` is over or ``stop()`` says so (Ctrl-C)."""
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60, limits=limits) as client:
            approver = asyncio.create_task(self._approve(client))
            pending: set[asyncio.Task[None]] = set()
            start = time.monotonic()
            next_at = start
            while (now := time.monotonic()) - start < self.duration and not stop():
                if now >= next_at:
                    task = asyncio.create_task(self._one(client))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    next_at += self.random.expovariate(self.rate)
                if self.on_progress is not None:
                    self.on_progress(now - start, self.counts)
                await asyncio.sleep(min(max(next_at - time.monotonic(), 0.0), 0.25))
            if pending and not stop():
                await asyncio.wait(pending, timeout=30)
            for task in (*pending, *self._decisions, approver):
                task.cancel()
            await asyncio.gather(*pending, *self._decisions, approver, return_exceptions=True)
            if self.on_progress is not None:
                self.on_progress(time.monotonic() - start, self.counts)
        return self.counts

    def _ticket(self) -> str:
        text = self.random.choice(_TICKETS)
        draw = self.random.random()
        if draw < 0.02:
            return text + " [fail:500]"  # the LLM fails on every attempt: a failing agent
        if draw < 0.05:
            return text + " [slow]"
        if draw < 0.06:
            return text + " [fail:tool]"
        return text

    async def _one(self, client: httpx.AsyncClient) -> None:
        choice = self.random.random()
        try:
            if choice < 0.33:
                await self._trigger(client, "support_ticket", self._ticket())
            elif choice < 0.47:
                await self._trigger(client, "refund", "Please refund order 1042, it arrived broken")
            elif choice < 0.55:
                await self._trigger(
                    client, "research_report", "Quarterly report on delivery delays"
                )
            elif choice < 0.63:
                await self._trigger(client, "support_ticket", self._ticket(), wait=True)
            elif choice < 0.85:
                await self._chat(client)
            elif choice < 0.94:
                await self._lookup(client)
            else:
                await self._bad(client)
        except httpx.HTTPError:
            self.counts["transport_errors"] += 1

    def _count(self, response: httpx.Response) -> None:
        self.counts["sent"] += 1
        self.counts[f"{response.status_code // 100}xx"] += 1

    async def _trigger(
        self, client: httpx.AsyncClient, name: str, text: str, wait: bool = False
    ) -> None:
        response = await client.post(
            f"/api/workflows/{name}/trigger", json={"input": text, "wait": wait}
        )
        self._count(response)
        if response.status_code in (200, 202):
            self.run_ids.append(response.json()["run_id"])
            self.counts["workflows"] += 1

    async def _chat(self, client: httpx.AsyncClient) -> None:
        body: dict[str, Any] = {
            "message": self.random.choice(_TICKETS),
            "stream": self.random.random() < 0.5,
        }
        if body["stream"] and self.random.random() < 0.4:
            body["max_words"] = self.random.randint(3, 12)
        self._count(await client.post("/api/chat", json=body))
        self.counts["chats"] += 1

    async def _lookup(self, client: httpx.AsyncClient) -> None:
        run_id = self.random.choice(self.run_ids) if self.run_ids else "0" * 32
        self._count(await client.get(f"/api/workflows/runs/{run_id}"))

    async def _bad(self, client: httpx.AsyncClient) -> None:
        if self.random.random() < 0.5:
            response = await client.post("/api/workflows/no_such_flow/trigger", json={"input": "x"})
        else:
            response = await client.post("/api/chat", json={"text": "missing message field"})
        self._count(response)

    async def _approve(self, client: httpx.AsyncClient) -> None:
        while True:
            try:
                response = await client.get("/api/approvals")
                for item in response.json().get("approvals", []):
                    approval_id = item["approval_id"]
                    if approval_id not in self._decided:
                        self._decided.add(approval_id)
                        task = asyncio.create_task(self._decide(client, approval_id))
                        self._decisions.add(task)
                        task.add_done_callback(self._decisions.discard)
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(2.0)

    async def _decide(self, client: httpx.AsyncClient, approval_id: str) -> None:
        await asyncio.sleep(self.random.uniform(0.3, 2.0))
        approve = self.random.random() < 0.85
        try:
            response = await client.post(
                f"/api/approvals/{approval_id}/decision", json={"approve": approve}
            )
        except httpx.HTTPError:
            return
        if response.status_code == 200:
            self.counts["approvals"] += 1
