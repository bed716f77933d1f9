"""Monitors (hub part 1): uptime checks of a service, its database, cache and external APIs.

Types http, health (``application/health+json``), tcp, postgres, redis, dns and push
(heartbeats); ``down_after``/``up_after`` against flapping, ``depends_on`` naming the
cause, maintenance windows, W3C ``traceparent`` on every HTTP probe. Results are kept raw
for 7 days, rolled up by hour (90 days) and day (400 days). Several hubs on one Postgres
split the checks by lease. See ``docs/hub-monitors.md``.

Modules: config (the ``monitors``/``maintenance``/``monitoring`` keys), cron, probes,
status (no flapping), tables and store, scheduler, maintenance (the calendar), views, api
(with the ``/`` page and badges), badge, metrics, part, cli.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..parts import PartSpec

if TYPE_CHECKING:
    from ..config import Node
    from ..parts import HubContext, Part

__all__ = ["PART"]


def _parse(node: Node) -> Any:
    from .config import parse_monitors_config

    return parse_monitors_config(node)


def _build(ctx: HubContext, config: Any) -> Part:
    from .part import MonitorsPart

    return MonitorsPart(ctx, config)


def _register_cli(commands: Any) -> None:
    from .cli import register

    register(commands)


PART = PartSpec(
    name="monitors",
    keys=("monitors", "maintenance", "monitoring"),
    parse=_parse,
    build=_build,
    register_cli=_register_cli,
    nav=(("Monitors", "/"),),
)
