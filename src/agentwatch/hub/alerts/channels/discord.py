"""Discord: a channel webhook, one embed per alert.

``{name: chat, type: discord, url_file: /run/secrets/discord_webhook}``. Mentions are
disabled (an alert text never pings ``@everyone``). Default rate limit: one message a second
(Discord allows five per two seconds per webhook and answers 429 with ``Retry-After``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from ...config import Node, Secret
from ..message import STATUS_WORDS, AlertView, Notification, iso, link_labels
from .base import ChannelConfig, post

__all__ = ["DEFAULT_RATE", "DiscordChannel", "DiscordOptions", "message", "parse"]

DEFAULT_RATE = 1.0
KEYS = ("url", "url_file", "username")
COLOURS = {"firing": 0xD62728, "resolved": 0x2CA02C, "acknowledged": 0xFF7F0E}


@dataclass(frozen=True)
class DiscordOptions:
    url: Secret | None
    username: str = "agentwatch"


def parse(node: Node) -> DiscordOptions:
    return DiscordOptions(
        url=node.secret("url", required=True), username=node.text("username", "agentwatch")
    )


def _embed(alert: AlertView) -> dict[str, Any]:
    fields = [{"name": "Severity", "value": alert.severity[:1024], "inline": True}]
    if alert.service:
        fields.append({"name": "Service", "value": alert.service[:1024], "inline": True})
    if alert.held:
        fields.append({"name": "Held while this is down", "value": ", ".join(alert.held)[:1024]})
    links = " · ".join(f"[{words}]({url})" for words, url in link_labels(alert.links))
    if links:
        fields.append({"name": "Links", "value": links[:1024]})
    word = STATUS_WORDS.get(alert.status, alert.status.upper())
    return {
        "title": f"{word} {alert.summary}"[:256],
        "description": alert.description[:4096],
        "color": COLOURS.get(alert.status, 0x7F7F7F),
        "fields": fields[:25],
        "timestamp": iso(alert.starts_at),
    }


def message(notification: Notification, username: str = "agentwatch") -> dict[str, Any]:
    """The webhook body: the title as content, an embed per alert (ten at most)."""
    more = len(notification.alerts) - 10
    content = notification.title + (f" (and {more} more)" if more > 0 else "")
    return {
        "username": username,
        "content": content[:2000],
        "embeds": [_embed(a) for a in notification.alerts[:10]],
        "allowed_mentions": {"parse": []},
    }


class DiscordChannel:
    def __init__(self, config: ChannelConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.options: DiscordOptions = config.options
        self._http = http

    async def send(self, notification: Notification) -> None:
        assert self.options.url is not None
        body = message(notification, self.options.username)
        await post(
            self._http,
            self.options.url.reveal(),
            f"discord channel {self.config.name}",
            body=json.dumps(body).encode(),
        )
