"""What a part of the hub is, and the list of them.

A part (monitors, status, alerts, traces) is a module ``agentwatch.hub.<name>`` with a
``PART`` of type :class:`PartSpec`: the top-level keys of ``hub.yaml`` it reads, a parser of
those keys, a builder of the running :class:`Part`, and optionally its ``agentwatch hub``
subcommands. The core loads the parts listed in :data:`PARTS` in that order (later parts
may subscribe to events of earlier ones).
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from prometheus_client import CollectorRegistry
from starlette.routing import BaseRoute

if TYPE_CHECKING:
    import httpx

    from .config import Node, Secret
    from .events import Events
    from .store import Database
    from .web.auth import Auth
    from .web.render import Templates

__all__ = [
    "PARTS",
    "DayUptime",
    "HubContext",
    "MaintenanceCalendar",
    "MonitorDirectory",
    "MonitorState",
    "Part",
    "PartSpec",
    "load_parts",
]

PARTS: tuple[str, ...] = ("monitors", "status", "alerts", "traces")


class MaintenanceCalendar(Protocol):
    """Which maintenance window, if any, holds what carries these labels at ``at``.

    The monitors part owns maintenance windows (YAML or ``agentwatch hub maintenance``) and
    sets ``HubContext.maintenance``; the alerts part asks it before notifying. A monitor's
    own alerts carry the label ``monitor=<name>``.
    """

    def active_for(self, labels: Mapping[str, str], at: float) -> str | None:
        """The name of the window in force for ``labels`` at ``at``, else None."""
        ...


@dataclass(frozen=True, slots=True)
class MonitorState:
    """A monitor as the status part shows it."""

    name: str
    type: str
    status: str  # up | degraded | down | pending | paused | maintenance
    last_check: float | None  # unix seconds
    latency_ms: float | None
    message: str = ""
    cause: str | None = None  # the depends_on parent that is down
    trace_id: str | None = None  # of the last failed probe
    description: str = ""


class DayUptime(NamedTuple):
    """One day (UTC) of a monitor's uptime: ``None`` when nothing was checked that day.

    A named tuple, not a dataclass: a status page of 1,000 monitors hashes 90,000 of them
    per build (the bars' memo in ``status/view.py``), and a tuple hashes in C."""

    day: str  # YYYY-MM-DD
    uptime: float | None  # 0..1, maintenance excluded
    down_seconds: float = 0.0
    maintenance_seconds: float = 0.0


class MonitorDirectory(Protocol):
    """What the status part reads of the monitors part (``HubContext.monitors``)."""

    async def states(self, names: Sequence[str] | None = None) -> list[MonitorState]:
        """Current state of the named monitors (all when None), in the order asked."""
        ...

    async def daily_uptime(self, names: Sequence[str], days: int) -> dict[str, list[DayUptime]]:
        """The last ``days`` days of each monitor, oldest first, today last."""
        ...


class NoMonitors:
    async def states(self, names: Sequence[str] | None = None) -> list[MonitorState]:
        return []

    async def daily_uptime(self, names: Sequence[str], days: int) -> dict[str, list[DayUptime]]:
        return {name: [] for name in names}


class NoMaintenance:
    def active_for(self, labels: Mapping[str, str], at: float) -> str | None:
        return None


class Part(Protocol):
    """A running part: its routes and its background work."""

    def routes(self) -> Sequence[BaseRoute]:
        """Starlette routes, mounted at the root (paths start with ``/api/v1/...`` etc)."""
        ...

    async def start(self) -> None:
        """Start background tasks (the database is migrated before)."""
        ...

    async def stop(self) -> None:
        """Stop background tasks; return within a few seconds."""
        ...

    async def reload(self, config: Any) -> None:
        """Apply a new parsed config of this part (SIGHUP or ``POST /api/v1/reload``)."""
        ...


@dataclass(frozen=True)
class PartSpec:
    """How the core finds, configures and builds a part."""

    name: str
    keys: tuple[str, ...]  # top-level keys of hub.yaml this part reads
    parse: Callable[[Node], Any]  # reads its keys from the root Node (records problems there)
    build: Callable[[HubContext, Any], Part]
    register_cli: Callable[[Any], None] | None = None  # adds subcommands to `agentwatch hub`
    nav: tuple[tuple[str, str], ...] = ()  # (label, path) links in the page header


@dataclass
class HubContext:
    """What every part is given; everything a test may want to replace is a field."""

    db: Database
    events: Events
    registry: CollectorRegistry
    http: httpx.AsyncClient
    auth: Auth
    templates: Templates
    public_url: str  # base of the links in notifications, e.g. "http://127.0.0.1:9800"
    state_dir: Path
    config_file: Path | None = None
    api_token: Secret | None = None
    clock: Callable[[], float] = time.time
    environ: Mapping[str, str] = field(default_factory=dict)
    maintenance: MaintenanceCalendar = field(default_factory=NoMaintenance)
    monitors: MonitorDirectory = field(default_factory=NoMonitors)


def load_parts(names: Sequence[str] = PARTS) -> list[PartSpec]:
    """The PartSpec of every part that is installed, in order."""
    specs = []
    for name in names:
        module_name = f"agentwatch.hub.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        specs.append(importlib.import_module(module_name).PART)
    return specs
