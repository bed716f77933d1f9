"""The demo's ``hub.yaml``: monitors, a public status page, alert routes, the trace store.

Written from where the demo's processes listen. A section is written only when a hub part
that reads it is installed (the hub refuses keys no part reads), so the same demo runs on
a hub with any of its parts:

- ``monitors``: the service's endpoints (``api``, ``api-health`` reading
  ``/health/full``) and its dependencies (the LLM provider; Postgres and Redis when the
  service uses them; Prometheus and Alertmanager when they run);
- ``status_pages``: ``public``, the service and its LLM provider;
- ``intake`` and ``notifications``: those of ``hub/hub.yaml`` as ``agentwatch ops
  generate`` writes it (Alertmanager's bearer token, Grafana's HMAC secret, the routes of
  the severity table and the same inhibitions as Alertmanager's), delivering to the
  demo's channels: where the generated file pages (PagerDuty), the demo's notifier
  workflow, signed and in the shape of Grafana's webhook contact point; Slack is the
  Slack stand-in; e-mail is left out (no mail server here);
- ``traces``: the local trace store the service exports to.

Secrets (intake token, Grafana's HMAC secret, the webhook signing secret) are files in
the demo's ``secrets/``.
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


# the channels of the generated hub.yaml, and what stands in for each in the demo
PAGE_CHANNEL, CHAT_CHANNEL, MAIL_CHANNEL = "pagerduty", "slack", "email"


def _channels(plan: HubPlan) -> dict[str, dict[str, Any]]:
    """The demo's channel in place of each generated one (e-mail has none: no mail server)."""
    hook_secret = write_secret(plan.secrets_dir, "notifier_webhook_secret")
    return {
        CHAT_CHANNEL: {"name": "slack", "type": "slack", "url": plan.slack_webhook_url},
        PAGE_CHANNEL: {
            "name": "notifier",
            "type": "webhook",
            "url": plan.service_url + NOTIFIER_PATH,
            "format": "grafana",  # the notifier is written for Grafana's contact point
            "secret_file": str(hook_secret),
        },
    }


def _intake(generated: Mapping[str, Any]) -> dict[str, Any]:
    """The generated intake; a secret file it names that does not exist yet is made."""
    for key, value in generated.items():
        path = Path(str(value))
        if key.endswith("_file") and not path.exists():
            write_secret(path.parent, path.name)
    return dict(generated)


def _notifications(plan: HubPlan, generated: Mapping[str, Any]) -> dict[str, Any]:
    """The generated routes, inhibitions and timings, delivering to the demo's channels."""
    stand_ins = _channels(plan)
    routes = [
        {
            **route,
            "channels": [
                stand_ins[name]["name"] for name in route["channels"] if name in stand_ins
            ],
        }
        for route in generated["routes"]
    ]
    used = {name for route in routes for name in route["channels"]}
    channels = [channel for channel in stand_ins.values() if channel["name"] in used]
    return {**generated, "channels": channels, "routes": routes}


def hub_config(
    plan: HubPlan,
    generated: Mapping[str, Any],
    keys: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The hub.yaml mapping: the core's ``server`` and the sections installed parts read.

    ``generated`` is the ``hub/hub.yaml`` of ``agentwatch ops generate`` (generated with
    the demo's secrets folder): its ``intake`` and ``notifications`` (routes of the
    severity table, inhibitions, the profile's timings) are kept, with the demo's
    channels; ``server`` listens on 127.0.0.1 with the demo's database and no API token
    (a local demo, its pages open without login); monitors and the status page are the
    demo's (they watch the provider, Prometheus and Alertmanager too)."""
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
        ("intake", lambda: _intake(generated["intake"])),
        ("notifications", lambda: _notifications(plan, generated["notifications"])),
        ("traces", lambda: {"retention": "24h", "max_bytes": "512MiB"}),
    )
    for key, make in sections:
        if key in keys:
            config[key] = make()
    return config


def write_hub_config(path: Path, plan: HubPlan, generated: Path) -> Mapping[str, Any]:
    """Write the demo's hub.yaml from the generated one at ``generated``; returns it."""
    config = hub_config(plan, yaml.safe_load(generated.read_text(encoding="utf-8")))
    header = "# The demo's hub: written by `agentwatch demo` from where its processes listen.\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return config
