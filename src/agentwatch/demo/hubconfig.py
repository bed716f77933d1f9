"""The demo's ``hub.yaml``: monitors, a public status page, alert routes, the trace store.

Written from where the demo's processes listen. A section is written only when a hub part
that reads it is installed (the hub refuses keys no part reads), so the same demo runs on
a hub with any of its parts:

- ``monitors``: the service's endpoints (``api``, ``api-health`` reading
  ``/health/full``) and its dependencies (the LLM provider; Postgres and Redis when the
  service uses them; Prometheus and Alertmanager when they run);
- ``status_pages``: ``public``, the service and its LLM provider;
- ``intake`` and ``notifications``: Alertmanager's bearer token; critical alerts to the
  Slack stand-in and, signed and in the shape of Grafana's webhook contact point, to the
  demo's notifier workflow; warnings to Slack;
- ``traces``: the local trace store the service exports to.

Secrets (intake token, webhook signing secret) are files in the demo's ``secrets/``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agentwatch.hub.parts import load_parts

__all__ = ["HubPlan", "installed_hub_keys", "write_hub_config", "write_secret"]

NOTIFIER_PATH = "/webhooks/alerts"
PUBLIC_MONITORS = ("api", "api-health", "llm-provider")


@dataclass(frozen=True, slots=True)
class HubPlan:
    """What the demo's hub.yaml points at (base URLs), and how often monitors look."""

    hub_port: int
    database_url: str
    service_url: str
    llm_url: str
    slack_webhook_url: str
    secrets_dir: Path
    interval: str = "5s"
    group_wait: str = "5s"
    group_interval: str = "10s"
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    postgres_dsn_file: Path | None = None
    redis_url: str | None = None

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"


def installed_hub_keys() -> frozenset[str]:
    """The top-level hub.yaml keys the installed hub parts read."""
    return frozenset(key for spec in load_parts() for key in spec.keys)


def write_secret(folder: Path, name: str) -> Path:
    """A new random secret in ``folder/name`` (mode 0600); returns the path."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    path.write_text(secrets.token_urlsafe(32) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _monitors(plan: HubPlan) -> list[dict[str, Any]]:
    every = plan.interval
    monitors: list[dict[str, Any]] = [
        {
            "name": "api",
            "type": "http",
            "url": f"{plan.service_url}/api/workflows",
            "interval": every,
            "expect": {"status": 200},
        },
        {"name": "api-health", "type": "health", "url": f"{plan.service_url}/health/full"},
        {"name": "llm-provider", "type": "http", "url": f"{plan.llm_url}/v1/models"},
    ]
    if plan.postgres_dsn_file is not None:
        monitors.append(
            {"name": "postgres", "type": "postgres", "dsn_file": str(plan.postgres_dsn_file)}
        )
    if plan.redis_url is not None:
        monitors.append({"name": "redis", "type": "redis", "url": plan.redis_url})
    for name, url in (("prometheus", plan.prometheus_url), ("alertmanager", plan.alertmanager_url)):
        if url is not None:
            monitors.append({"name": name, "type": "http", "url": f"{url}/-/healthy"})
    for monitor in monitors:
        monitor.setdefault("interval", every)
    return monitors


def _status_pages(plan: HubPlan) -> list[dict[str, Any]]:
    return [
        {
            "slug": "public",
            "title": "Agent API (agentwatch demo)",
            "public": True,
            "monitors": list(PUBLIC_MONITORS),
        }
    ]


def _notifications(plan: HubPlan) -> dict[str, Any]:
    hook_secret = write_secret(plan.secrets_dir, "notifier_webhook_secret")
    return {
        "group_by": ["alertname", "service"],
        "group_wait": plan.group_wait,
        "group_interval": plan.group_interval,
        "repeat_interval": "12h",
        "channels": [
            {"name": "oncall", "type": "slack", "url": plan.slack_webhook_url},
            {
                "name": "notifier",
                "type": "webhook",
                "url": plan.service_url + NOTIFIER_PATH,
                "format": "grafana",  # the notifier is written for Grafana's contact point
                "secret_file": str(hook_secret),
            },
        ],
        "routes": [
            {"match": {"severity": "critical"}, "channels": ["oncall", "notifier"]},
            {"match": {"severity": "warning"}, "channels": ["oncall"]},
        ],
    }


def _intake(plan: HubPlan, intake_token_file: Path) -> dict[str, Any]:
    return {
        "token_file": str(intake_token_file),
        "grafana_hmac_secret_file": str(write_secret(plan.secrets_dir, "grafana_hmac_secret")),
    }


def hub_config(
    plan: HubPlan, intake_token_file: Path, keys: frozenset[str] | None = None
) -> dict[str, Any]:
    """The hub.yaml mapping: the core's ``server`` and the sections installed parts read."""
    keys = installed_hub_keys() if keys is None else keys
    config: dict[str, Any] = {
        "server": {
            "host": "127.0.0.1",
            "port": plan.hub_port,
            "database": plan.database_url,
            "public_url": plan.hub_url,
        }
    }
    sections: Sequence[tuple[str, Any]] = (
        ("monitors", lambda: _monitors(plan)),
        ("status_pages", lambda: _status_pages(plan)),
        ("intake", lambda: _intake(plan, intake_token_file)),
        ("notifications", lambda: _notifications(plan)),
        ("traces", lambda: {"retention": "24h", "max_bytes": "512MiB"}),
    )
    for key, make in sections:
        if key in keys:
            config[key] = make()
    return config


def write_hub_config(path: Path, plan: HubPlan, intake_token_file: Path) -> Mapping[str, Any]:
    """Write the demo's hub.yaml; returns what it wrote."""
    config = hub_config(plan, intake_token_file)
    header = "# The demo's hub: written by `agentwatch demo` from where its processes listen.\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return config
