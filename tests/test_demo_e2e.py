"""The demo's story end to end, from the outside: a short timeline, HTTP only, then Ctrl-C.

``agentwatch demo --short`` runs the real processes (the service under uvicorn, the hub,
Prometheus and Alertmanager with the generated configuration) and scripts the LLM
provider's incident at +12 s for 30 s. The test watches what a user would open.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from tests._demo_run import DemoProcess, demo_process

INCIDENT_ALERT = "LLMProviderDown"


def _require_prometheus() -> None:
    alertmanager = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")
    if shutil.which("prometheus") is None or alertmanager is None:
        pytest.fail("this test needs apt-get install prometheus prometheus-alertmanager")


def _alertmanager_has(demo: DemoProcess, name: str) -> list[dict[str, Any]]:
    alerts = demo.json(demo.url("alertmanager") + "/api/v2/alerts")
    return [a for a in alerts if a["labels"].get("alertname") == name]


def _prometheus_firing(demo: DemoProcess, name: str) -> bool:
    body = demo.json(demo.url("prometheus") + "/api/v1/alerts")
    return any(
        a["labels"].get("alertname") == name and a["state"] == "firing"
        for a in body["data"]["alerts"]
    )


def test_an_incident_goes_from_the_first_error_to_an_alert_and_back(tmp_path: Path) -> None:
    _require_prometheus()
    with demo_process(tmp_path / "demo", "--short", "--seed", "7") as demo:
        demo.wait_for(
            f"{INCIDENT_ALERT} firing in Prometheus",
            lambda: _prometheus_firing(demo, INCIDENT_ALERT),
            60,
        )
        fired = demo.wait_for(
            f"{INCIDENT_ALERT} in Alertmanager", lambda: _alertmanager_has(demo, INCIDENT_ALERT), 30
        )
        assert fired[0]["labels"]["severity"] == "critical"
        assert fired[0]["labels"]["service"] == "agent-demo"
        demo.wait_for(
            f"{INCIDENT_ALERT} resolved in Alertmanager",
            lambda: not _alertmanager_has(demo, INCIDENT_ALERT),
            60,
        )
        output = demo.interrupt()
    assert "INCIDENT" in output and "RECOVERY" in output, output
    assert "Traceback" not in output, output
    assert "stopped: every process of the demo has exited" in output, output
    assert demo.process.returncode == 0
    assert demo.leftovers() == []
