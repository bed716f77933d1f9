"""A webhook: JSON, signed, with an idempotency key.

``{name: notifier, type: webhook, url: "http://127.0.0.1:8000/hooks/alerts",
secret_file: /run/secrets/hook}``. Every request carries ``X-Agentwatch-Idempotency-Key``
(also as ``Idempotency-Key``): a receiver that stores it drops the one repeat a hub crash
between sending and recording can cause. With a secret, ``X-Agentwatch-Signature:
t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`` (see :mod:`agentwatch.hub.alerts.signature`).

``format: agentwatch`` (default) sends the hub's own shape; ``format: alertmanager`` sends
Alertmanager's webhook version 4, for receivers written for Alertmanager; ``format:
grafana`` sends the body of Grafana's webhook contact point (version 1: Alertmanager's
fields plus ``orgId``, ``title``, ``state`` and ``message``), for receivers written for
Grafana alerting.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ...config import Node, Secret
from ..message import AlertView, Notification, iso, link_labels
from ..signature import SIGNATURE_HEADER, signature_header
from .base import ChannelConfig, post

__all__ = [
    "WebhookChannel",
    "WebhookOptions",
    "alertmanager_body",
    "body",
    "grafana_body",
    "parse",
]

KEYS = ("url", "url_file", "secret", "secret_file", "headers", "format", "timeout")
IDEMPOTENCY_HEADER = "X-Agentwatch-Idempotency-Key"
FORMATS = ("agentwatch", "alertmanager", "grafana")


@dataclass(frozen=True)
class WebhookOptions:
    url: Secret | None
    secret: Secret | None
    headers: dict[str, str] = field(default_factory=dict)
    format: str = "agentwatch"
    timeout: float = 10.0


def parse(node: Node) -> WebhookOptions:
    return WebhookOptions(
        url=node.secret("url", required=True),
        secret=node.secret("secret"),
        headers=node.str_map("headers"),
        format=node.choice("format", FORMATS, "agentwatch"),
        timeout=node.duration("timeout", 10.0, minimum=0.1),
    )


def _alert(alert: AlertView) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "status": alert.status,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": iso(alert.starts_at),
        "endsAt": iso(alert.ends_at),
        "traceId": alert.trace_id,
        "links": alert.links,
        "held": list(alert.held),
        "acknowledgedBy": alert.acked_by,
    }


def body(notification: Notification) -> dict[str, Any]:
    """The hub's webhook body (``format: agentwatch``)."""
    return {
        "version": "1",
        "key": notification.key,
        "status": notification.status,
        "reason": notification.reason,
        "channel": notification.channel,
        "title": notification.title,
        "group": {
            "fingerprint": notification.group_fingerprint,
            "labels": notification.group_labels,
        },
        "alerts": [_alert(a) for a in notification.alerts],
        "counts": notification.counts,
        "createdAt": iso(notification.created_at),
        "hubURL": notification.hub_url,
    }


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def alertmanager_body(notification: Notification) -> dict[str, Any]:
    """Alertmanager's webhook version 4 (``format: alertmanager``)."""
    alerts = notification.alerts
    return {
        "version": "4",
        "groupKey": notification.group_fingerprint,
        "truncatedAlerts": 0,
        "status": "firing" if notification.firing else "resolved",
        "receiver": notification.channel,
        "groupLabels": notification.group_labels,
        "commonLabels": _common([a.labels for a in alerts]),
        "commonAnnotations": _common([a.annotations for a in alerts]),
        "externalURL": notification.hub_url,
        "alerts": [
            {
                "status": a.status,
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": iso(a.starts_at),
                "endsAt": iso(a.ends_at) or "0001-01-01T00:00:00Z",
                "generatorURL": a.links.get("source", ""),
                "fingerprint": a.fingerprint,
            }
            for a in alerts
        ],
    }


def _grafana_message(notification: Notification) -> str:
    lines = [notification.title]
    for alert in notification.alerts:
        lines.append(f"- {alert.status}: {alert.summary}")
        lines += [f"  {words}: {url}" for words, url in link_labels(alert.links)]
    return "\n".join(lines)


def grafana_body(notification: Notification) -> dict[str, Any]:
    """Grafana's webhook contact point body, version 1 (``format: grafana``)."""
    shape = alertmanager_body(notification)
    for item, alert in zip(shape["alerts"], notification.alerts, strict=True):
        item |= {
            "silenceURL": "",
            "dashboardURL": alert.links.get("dashboard", ""),
            "panelURL": "",
            "values": None,
            "valueString": "",
        }
    return {
        **shape,
        "version": "1",
        "orgId": 1,
        "title": notification.title,
        "state": "alerting" if notification.firing else "ok",
        "message": _grafana_message(notification),
    }


SHAPES: dict[str, Callable[[Notification], dict[str, Any]]] = {
    "agentwatch": body,
    "alertmanager": alertmanager_body,
    "grafana": grafana_body,
}


class WebhookChannel:
    def __init__(
        self,
        config: ChannelConfig,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.options: WebhookOptions = config.options
        self._http = http
        self._clock = clock

    async def send(self, notification: Notification) -> None:
        assert self.options.url is not None
        shape = SHAPES[self.options.format]
        raw = json.dumps(shape(notification), separators=(",", ":")).encode()
        headers = {
            **self.options.headers,
            IDEMPOTENCY_HEADER: notification.key,
            "Idempotency-Key": notification.key,
        }
        if self.options.secret is not None:
            stamp = int(self._clock())
            headers[SIGNATURE_HEADER] = signature_header(self.options.secret.reveal(), raw, stamp)
        await post(
            self._http,
            self.options.url.reveal(),
            f"webhook {self.config.name}",
            body=raw,
            headers=headers,
            timeout=self.options.timeout,
        )
