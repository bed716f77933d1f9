"""Who hears of which alert: one severity table for Alertmanager's routes and the hub's.

Alertmanager routes each severity to a receiver that posts to the hub's intake (nothing
else: the hub delivers every notification, through its durable outbox). The hub routes
the same severities to its channels: critical → PagerDuty, Slack and e-mail; warning →
Slack; anything else (info) is stored and shown, not sent. Both apply the same
inhibitions. The names of the secret files both read are here too.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CHANNELS",
    "INHIBIT_RULES",
    "SECRET_FILES",
    "SEVERITY_ROUTES",
    "Inhibition",
    "SeverityRoute",
    "receiver_name",
]


@dataclass(frozen=True)
class SeverityRoute:
    """Alerts with ``severity`` go to the hub's ``channels`` (names of hub channels)."""

    severity: str
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Inhibition:
    """A ``source`` alert mutes ``target`` alerts with the same ``equal`` labels."""

    source: tuple[str, str]  # label, value
    target: tuple[str, str]
    equal: tuple[str, ...]


CHANNELS = ("pagerduty", "slack", "email")  # the hub channels, named after their type
SEVERITY_ROUTES = (
    SeverityRoute("critical", ("pagerduty", "slack", "email")),
    SeverityRoute("warning", ("slack",)),
)
INHIBIT_RULES = (
    Inhibition(("severity", "critical"), ("severity", "warning"), ("alertname", "service", "slo")),
    Inhibition(("urgency", "page"), ("urgency", "ticket"), ("slo", "service")),
)
SECRET_FILES = {
    "intake_token": "hub_intake_token",  # Alertmanager → hub bearer token
    "api_token": "hub_api_token",  # the hub's own API and private pages
    "grafana_hmac": "grafana_hmac_secret",  # Grafana → hub webhook signature
    "slack": "slack_webhook_url",
    "pagerduty": "pagerduty_routing_key",
    "smtp": "smtp_password",
    "postgres": "postgres_dsn",
    "redis": "redis_url",
}


def receiver_name(severity: str | None) -> str:
    """Alertmanager's receiver for a severity (``hub`` for the rest)."""
    return f"hub-{severity}" if severity else "hub"
