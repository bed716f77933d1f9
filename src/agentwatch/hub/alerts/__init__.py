"""Alerts (hub part 2): intake, routing and grouping, the durable outbox and its channels.

Alerts arrive from Alertmanager (``/api/v1/alerts/alertmanager``, bearer token), Grafana
(``/api/v1/alerts/grafana``, HMAC), anything else (``/api/v1/alerts``), and as events from
the monitors and status parts. Each is stored with its group's timer in the transaction
that accepts it; the dispatcher flushes due groups into outbox rows with Alertmanager's
grouping, dedup and repeat semantics; the sender delivers rows through the channels
(Slack, PagerDuty, e-mail, Discord, webhook, Apprise) with retries, ``Retry-After``, rate
limits, storm summaries and a dead letter. See ``docs/hub-alerts.md``.

Modules: config (``intake``, ``notifications``), payloads (intake bodies), intake (the
endpoints), store (accepting), routing, matchers, muting (silences, inhibition,
maintenance, depends_on), flush (a group's news as outbox rows), dispatcher (group timers),
outbox and claims (rows, leases, coalescing), sender, acks, silences, changes (monitor and
incident events), api, cli, metrics, message (what a notification says), signature
(webhook signatures; standard library only), channels/.

May import: the hub's core (config, store, web, events, parts), SQLAlchemy, httpx,
Starlette, prometheus_client, the standard library; ``apprise`` lazily. Importing this
package needs none of the hub extra: :func:`verify_signature` works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..parts import PartSpec
from .signature import SIGNATURE_HEADER, sign, signature_header, verify_signature

if TYPE_CHECKING:
    from ..config import Node
    from ..parts import HubContext, Part

__all__ = ["PART", "SIGNATURE_HEADER", "sign", "signature_header", "verify_signature"]


def _parse(node: Node) -> Any:
    from .config import parse_alerts_config

    return parse_alerts_config(node)


def _build(ctx: HubContext, config: Any) -> Part:
    from .part import AlertsPart

    return AlertsPart(ctx, config)


def _register_cli(commands: Any) -> None:
    from .cli import register

    register(commands)


PART = PartSpec(
    name="alerts",
    keys=("intake", "notifications"),
    parse=_parse,
    build=_build,
    register_cli=_register_cli,
    nav=(("Alerts", "/alerts"),),
)
