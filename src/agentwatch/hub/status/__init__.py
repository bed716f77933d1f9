"""Status pages and incidents (hub part 1, with the monitors part).

Owns: the ``status_pages:`` section of hub.yaml (settings), the pages ``/status`` and
``/status/{slug}`` (server-rendered, no external assets, readable without JavaScript,
refreshing themselves) and their JSON twin ``/api/v1/status/{slug}``, and incidents: their
tables and migrations, opened and resolved automatically as the monitors on a page go down
and recover (automatic, a ``MonitorChange`` subscriber), and by hand through
``/api/v1/incidents`` and ``agentwatch hub incident open|update|resolve|list``. Every change
of an incident is published as an ``IncidentChange`` (the alerts part notifies it).

Flow: settings → part; MonitorChange → automatic → incidents (tables); api/pages → view
(monitors through ``HubContext.monitors``, incidents) → templates.

May import: the hub's core (config, parts, events, web), SQLAlchemy, Starlette, httpx (cli).
It reads the monitors part only through the ``MonitorDirectory`` contract of ``hub.parts``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..parts import PartSpec

if TYPE_CHECKING:
    from ..config import Node
    from ..parts import HubContext, Part

__all__ = ["PART"]


def _parse(node: Node) -> Any:
    from .settings import parse

    return parse(node)


def _build(ctx: HubContext, config: Any) -> Part:
    from .part import build

    return build(ctx, config)


def _register_cli(commands: Any) -> None:
    from .cli import register

    register(commands)


PART = PartSpec(
    name="status",
    keys=("status_pages",),
    parse=_parse,
    build=_build,
    register_cli=_register_cli,
    nav=(("Status pages", "/status"),),
)
