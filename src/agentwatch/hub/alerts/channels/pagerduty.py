"""PagerDuty: Events API v2, trigger, acknowledge and resolve with ``dedup_key``.

``{name: pager, type: pagerduty, routing_key_file: /run/secrets/pd_key}``. The ``dedup_key``
is the alert group's fingerprint (one incident per group, as Alertmanager does; with
``group_by: ['...']`` that is the alert's own fingerprint), so a repeat of a trigger or a
resolve lands on the same incident. ``severity`` comes from the alert's ``severity`` label
(critical, error, warning, info; anything else is sent as ``error``). Default rate limit:
120 events a minute, PagerDuty's per routing key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from ...config import Node, Secret
from ..message import ACKNOWLEDGED, Notification, iso, link_labels
from ..model import FIRING
from .base import ChannelConfig, post

__all__ = ["DEFAULT_RATE", "EVENTS_URL", "PagerDutyChannel", "PagerDutyOptions", "event", "parse"]

DEFAULT_RATE = 2.0
EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
KEYS = ("routing_key", "routing_key_file", "url", "source")
SEVERITIES = ("critical", "error", "warning", "info")


@dataclass(frozen=True)
class PagerDutyOptions:
    routing_key: Secret | None
    url: str = EVENTS_URL
    source: str = ""


def parse(node: Node) -> PagerDutyOptions:
    return PagerDutyOptions(
        routing_key=node.secret("routing_key", required=True),
        url=node.text("url", EVENTS_URL),
        source=node.text("source", ""),
    )


def _details(notification: Notification) -> dict[str, Any]:
    return {
        "firing": [a.summary for a in notification.firing],
        "resolved": [a.summary for a in notification.resolved],
        "alerts": [
            {
                "fingerprint": a.fingerprint,
                "status": a.status,
                "labels": a.labels,
                "annotations": a.annotations,
                "trace_id": a.trace_id,
                "held": list(a.held),
            }
            for a in notification.alerts[:50]
        ],
        "idempotency_key": notification.key,
    }


def event(notification: Notification, routing_key: str, source: str = "") -> dict[str, Any]:
    """The Events API v2 body for ``notification``."""
    action = {FIRING: "trigger", ACKNOWLEDGED: "acknowledge"}.get(notification.status, "resolve")
    if action == "trigger" and not notification.firing:
        action = "resolve"
    out: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": notification.group_fingerprint,
    }
    if action != "trigger":
        return out
    first = notification.firing[0]
    severity = notification.severity if notification.severity in SEVERITIES else "error"
    service = first.service or notification.group_labels.get("service", "")
    out["payload"] = {
        "summary": notification.title[:1024],
        "source": source or service or "agentwatch hub",
        "severity": severity,
        "timestamp": iso(first.starts_at),
        "component": service or None,
        "group": first.labels.get("alertname"),
        "class": first.labels.get("alertname"),
        "custom_details": _details(notification),
    }
    seen: dict[str, str] = {}
    for alert in notification.firing:
        for words, url in link_labels(alert.links):
            seen.setdefault(url, words)
    out["links"] = [{"href": url, "text": words} for url, words in list(seen.items())[:10]]
    out["client"] = "agentwatch hub"
    out["client_url"] = notification.hub_url
    return out


class PagerDutyChannel:
    def __init__(self, config: ChannelConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.options: PagerDutyOptions = config.options
        self._http = http

    async def send(self, notification: Notification) -> None:
        assert self.options.routing_key is not None
        body = event(notification, self.options.routing_key.reveal(), self.options.source)
        await post(
            self._http,
            self.options.url,
            f"pagerduty channel {self.config.name}",
            body=json.dumps(body).encode(),
            headers={"X-Agentwatch-Idempotency-Key": notification.key},
        )
