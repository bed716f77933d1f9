"""Slack: an incoming webhook, the message in Block Kit.

``{name: oncall, type: slack, url: "${SLACK_WEBHOOK_URL}"}`` (or ``url_file``). The message
has a header (status, alert, service, severity), a section per alert (summary in bold,
description, severity and service as fields), buttons for its links, and a plain-text
fallback for notifications. Default rate limit: one message per second per webhook, which
is Slack's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from ...config import Node, Secret
from ..message import STATUS_WORDS, AlertView, Notification, link_labels
from .base import ChannelConfig, post

__all__ = ["DEFAULT_RATE", "SlackChannel", "SlackOptions", "blocks", "parse"]

DEFAULT_RATE = 1.0
KEYS = ("url", "url_file")
MAX_ALERTS = 10  # three blocks each, under Slack's 50 blocks per message


@dataclass(frozen=True)
class SlackOptions:
    url: Secret | None


def parse(node: Node) -> SlackOptions:
    return SlackOptions(url=node.secret("url", required=True))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit] or " ", "emoji": True}


def _alert_blocks(alert: AlertView) -> list[dict[str, Any]]:
    word = STATUS_WORDS.get(alert.status, alert.status.upper())
    text = f"*{word}* {_escape(alert.summary)}"
    if alert.description:
        text += f"\n{_escape(alert.description)}"
    if alert.held:
        text += "\n_Held while this is down:_ " + _escape(", ".join(alert.held))
    fields = [{"type": "mrkdwn", "text": f"*Severity*\n{_escape(alert.severity)}"}]
    if alert.service:
        fields.append({"type": "mrkdwn", "text": f"*Service*\n{_escape(alert.service)}"})
    if alert.acked_by:
        fields.append({"type": "mrkdwn", "text": f"*Acknowledged by*\n{_escape(alert.acked_by)}"})
    out: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}, "fields": fields}
    ]
    buttons = [
        {"type": "button", "text": _plain(words, 75), "url": url[:3000]}
        for words, url in link_labels(alert.links)
        if url.startswith(("http://", "https://"))
    ]
    if buttons:
        out.append({"type": "actions", "elements": buttons[:25]})
    out.append({"type": "divider"})
    return out


def blocks(notification: Notification) -> list[dict[str, Any]]:
    """The Block Kit blocks of ``notification``."""
    out: list[dict[str, Any]] = [{"type": "header", "text": _plain(notification.title, 150)}]
    for alert in notification.alerts[:MAX_ALERTS]:
        out.extend(_alert_blocks(alert))
    more = len(notification.alerts) - MAX_ALERTS
    footer = f"agentwatch hub · {notification.key}"
    if more > 0:
        footer = f"and {more} more alerts · " + footer
    out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _escape(footer)}]})
    return out


class SlackChannel:
    def __init__(self, config: ChannelConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.options: SlackOptions = config.options
        self._http = http

    async def send(self, notification: Notification) -> None:
        assert self.options.url is not None
        body = {"text": notification.title, "blocks": blocks(notification)}
        await post(
            self._http,
            self.options.url.reveal(),
            f"slack channel {self.config.name}",
            body=json.dumps(body).encode(),
        )
