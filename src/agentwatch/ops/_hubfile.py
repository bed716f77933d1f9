"""hub/hub.yaml: the hub Alertmanager and Grafana post to, and what it watches.

- ``server`` and ``api``: listens on 0.0.0.0:8787 inside Compose, so a bearer token
  (``hub_api_token``) guards writes and private pages;
- ``intake``: the bearer token Alertmanager sends (the same file its config names) and
  the HMAC secret of Grafana's contact point;
- ``notifications``: channels ``pagerduty``, ``slack`` and ``email`` and the routes of
  the severity table Alertmanager's routes use (``_routing.py``), the same inhibitions,
  the profile's grouping timings;
- ``monitors``: the service's ``/health/live`` (``http``) and ``/health/full``
  (``health``: pass, warn, fail become up, degraded, down), and its dependencies
  (``postgres``, ``redis``) which the health monitor depends on;
- ``status_pages``: ``public``, the service and its dependencies.

Every secret is a ``*_file`` under ``GenerateOptions.secrets_mount``.
"""

from __future__ import annotations

from typing import Any

from ._options import GenerateOptions
from ._routing import INHIBIT_RULES, SECRET_FILES, SEVERITY_ROUTES

__all__ = ["HUB_PORT", "hub_file", "monitor_names"]

HUB_PORT = 8787
SERVICE_INTERVAL = "30s"
DEPENDENCY_INTERVAL = "60s"


def _secret(options: GenerateOptions, key: str) -> str:
    return f"{options.secrets_mount.rstrip('/')}/{SECRET_FILES[key]}"


def _email(options: GenerateOptions) -> dict[str, Any]:
    r = options.receivers
    channel: dict[str, Any] = {
        "name": "email",
        "type": "email",
        "smtp_url": f"smtp://{r.smtp_smarthost}",
        "from": r.smtp_from,
        "to": [address.strip() for address in r.email_to.split(",") if address.strip()],
        "starttls": "required",
    }
    if r.smtp_username:
        channel |= {"username": r.smtp_username, "password_file": _secret(options, "smtp")}
    return channel


def _channels(options: GenerateOptions) -> list[dict[str, Any]]:
    return [
        {
            "name": "pagerduty",
            "type": "pagerduty",
            "routing_key_file": _secret(options, "pagerduty"),
            "source": options.service,
        },
        {"name": "slack", "type": "slack", "url_file": _secret(options, "slack")},
        _email(options),
    ]


def _notifications(options: GenerateOptions) -> dict[str, Any]:
    profile = options.profile
    return {
        "group_by": ["alertname", "service"],
        "group_wait": profile.group_wait,
        "group_interval": profile.group_interval,
        "repeat_interval": profile.repeat_interval,
        "channels": _channels(options),
        "routes": [
            {
                "name": row.severity,
                "match": {"severity": row.severity},
                "channels": list(row.channels),
            }
            for row in SEVERITY_ROUTES
        ],
        "inhibit": [
            {
                "source_match": {rule.source[0]: rule.source[1]},
                "target_match": {rule.target[0]: rule.target[1]},
                "equal": list(rule.equal),
            }
            for rule in INHIBIT_RULES
        ],
    }


def monitor_names(options: GenerateOptions) -> tuple[str, str]:
    """The names of the service's two monitors: liveness and full health."""
    return f"{options.service}-live", f"{options.service}-health"


def _monitors(options: GenerateOptions) -> list[dict[str, Any]]:
    base = f"http://{options.service_targets[0]}"
    labels = {"service": options.service}
    live, health = monitor_names(options)
    monitors: list[dict[str, Any]] = [
        {
            "name": live,
            "type": "http",
            "url": f"{base}/health/live",
            "interval": SERVICE_INTERVAL,
            "expect": {"status": 200},
            "labels": labels,
        },
        {
            "name": health,
            "type": "health",
            "url": f"{base}/health/full",
            "interval": SERVICE_INTERVAL,
            "labels": labels,
        },
    ]
    if options.dependencies:
        monitors[1]["depends_on"] = list(options.dependencies)
    secret_key = {"postgres": "dsn_file", "redis": "url_file"}
    for name in options.dependencies:
        monitors.append(
            {
                "name": name,
                "type": name,
                secret_key[name]: _secret(options, name),
                "interval": DEPENDENCY_INTERVAL,
                "labels": labels,
            }
        )
    return monitors


def _status_pages(options: GenerateOptions) -> list[dict[str, Any]]:
    page: dict[str, Any] = {
        "slug": "public",
        "title": options.service,
        "public": True,
        "monitors": list(monitor_names(options)),
    }
    if options.dependencies:
        page["groups"] = [{"name": "Dependencies", "monitors": list(options.dependencies)}]
    return [page]


def hub_file(options: GenerateOptions) -> dict[str, Any]:
    """The hub.yaml mapping."""
    return {
        "server": {"host": "0.0.0.0", "port": HUB_PORT, "public_url": options.hub_public_url},
        "api": {"token_file": _secret(options, "api_token")},
        "intake": {
            "token_file": _secret(options, "intake_token"),
            "grafana_hmac_secret_file": _secret(options, "grafana_hmac"),
        },
        "notifications": _notifications(options),
        "monitors": _monitors(options),
        "status_pages": _status_pages(options),
    }
