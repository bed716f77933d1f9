"""End to end on 127.0.0.1: generated config + real Prometheus + real Alertmanager.

An instrumented service (every catalog metric) is scraped by a real ``prometheus`` run with
the generated prometheus.yml and rules (test profile: minutes become seconds); every panel
query of every generated dashboard must return data. Then the service starts failing and
the generated HighErrorRate alert must reach a local webhook through a real Alertmanager
with the generated routes: receiver ``hub-critical`` with the intake token as bearer, the
service and cluster labels, the runbook.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests._ops_stack import (
    Service,
    Webhook,
    alertmanager_argv,
    free_port,
    process,
    prometheus_argv,
    wait_for,
)

from agentwatch.ops import GenerateOptions, ReceiverOptions, generate
from agentwatch.ops._options import TEST_PROFILE

SERVICE, CLUSTER = "e2e-api", "e2e"
RUNBOOKS = "http://127.0.0.1:8787/runbooks/"
INTAKE_TOKEN = "e2e-intake-token"


@dataclass
class Stack:
    folder: Path
    service: Service
    webhook: Webhook
    prometheus: str
    alertmanager: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("ops-e2e")
    service, webhook = Service(), Webhook()
    prom_port, am_port = free_port(), free_port()
    (root / "secrets").mkdir()
    (root / "secrets/hub_intake_token").write_text(INTAKE_TOKEN + "\n")
    options = GenerateOptions(
        service=SERVICE,
        service_targets=(f"127.0.0.1:{service.port}",),
        cluster=CLUSTER,
        hub_targets=(),
        infra_targets={},
        alertmanager_targets=(f"127.0.0.1:{am_port}",),
        alert_webhook_url=webhook.url,
        runbook_url_base=RUNBOOKS,
        profile=TEST_PROFILE,
        receivers=ReceiverOptions(secrets_dir=str(root / "secrets")),
    )
    folder = root / "deploy"
    generate(folder, options)
    am_url, prom_url = f"http://127.0.0.1:{am_port}", f"http://127.0.0.1:{prom_port}"
    try:
        with (
            process(
                alertmanager_argv(folder / "alertmanager/alertmanager.yml", root / "am", am_port),
                root / "am.log",
                f"{am_url}/-/ready",
            ),
            process(
                prometheus_argv(folder / "prometheus/prometheus.yml", root / "tsdb", prom_port),
                root / "prom.log",
                f"{prom_url}/-/ready",
            ),
        ):
            yield Stack(folder, service, webhook, prom_url, am_url)
    finally:
        service.close()
        webhook.close()


def _panel_queries(folder: Path) -> list[tuple[str, str, str]]:
    out = []
    for path in sorted((folder / "grafana/dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$service", SERVICE)
                out.append((path.name, panel["title"], expr.replace("$__rate_interval", "5s")))
    return out


def _series(prometheus: str, expr: str) -> list[Any]:
    response = httpx.get(
        f"{prometheus}/api/v1/query", params={"query": expr, "timeout": "2s"}, timeout=5
    )
    body = response.json()
    assert body["status"] == "success", (expr, body)
    return list(body["data"]["result"])


def test_every_dashboard_panel_query_returns_live_data(stack: Stack) -> None:
    queries = _panel_queries(stack.folder)
    assert len(queries) > 60

    def all_have_data() -> bool:
        return all(_series(stack.prometheus, expr) for _b, _t, expr in queries)

    wait_for("every panel query to return data", all_have_data, 90, every_s=1)
    empty = [(b, t) for b, t, expr in queries if not _series(stack.prometheus, expr)]
    assert empty == []


def _firing(webhook: Webhook, name: str, severity: str) -> dict[str, Any] | None:
    for payload in webhook.payloads:
        for alert in payload["alerts"]:
            labels = alert["labels"]
            if (labels.get("alertname"), labels.get("severity"), alert["status"]) == (
                name,
                severity,
                "firing",
            ):
                return {"payload": payload, "alert": alert}
    return None


def test_provoked_error_rate_alert_reaches_the_hub_webhook_through_alertmanager(
    stack: Stack,
) -> None:
    stack.service.errors.set()
    try:
        got = wait_for(
            "HighErrorRate critical at the webhook",
            lambda: _firing(stack.webhook, "HighErrorRate", "critical"),
            90,
        )
        inhibited = wait_for(
            "the warning tier inhibited by the critical one",
            lambda: _inhibited_warning(stack.alertmanager),
            30,
        )
    finally:
        stack.service.errors.clear()
    payload, alert = got["payload"], got["alert"]
    assert payload["receiver"] == "hub-critical"
    assert payload["path"] == "/api/v1/alerts/alertmanager"
    assert payload["authorization"] == f"Bearer {INTAKE_TOKEN}"  # the token file's content
    assert payload["groupLabels"] == {
        "alertname": "HighErrorRate",
        "cluster": CLUSTER,
        "service": SERVICE,
    }
    assert alert["labels"] == {
        "alertname": "HighErrorRate",
        "cluster": CLUSTER,
        "service": SERVICE,
        "severity": "critical",
    }
    assert alert["annotations"]["runbook_url"] == f"{RUNBOOKS}HighErrorRate"
    assert alert["annotations"]["summary"] == f"{SERVICE}: more than 10% of requests fail"
    assert inhibited["status"]["inhibitedBy"]


def _inhibited_warning(alertmanager: str) -> dict[str, Any] | None:
    alerts = httpx.get(
        f"{alertmanager}/api/v2/alerts", params={"filter": 'alertname="HighErrorRate"'}, timeout=5
    ).json()
    for alert in alerts:
        if alert["labels"].get("severity") == "warning" and alert["status"]["inhibitedBy"]:
            return dict(alert)
    return None
