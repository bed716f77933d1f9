"""Notification channels: one module per type beside ``base.py``.

Each type module has ``KEYS`` (its own ``hub.yaml`` keys), ``parse(node)`` (its options,
problems recorded on the node) and a channel class with ``async send(notification)``.
:data:`TYPES` lists them; :func:`build_channel` makes the running channel.

May import: ``agentwatch.hub.config``, the alerts part's ``message``, ``model`` and
``signature`` modules, httpx, the standard library; ``apprise`` lazily.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType

import httpx

from . import apprise, discord, email, pagerduty, slack, webhook
from .base import Channel, ChannelConfig, DeliveryError

__all__ = ["TYPES", "Channel", "ChannelConfig", "DeliveryError", "build_channel"]

TYPES: dict[str, ModuleType] = {
    "slack": slack,
    "pagerduty": pagerduty,
    "email": email,
    "discord": discord,
    "webhook": webhook,
    "apprise": apprise,
}
# rate limits by default: what the service itself enforces (None: unlimited)
DEFAULT_RATES: dict[str, float | None] = {
    "slack": slack.DEFAULT_RATE,
    "pagerduty": pagerduty.DEFAULT_RATE,
    "email": email.DEFAULT_RATE,
    "discord": discord.DEFAULT_RATE,
    "webhook": None,
    "apprise": apprise.DEFAULT_RATE,
}
# a storm becomes one summary for people; machines (PagerDuty, webhooks) get every event
COALESCES = {"slack", "email", "discord", "apprise"}


def build_channel(
    config: ChannelConfig, http: httpx.AsyncClient, clock: Callable[[], float] = time.time
) -> Channel:
    if config.type == "slack":
        return slack.SlackChannel(config, http)
    if config.type == "pagerduty":
        return pagerduty.PagerDutyChannel(config, http)
    if config.type == "discord":
        return discord.DiscordChannel(config, http)
    if config.type == "webhook":
        return webhook.WebhookChannel(config, http, clock)
    if config.type == "email":
        return email.EmailChannel(config)
    return apprise.AppriseChannel(config)
