"""What the hub's parts tell each other, inside the writer's transaction.

A part that changes state publishes an event on the connection of the transaction that
records the change; every subscriber runs in that same transaction. So a monitor going
down and the alert (and outbox rows) it causes are committed together or not at all::

    async with ctx.db.write() as conn:
        await conn.execute(...)                       # the monitor's new state
        await ctx.events.publish(conn, MonitorChange(...))

A subscriber that raises rolls the whole transaction back; the publisher retries later.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["Events", "IncidentChange", "MonitorChange"]

E = TypeVar("E")
Handler = Callable[[AsyncConnection, Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class MonitorChange:
    """A monitor's status changed (after ``down_after`` / ``up_after`` were met)."""

    monitor: str
    previous: str  # up | degraded | down | pending | paused | maintenance
    status: str  # the same, or removed (the monitor was deleted while down or degraded)
    at: float  # unix seconds
    message: str = ""  # what the check saw, e.g. "HTTP 503 from http://127.0.0.1:8000/"
    monitor_type: str = ""
    target: str = ""  # URL or host:port, never a secret
    trace_id: str | None = None  # the W3C trace id the failing probe sent
    cause: str | None = None  # the depends_on parent that is down, if any
    labels: Mapping[str, str] = field(
        default_factory=dict
    )  # the monitor's labels (severity, service...)
    pages: tuple[str, ...] = ()  # slugs of the status pages that show the monitor


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """An incident was opened, updated or resolved."""

    incident_id: int
    title: str
    status: str  # investigating | identified | monitoring | resolved
    message: str
    at: float
    impact: str = "major"  # none | minor | major | critical
    monitors: tuple[str, ...] = ()
    pages: tuple[str, ...] = ()
    url: str = ""  # the status page that shows it


class Events:
    """Subscribers by event type; ``publish`` awaits each in subscription order."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = {}

    def subscribe(
        self, kind: type[E], handler: Callable[[AsyncConnection, E], Awaitable[None]]
    ) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    async def publish(self, conn: AsyncConnection, event: object) -> None:
        for handler in self._handlers.get(type(event), ()):
            await handler(conn, event)
