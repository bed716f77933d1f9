"""The demo's parts one by one: the Slack stand-in, the incident, the figures, the configs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from agentwatch.demo.figures import MetricsWindow, quantile
from agentwatch.demo.hubconfig import HubPlan, hub_config
from agentwatch.demo.incident import IncidentShape, Timeline
from agentwatch.demo.llm_server import SimConfig, create_llm_app
from agentwatch.demo.opsconfig import SHORT_PROFILE, OpsTargets, options
from agentwatch.demo.serving import BackgroundServer
from agentwatch.demo.slack import SlackStandIn, render_message, shorten_links
from agentwatch.demo.watch import AlertState, Snapshot, changes
from agentwatch.hub.config import root
from agentwatch.hub.configfile import parse_config
from agentwatch.ops import generate

BLOCKS = {
    "text": "FIRING LLMProviderDown",
    "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Firing: LLMProviderDown"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*agent-demo*: provider failing"},
            "fields": [{"type": "mrkdwn", "text": "*Severity*\ncritical"}],
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "<http://hub/traces/ab|trace ab>"}],
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Runbook"},
                    "url": "http://rb",
                }
            ],
        },
    ],
}


def test_slack_stand_in_speaks_the_incoming_webhook_protocol() -> None:
    received: list[str] = []
    slack = SlackStandIn(on_message=lambda message: received.append(message.text)).start()
    try:
        with httpx.Client(base_url=slack.url, timeout=5) as client:
            ok = client.post(slack.webhook_url, json=BLOCKS)
            form = client.post(
                slack.webhook_url, data={"payload": json.dumps({"text": "plain <http://x|x>"})}
            )
            bad = client.post(
                slack.webhook_url,
                content=b"{not json",
                headers={"Content-Type": "application/json"},
            )
            empty = client.post(slack.webhook_url, json={"channel": "#alerts"})
            elsewhere = client.post("/api/chat.postMessage", json={"text": "hi"})
            listing = client.get("/messages").json()["messages"]
    finally:
        slack.stop()
    assert (ok.status_code, ok.text) == (200, "ok")
    assert (form.status_code, form.text) == (200, "ok")
    assert (bad.status_code, bad.text) == (400, "invalid_payload")
    assert (empty.status_code, empty.text) == (400, "no_text")
    assert (elsewhere.status_code, elsewhere.text) == (404, "no_service")
    assert [m["payload"] for m in listing] == [BLOCKS, {"text": "plain <http://x|x>"}]
    assert received == [render_message(BLOCKS), "plain x (http://x)"]
    assert received[0].splitlines() == [
        "FIRING: LLMPROVIDERDOWN",
        "agent-demo: provider failing",
        "Severity: critical",
        "trace ab (http://hub/traces/ab)",
        "[Runbook] http://rb",
    ]


def test_the_terminal_shows_long_links_cut_after_their_path() -> None:
    dashboard = "http://127.0.0.1:9090/graph?" + "g0.expr=" + "x" * 200
    text = f"[Runbook] http://hub/runbooks/A  [Dashboard] {dashboard}"
    assert shorten_links(text) == (
        "[Runbook] http://hub/runbooks/A  [Dashboard] http://127.0.0.1:9090/graph?…"
    )
    assert shorten_links("see http://h/" + "p" * 100).endswith("…")


def test_the_incident_waits_for_the_demo_to_start_its_clock() -> None:
    waiting = Timeline(started_at=float("inf"), incident_at=0, incident_seconds=60)
    server = BackgroundServer(create_llm_app(SimConfig(seed=1, incident=waiting))).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            before = client.get("/v1/models").status_code
            started = client.post("/demo/clock", json={"started_at": time.time()})
            during = client.get("/v1/models").status_code
            refused = client.post("/demo/clock", json={"started": 1}).status_code
    finally:
        server.stop()
    assert (before, started.status_code, during, refused) == (200, 200, 503, 400)
    assert started.json()["ends"] - started.json()["starts"] == 60
    no_incident = BackgroundServer(create_llm_app(SimConfig(seed=1))).start()
    try:
        answer = httpx.post(f"{no_incident.url}/demo/clock", json={"started_at": 1.0})
    finally:
        no_incident.stop()
    assert answer.status_code == 404


def test_the_incident_fails_the_openai_api_and_not_the_fallback() -> None:
    now = time.time()
    shape = IncidentShape(slow_seconds=0.05)
    incident = Timeline(started_at=now - 10, incident_at=5, incident_seconds=60, shape=shape)
    assert incident.phase(now) == "incident"
    assert Timeline(now, 5, 60).phase(now) == "before"
    assert Timeline(now - 100, 5, 60).phase(now) == "after"
    server = BackgroundServer(create_llm_app(SimConfig(seed=1, incident=incident))).start()
    chat = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
    }
    message = {
        "model": "claude-haiku-4-5",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            models = client.get("/v1/models")
            statuses = {
                client.post("/v1/chat/completions", json=chat).status_code for _ in range(30)
            }
            fallback = client.post("/v1/messages", json=message)
    finally:
        server.stop()
    assert models.status_code == 503
    assert statuses == {500, 504}
    assert fallback.status_code == 200


def _exposition(ok: int, failed: int, durations: list[float]) -> str:
    registry = CollectorRegistry()
    requests = Counter("http_requests", "", ["status"], registry=registry)
    requests.labels("200").inc(ok)
    requests.labels("502").inc(failed)
    latency = Histogram(
        "http_request_duration_seconds", "", buckets=(0.5, 1.0, 5.0), registry=registry
    )
    for value in durations:
        latency.observe(value)
    return generate_latest(registry).decode()


def test_the_window_computes_rate_error_share_and_p95_as_promql_would() -> None:
    window = MetricsWindow(seconds=10)
    window.add(100.0, _exposition(10, 0, [0.1] * 10))
    window.add(105.0, _exposition(50, 10, [0.1] * 30 + [2.0] * 20))
    figures = window.figures()
    assert figures is not None
    assert figures.requests_per_second == pytest.approx(50 / 5)
    assert figures.error_rate == pytest.approx(10 / 50)
    # 40 new observations: 20 in (0, 0.5], 20 in (1, 5]; the 38th lies 18/20 into (1, 5]
    assert figures.p95_seconds == pytest.approx(1.0 + 4.0 * 18 / 20)
    assert quantile(0.5, {}) is None


def _generated_hub_yaml(tmp_path: Path) -> dict[str, Any]:
    """The hub/hub.yaml ``agentwatch ops generate`` writes with the demo's options."""
    targets = OpsTargets("127.0.0.1:8000", "127.0.0.1:9800", "127.0.0.1:9090", "127.0.0.1:9093")
    generate(tmp_path / "ops", options(targets, SHORT_PROFILE, tmp_path / "secrets"))
    return dict(yaml.safe_load((tmp_path / "ops" / "hub" / "hub.yaml").read_text()))


def _plan(tmp_path: Path) -> HubPlan:
    return HubPlan(
        hub_port=9800,
        database_url=f"sqlite:///{tmp_path}/hub.db",
        service_url="http://127.0.0.1:8000",
        llm_url="http://127.0.0.1:8001",
        slack_webhook_url="http://127.0.0.1:8002/services/T/B/x",
        secrets_dir=tmp_path / "secrets",
        prometheus_url="http://127.0.0.1:9090",
        alertmanager_url="http://127.0.0.1:9093",
    )


@pytest.mark.parametrize(
    ("keys", "sections"),
    [
        (frozenset(), ["server"]),
        (frozenset({"monitors"}), ["server", "monitors"]),
        (
            frozenset({"monitors", "status_pages", "intake", "notifications", "traces"}),
            ["server", "monitors", "status_pages", "intake", "notifications", "traces"],
        ),
    ],
)
def test_hub_yaml_has_the_sections_of_the_installed_parts(
    tmp_path: Path, keys: frozenset[str], sections: list[str]
) -> None:
    config = hub_config(_plan(tmp_path), _generated_hub_yaml(tmp_path), keys)
    assert list(config) == sections
    if "monitors" in config:
        names = [monitor["name"] for monitor in config["monitors"]]
        assert names == ["api", "api-health", "llm-provider", "prometheus", "alertmanager"]
    if "notifications" in config:
        notifier = config["notifications"]["channels"][1]
        assert (notifier["name"], notifier["format"]) == ("notifier", "grafana")
        assert Path(notifier["secret_file"]).stat().st_mode & 0o777 == 0o600
        routes = {r["match"]["severity"]: r["channels"] for r in config["notifications"]["routes"]}
        assert routes == {"critical": ["notifier", "slack"], "warning": ["slack"]}
        assert config["notifications"]["inhibit"][0]["source_match"] == {"severity": "critical"}
    if "intake" in config:
        for key in ("token_file", "grafana_hmac_secret_file"):
            assert Path(config["intake"][key]).parent == tmp_path / "secrets"
            assert Path(config["intake"][key]).stat().st_mode & 0o777 == 0o600


def test_the_installed_hub_accepts_the_demo_hub_yaml(tmp_path: Path) -> None:
    text = yaml.safe_dump(hub_config(_plan(tmp_path), _generated_hub_yaml(tmp_path)))
    path = tmp_path / "hub.yaml"
    path.write_text(text)
    config = parse_config(root(yaml.safe_load(text), file=str(path)))
    assert config.server.port == 9800


def test_changes_tell_the_story() -> None:
    firing = (AlertState("LLMProviderDown", "critical", "firing"),)
    before = Snapshot(0.0, "before", monitors={"api-health": "up"})
    during = Snapshot(1.0, "incident", monitors={"api-health": "degraded"}, rules=firing)
    after = Snapshot(2.0, "after", monitors={"api-health": "up"})
    assert changes(before, during) == [
        "INCIDENT: the LLM provider's OpenAI API starts failing (errors, slow answers)",
        "hub monitor api-health: up -> degraded",
        "Prometheus: LLMProviderDown (critical) firing",
    ]
    assert changes(during, after) == [
        "RECOVERY: the LLM provider answers normally again",
        "hub monitor api-health: degraded -> up",
        "Prometheus: LLMProviderDown (critical) resolved",
    ]


def test_the_hubs_grafana_webhook_is_what_the_notifier_reads() -> None:
    from agentwatch.demo.notifier import notices_of, shape_of
    from agentwatch.hub.alerts.channels.webhook import grafana_body
    from agentwatch.hub.alerts.message import AlertView, Notification

    alert = AlertView(
        fingerprint="f1",
        status="firing",
        labels={"alertname": "LLMProviderDown", "severity": "critical", "service": "agent-demo"},
        annotations={"summary": "openai failing", "runbook_url": "http://hub/runbooks/x"},
        starts_at=1_700_000_000.0,
        links={"dashboard": "http://prom/graph", "runbook": "http://hub/runbooks/x"},
    )
    notification = Notification(
        key="k",
        channel="notifier",
        status="firing",
        group_fingerprint="g",
        group_labels={"alertname": "LLMProviderDown"},
        alerts=(alert,),
        created_at=1_700_000_001.0,
        hub_url="http://hub",
    )
    body = grafana_body(notification)
    assert (body["version"], body["orgId"], body["state"]) == ("1", 1, "alerting")
    assert body["alerts"][0]["dashboardURL"] == "http://prom/graph"
    assert "Runbook: http://hub/runbooks/x" in body["message"]
    assert shape_of(body) == "grafana"
    assert notices_of(body)[0].text() == (
        "[firing] LLMProviderDown (critical) on agent-demo: openai failing"
    )
