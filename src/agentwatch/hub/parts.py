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
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry
from starlette.routing import BaseRoute

if TYPE_CHECKING:
    import httpx

    from .config import Node, Secret
    from .events import Events
    from .store import Database
    from .web.auth import Auth
    from .web.render import Templates

__all__ = ["PARTS", "HubContext", "MaintenanceCalendar", "Part", "PartSpec", "load_parts"]

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


def load_parts(names: Sequence[str] = PARTS) -> list[PartSpec]:
    """The PartSpec of every part that is installed, in order."""
    specs = []
    for name in names:
        module_name = f"agentwatch.hub.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        specs.append(importlib.import_module(module_name).PART)
    return specs
