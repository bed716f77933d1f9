"""End to end: `agentwatch ops generate`'s Alertmanager config and hub.yaml, real processes.

The Debian ``prometheus-alertmanager`` runs the generated ``alertmanager.yml`` and a real
``agentwatch hub serve`` the generated ``hub/hub.yaml`` (SQLite in a temporary folder).
Everything the generator takes as options points at 127.0.0.1 (hub URL, SMTP host, the
service's health endpoints, secrets folder, the test profile's short grouping); hub.yaml
is rewritten in two places the generator does not take: the PagerDuty Events URL (a
local fake) and the CA file trusting the SMTP receiver's self-signed certificate. A
critical alert posted to Alertmanager's API, firing then resolved, reaches a fake Slack
webhook, a fake PagerDuty (Events API v2) and a real SMTP server (aiosmtpd, STARTTLS)
exactly once each.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from tests._health_servers import PG_DSN, REDIS_URL, require_postgres, require_redis
from tests._ops_stack import alertmanager_argv, process
from tests.hub._receivers import FakeReceiver, SmtpReceiver, wait_until
from tests.hub._support import HubProcess, free_port
from tests.hub._targets import Target

from agentwatch.hub.alerts.model import fingerprint
from agentwatch.ops import TEST_PROFILE, GenerateOptions, ReceiverOptions, generate, validate

SERVICE = "agent-api"
ALERT = {"alertname": "HighErrorRate", "severity": "critical", "service": SERVICE}
ROUTING_KEY = "r0ut1ngk3y00000000000000000000ab"
SECRETS = {
    "hub_intake_token": "intake-token-e2e",
    "hub_api_token": "api-token-e2e",
    "grafana_hmac_secret": "grafana-hmac-e2e",
    "pagerduty_routing_key": ROUTING_KEY,
    "postgres_dsn": PG_DSN,
    "redis_url": REDIS_URL,
}


def _write_secrets(folder: Path, slack_url: str) -> None:
    folder.mkdir()
    for name, value in {**SECRETS, "slack_webhook_url": slack_url}.items():
        (folder / name).write_text(value + "\n", encoding="utf-8")


def _options(tmp: Path, hub: str, am_port: int, smtp_port: int, service: str) -> GenerateOptions:
    secrets = str(tmp / "secrets")
    return GenerateOptions(
        service=SERVICE,
        packs=("http",),
        service_targets=(service,),
        alertmanager_targets=(f"127.0.0.1:{am_port}",),
        hub_url=hub,
        hub_public_url=hub,
        secrets_mount=secrets,
        receivers=ReceiverOptions(
            secrets_dir=secrets,
            smtp_smarthost=f"127.0.0.1:{smtp_port}",
            smtp_username="",  # aiosmtpd here takes mail without a login
            email_to="oncall@example.com",
        ),
        profile=TEST_PROFILE,
    )


def _point_at_fakes(hub_yaml: Path, pagerduty_url: str, ca_file: Path) -> None:
    config = yaml.safe_load(hub_yaml.read_text(encoding="utf-8"))
    for channel in config["notifications"]["channels"]:
        if channel["type"] == "pagerduty":
            channel["url"] = pagerduty_url
        if channel["type"] == "email":
            channel["ca_file"] = str(ca_file)
    hub_yaml.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _post_alert(am: str, ends: datetime.datetime | None = None) -> None:
    now = datetime.datetime.now(datetime.UTC)
    alert: dict[str, Any] = {
        "labels": ALERT,
        "annotations": {
            "summary": "5xx above 10% on agent-api",
            "description": "12% of requests failed over 5m",
            "runbook_url": "http://127.0.0.1/runbooks/HighErrorRate",
        },
        "startsAt": (now - datetime.timedelta(minutes=1)).isoformat(),
    }
    if ends is not None:
        alert["endsAt"] = ends.isoformat()
    response = httpx.post(f"{am}/api/v2/alerts", json=[alert], timeout=5)
    assert response.status_code == 200, response.text


def _monitors_up(hub: str) -> bool:
    headers = {"Authorization": f"Bearer {SECRETS['hub_api_token']}"}
    monitors = httpx.get(f"{hub}/api/v1/monitors", headers=headers, timeout=5).json()["monitors"]
    return len(monitors) == 4 and all(m["status"] == "up" for m in monitors)


def _outbox(hub: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {SECRETS['hub_api_token']}"}
    rows: list[dict[str, Any]] = httpx.get(
        f"{hub}/api/v1/outbox", headers=headers, timeout=5
    ).json()["rows"]
    return rows


def test_a_generated_stack_delivers_firing_and_resolved_once_to_each_channel(
    tmp_path: Path,
) -> None:
    require_postgres()
    require_redis()
    hub_port, am_port = free_port(), free_port()
    hub = f"http://127.0.0.1:{hub_port}"
    am = f"http://127.0.0.1:{am_port}"
    smtp = SmtpReceiver(tmp_path)
    with FakeReceiver() as slack, FakeReceiver(path="/v2/enqueue") as pagerduty, Target() as app:
        app.health("pass")
        try:
            _write_secrets(tmp_path / "secrets", slack.url)
            folder = tmp_path / "ops"
            service = app.url.removeprefix("http://")
            generate(folder, _options(tmp_path, hub, am_port, smtp.port, service))
            report = validate(folder)
            assert report.checks["hub check hub/hub.yaml"] == "ok"
            assert report.checks["amtool check-config"] == "ok"
            _point_at_fakes(folder / "hub/hub.yaml", pagerduty.url, smtp.cert)

            server = HubProcess(
                folder / "hub/hub.yaml",
                database=f"sqlite:///{tmp_path / 'hub.db'}",
                port=hub_port,
                log=tmp_path / "hub.log",
            )
            server.args += ["--host", "127.0.0.1"]
            with (
                server,
                process(
                    alertmanager_argv(
                        folder / "alertmanager/alertmanager.yml", tmp_path / "am", am_port
                    ),
                    tmp_path / "alertmanager.log",
                    f"{am}/-/ready",
                ),
            ):
                wait_until("the generated monitors up", lambda: _monitors_up(hub), timeout=20)
                _post_alert(am)
                wait_until(
                    "the firing at every channel",
                    lambda: _counts(slack, pagerduty, smtp) == (1, 1, 1),
                )
                _post_alert(am, ends=datetime.datetime.now(datetime.UTC))
                wait_until(
                    "the resolve at every channel",
                    lambda: _counts(slack, pagerduty, smtp) == (2, 2, 2),
                )
                settled = wait_until(
                    "the outbox settled",
                    lambda: (
                        (rows := _outbox(hub)) and all(r["state"] == "sent" for r in rows) and rows
                    ),
                )
                assert sorted(r["channel"] for r in settled) == sorted(
                    ["email", "email", "pagerduty", "pagerduty", "slack", "slack"]
                )
                # one more Alertmanager and hub group_interval (2s each): nothing is repeated
                time.sleep(5.0)
                assert _counts(slack, pagerduty, smtp) == (2, 2, 2)
        finally:
            smtp.close()
    _check_pagerduty(pagerduty)
    _check_slack(slack)
    _check_email(smtp.messages, smtp.tls_sessions)


def _counts(slack: FakeReceiver, pagerduty: FakeReceiver, smtp: SmtpReceiver) -> tuple[int, ...]:
    return len(slack.requests), len(pagerduty.requests), len(smtp.messages)


def _check_pagerduty(pagerduty: FakeReceiver) -> None:
    trigger, resolve = (r.json() for r in pagerduty.requests)
    group = fingerprint({"alertname": ALERT["alertname"], "service": SERVICE})
    assert [trigger["event_action"], resolve["event_action"]] == ["trigger", "resolve"]
    assert trigger["routing_key"] == resolve["routing_key"] == ROUTING_KEY
    assert trigger["dedup_key"] == resolve["dedup_key"] == group
    payload = trigger["payload"]
    assert payload["summary"] == "[FIRING:1] HighErrorRate · agent-api (critical)"
    assert payload["severity"] == "critical" and payload["source"] == SERVICE
    alert = payload["custom_details"]["alerts"][0]
    assert alert["fingerprint"] == fingerprint(ALERT)  # Alertmanager's fingerprint
    assert pagerduty.requests[0].headers.get("X-Agentwatch-Idempotency-Key")


def _check_slack(slack: FakeReceiver) -> None:
    firing, resolved = (r.json() for r in slack.requests)
    assert firing["text"].startswith("[FIRING:1] HighErrorRate")
    assert resolved["text"].startswith("[RESOLVED] HighErrorRate")
    assert "5xx above 10% on agent-api" in str(firing["blocks"])


def _check_email(messages: list[Any], tls: list[bool]) -> None:
    subjects = [m["Subject"] for m in messages]
    assert subjects == [
        "[FIRING:1] HighErrorRate · agent-api (critical)",
        "[RESOLVED] HighErrorRate · agent-api (critical)",
    ]
    assert all(m["To"] == "oncall@example.com" for m in messages)
    assert tls == [True, True]
