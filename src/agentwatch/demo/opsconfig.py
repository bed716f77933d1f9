"""The operations folder of the demo: what ``agentwatch ops generate`` writes, in a demo profile.

The demo generates the same Prometheus rules, SLOs and Alertmanager routes a user deploys,
with the targets on 127.0.0.1 and a profile of short windows, so the scripted incident
fires real alerts within seconds: :data:`STORY_PROFILE` divides every rule window and
``for:`` by 10 (``for: 5m`` becomes ``30s``), :data:`SHORT_PROFILE` (ops' test profile) by
60.

The generated Alertmanager configuration already posts every alert to the hub's intake
alone, with the bearer token read from ``secrets/hub_intake_token`` (the file the hub's
``intake.token_file`` names); the demo keeps one route and one receiver (``hub``) and
names the token file explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml

from agentwatch.ops import TEST_PROFILE, GenerateOptions, Profile, ReceiverOptions, generate

__all__ = [
    "DEMO_PACKS",
    "INTAKE_TOKEN_FILE",
    "SERVICE",
    "SHORT_PROFILE",
    "STORY_PROFILE",
    "OpsTargets",
    "write_ops",
]

SERVICE = "agent-demo"
SLO_FILE = Path(__file__).with_name("slos.yaml")
HUB_RECEIVER = "hub"
INTAKE_TOKEN_FILE = "hub_intake_token"  # Alertmanager's bearer token, in the secrets folder
# the packs the demo service records into (no host exporters run in the demo)
DEMO_PACKS = ("http", "runtime", "llm", "agent", "workflow", "tool", "db", "queue", "health")

STORY_PROFILE = Profile(
    name="demo",
    time_scale=Fraction(1, 10),
    scrape_interval="2s",
    service_scrape_interval="2s",
    evaluation_interval="2s",
    group_wait="5s",
    group_interval="10s",
    repeat_interval="12h",
)
SHORT_PROFILE = TEST_PROFILE  # minutes become seconds, as in the ops end-to-end tests


@dataclass(frozen=True, slots=True)
class OpsTargets:
    """Where everything the generated configuration points at listens (host:port)."""

    service: str
    hub: str
    prometheus: str
    alertmanager: str

    @property
    def hub_url(self) -> str:
        return f"http://{self.hub}"


def dashboard_url(prometheus: str) -> str:
    """The demo's dashboard (there is no Grafana here): Prometheus's graph page charting
    the service's request rate, 5xx share, p95 and LLM error share for the last 15 minutes."""
    selector = f'service="{SERVICE}"'
    queries = (
        f"sum(rate(http_requests_total{{{selector}}}[1m]))",
        f'sum(rate(http_requests_total{{{selector},status=~"5.."}}[1m])) '
        f"/ sum(rate(http_requests_total{{{selector}}}[1m]))",
        "histogram_quantile(0.95, sum by (le) "
        f"(rate(http_request_duration_seconds_bucket{{{selector}}}[1m])))",
        f'sum by (provider) (rate(llm_requests_total{{{selector},status="error"}}[1m])) '
        f"/ sum by (provider) (rate(llm_requests_total{{{selector}}}[1m]))",
    )
    params: dict[str, str] = {}
    for index, query in enumerate(queries):
        params |= {f"g{index}.expr": query, f"g{index}.tab": "0", f"g{index}.range_input": "15m"}
    return f"http://{prometheus}/graph?{urlencode(params)}"


def options(targets: OpsTargets, profile: Profile, secrets_dir: Path) -> GenerateOptions:
    """The GenerateOptions of the demo: its service, its ports, its profile."""
    return GenerateOptions(
        service=SERVICE,
        service_targets=(targets.service,),
        packs=DEMO_PACKS,
        slo_file=SLO_FILE,
        hub_targets=(targets.hub,),
        infra_targets={"prometheus": (targets.prometheus,)},
        alertmanager_targets=(targets.alertmanager,),
        alert_webhook_url=f"{targets.hub_url}/api/v1/alerts/alertmanager",
        runbook_url_base=f"{targets.hub_url}/runbooks/",
        dashboard_url=dashboard_url(targets.prometheus),
        status_page_url=f"{targets.hub_url}/status/public",
        traces_url=f"{targets.hub_url}/traces?service={SERVICE}&status=error",
        receivers=ReceiverOptions(secrets_dir=str(secrets_dir)),
        profile=profile,
        secrets_mount=str(secrets_dir),
        hub_public_url=targets.hub_url,
        dependencies=(),  # the demo's hub.yaml has its own monitors (see hubconfig.py)
    )


def _with_token(receiver: dict[str, Any], token_file: Path) -> dict[str, Any]:
    """The hub receiver's webhooks sending ``Authorization: Bearer <token_file>``."""
    auth = {"authorization": {"type": "Bearer", "credentials_file": str(token_file)}}
    hooks = [{**hook, "http_config": auth} for hook in receiver.get("webhook_configs", [])]
    return {**receiver, "webhook_configs": hooks}


def _hub_only(config: dict[str, Any], token_file: Path) -> dict[str, Any]:
    """Alertmanager config routing every alert to the hub receiver alone, with its token."""
    receivers = [
        _with_token(r, token_file) for r in config["receivers"] if r.get("name") == HUB_RECEIVER
    ]
    route = {k: v for k, v in config["route"].items() if k != "routes"}
    route["receiver"] = HUB_RECEIVER
    settings = {k: v for k, v in config.get("global", {}).items() if k == "resolve_timeout"}
    return {**config, "global": settings, "route": route, "receivers": receivers}


def write_ops(
    folder: Path, targets: OpsTargets, profile: Profile, secrets_dir: Path, token_file: Path
) -> Path:
    """Generate the operations folder into ``folder``; returns the Alertmanager file.

    ``token_file`` holds the hub intake's bearer token Alertmanager sends."""
    generate(folder, options(targets, profile, secrets_dir))
    path = folder / "alertmanager" / "alertmanager.yml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(
        yaml.safe_dump(_hub_only(config, token_file), sort_keys=False), encoding="utf-8"
    )
    return path
