"""The demo's story end to end, from the outside: a short timeline, HTTP only, then Ctrl-C.

``agentwatch demo --short`` runs the real processes (the service under uvicorn, the hub,
Prometheus and Alertmanager with the generated configuration) and scripts the LLM
provider's incident at +12 s for 30 s. The test watches what a user would open: the alert
in Prometheus and Alertmanager, its firing and resolved messages in the Slack stand-in
(once each), the incident on the public status page, the notifier workflow run by the
hub's Grafana-style webhook, the incident's error traces in the hub; then Ctrl-C leaves
no process and no port.
"""

from __future__ import annotations

import re
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


def _slack_messages(demo: DemoProcess, name: str) -> list[dict[str, Any]]:
    """The Slack stand-in's messages about alert ``name``, in order."""
    messages = demo.json(demo.url("slack"))["messages"]
    pattern = rf"\[(FIRING:\d+|RESOLVED)\] {name} "
    return [m for m in messages if re.match(pattern, str(m["payload"].get("text", "")))]


def _slack_titles(demo: DemoProcess, name: str) -> list[str]:
    return [str(m["payload"]["text"]) for m in _slack_messages(demo, name)]


def _status_shows(demo: DemoProcess, title: str) -> bool:
    page = demo.client.get(demo.url("status_page"))
    return page.status_code == 200 and title in page.text


def _notifier_runs(demo: DemoProcess, name: str, status: str) -> list[str]:
    """Runs the notifier started for a Grafana-shaped delivery of ``name`` in ``status``."""
    body = demo.json(demo.url("notifier"))
    return [
        run
        for delivery in body["deliveries"]
        if delivery["shape"] == "grafana"
        and any(a["name"] == name and a["status"] == status for a in delivery["alerts"])
        for run in delivery["runs"]
    ]


def _run_finished(demo: DemoProcess, run_id: str) -> dict[str, Any] | None:
    run = demo.json(f"{demo.url('service')}/api/workflows/runs/{run_id}")
    return dict(run) if run["status"] in ("succeeded", "failed") else None


def _incident_error_traces(demo: DemoProcess) -> list[dict[str, Any]]:
    incident = demo.state()["incident"]
    body = demo.json(demo.url("hub") + "/api/v1/traces?status=error&limit=500")
    return [
        t
        for t in body["traces"]
        if incident["starts"] <= t["start_time_unix_nano"] / 1e9 <= incident["ends"]
        and t["service"] == "agent-demo"
    ]


def test_an_incident_goes_from_the_first_error_to_slack_and_back(tmp_path: Path) -> None:
    _require_prometheus()
    with demo_process(tmp_path / "demo", "--short", "--seed", "7") as demo:
        demo.wait_for(
            f"{INCIDENT_ALERT} firing in Prometheus",
            lambda: _prometheus_firing(demo, INCIDENT_ALERT),
            90,
        )
        fired = demo.wait_for(
            f"{INCIDENT_ALERT} in Alertmanager", lambda: _alertmanager_has(demo, INCIDENT_ALERT), 30
        )
        assert fired[0]["labels"]["severity"] == "critical"
        assert fired[0]["labels"]["service"] == "agent-demo"
        firing = demo.wait_for(
            f"{INCIDENT_ALERT} firing in the Slack stand-in",
            lambda: _slack_messages(demo, INCIDENT_ALERT),
            30,
        )
        hub = demo.url("hub")
        for link in (
            f"[Runbook] {hub}/runbooks/{INCIDENT_ALERT}",
            f"[Dashboard] {demo.url('prometheus')}/graph?",
            f"[Status page] {hub}/status/public",
            f"[Error traces] {hub}/traces?service=agent-demo&status=error",
        ):
            assert link in firing[0]["text"], firing[0]["text"]
        demo.wait_for(
            "the incident on the public status page",
            lambda: _status_shows(demo, "llm-provider is down"),
            30,
        )
        runs = demo.wait_for(
            f"the notifier workflow started by a Grafana-style webhook of {INCIDENT_ALERT}",
            lambda: _notifier_runs(demo, INCIDENT_ALERT, "firing"),
            30,
        )
        run = demo.wait_for(
            "the notifier's run to finish", lambda: _run_finished(demo, runs[0]), 30
        )
        assert (run["workflow"], run["trigger"], run["status"]) == (
            "alert_notifier",
            "webhook",
            "succeeded",
        ), run
        assert [step["agent"] for step in run["steps"]] == ["notifier"], run
        traces = demo.wait_for(
            "the incident's error traces in the hub", lambda: _incident_error_traces(demo), 30
        )
        assert any(t["route"] == "/api/chat" for t in traces), traces[:5]
        demo.wait_for(
            f"{INCIDENT_ALERT} resolved in the Slack stand-in",
            lambda: any(t.startswith("[RESOLVED]") for t in _slack_titles(demo, INCIDENT_ALERT)),
            90,
        )
        titles = _slack_titles(demo, INCIDENT_ALERT)
        assert [t.split("]")[0] + "]" for t in titles] == ["[FIRING:1]", "[RESOLVED]"], titles
        assert demo.wait_for(
            f"the notifier's run for the resolved {INCIDENT_ALERT}",
            lambda: _notifier_runs(demo, INCIDENT_ALERT, "resolved"),
            30,
        )
        output = demo.interrupt()
    assert "INCIDENT" in output and "RECOVERY" in output, output
    assert "Traceback" not in output, output
    assert "stopped: every process of the demo has exited" in output, output
    assert demo.process.returncode == 0
    assert demo.leftovers() == []
