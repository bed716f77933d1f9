"""Alerts in, notifications out: intake, storage, a route, the outbox, webhook and Slack."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from tests.hub._receivers import FakeReceiver, eventually
from tests.hub._support import running_hub

from agentwatch.hub.alerts import verify_signature
from agentwatch.hub.alerts.model import fingerprint
from agentwatch.hub.alerts.tables import outbox
from agentwatch.hub.store import Database

TOKEN = "intake-t0ken"
FAST = "group_wait: 0.2s\n  group_interval: 0.3s\n  repeat_interval: 1h"


def hub_yaml(tmp_path: Path, channels: str, routes: str = "", extra: str = "") -> str:
    (tmp_path / "intake_token").write_text(TOKEN)
    (tmp_path / "hook_secret").write_text("h00k-secret")
    return (
        "intake: {token_file: intake_token}\n"
        f"notifications:\n  {FAST}\n"
        "  outbox: {retry_initial: 0.1s, retry_max: 1s}\n"
        f"  channels:\n{channels}" + (f"  routes:\n{routes}" if routes else "") + extra
    )


def alert(status: str = "firing", **labels: str) -> dict[str, object]:
    return {
        "labels": {
            "alertname": "HighErrorRate",
            "service": "api",
            "severity": "critical",
            **labels,
        },
        "annotations": {
            "summary": "api: more than 10% of requests fail",
            "description": "12% of requests answered 5xx in the last 5 minutes",
            "runbook_url": "http://runbooks.example/HighErrorRate",
        },
        "status": status,
    }


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_generic_alert_is_delivered_once_to_webhook_and_slack_then_resolved(
    tmp_path: Path,
) -> None:
    with FakeReceiver() as hook, FakeReceiver() as slack:
        channels = (
            f"    - {{name: notifier, type: webhook, url: '{hook.url}', secret_file: hook_secret}}\n"
            f"    - {{name: oncall, type: slack, url: '{slack.url}'}}\n"
        )
        routes = "    - {match: {severity: critical}, channels: [notifier, oncall]}\n"
        async with running_hub(tmp_path, hub_yaml(tmp_path, channels, routes)) as (hub, client):
            auth = {"Authorization": f"Bearer {TOKEN}"}
            answer = await client.post("/api/v1/alerts", json=alert(), headers=auth)
            assert answer.status_code == 200 and answer.json() == {"accepted": 1, "changed": 1}
            stored = (await client.get("/api/v1/alerts", headers=auth)).json()["alerts"]
            assert [a["status"] for a in stored] == ["firing"]
            (fired,) = await hook.arrive(1)
            await slack.arrive(1)
            await client.post("/api/v1/alerts", json=alert("resolved"), headers=auth)
            resolved = (await hook.arrive(2))[1]
            await slack.arrive(2)
            await eventually("the resolve recorded", lambda: _sent(hub, 4))
    body = fired.json()
    assert body["status"] == "firing" and body["reason"] == "first"
    (only,) = body["alerts"]
    fp = fingerprint(only["labels"])
    assert only["fingerprint"] == fp and only["links"]["runbook"].endswith("/HighErrorRate")
    assert only["links"]["alert"] == f"http://127.0.0.1:9800/alerts/{fp}"
    assert verify_signature("h00k-secret", fired.headers["X-Agentwatch-Signature"], fired.body)
    assert not verify_signature("wrong", fired.headers["X-Agentwatch-Signature"], fired.body)
    assert fired.headers["X-Agentwatch-Idempotency-Key"] == body["key"]
    assert body["key"].startswith(f"{body['group']['fingerprint']}:firing:notifier:")
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["alerts"][0]["status"] == "resolved"
    assert len(hook.requests) == 2 and len(slack.requests) == 2  # exactly once each
    fired_slack = slack.requests[0].json()
    assert fired_slack["text"] == "[FIRING:1] HighErrorRate · api (critical)"
    header, section = fired_slack["blocks"][0], fired_slack["blocks"][1]
    assert header["type"] == "header" and "HighErrorRate" in header["text"]["text"]
    assert "more than 10% of requests fail" in section["text"]["text"]
    buttons = fired_slack["blocks"][2]["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Runbook", "Alert in the hub"]
    assert slack.requests[1].json()["text"].startswith("[RESOLVED] HighErrorRate")


def _sent(hub: object, count: int) -> bool:
    registry = hub.context.registry  # type: ignore[attr-defined]
    total = sum(
        sample(registry, "agentwatch_notifications_total", channel=c, result="sent")
        for c in ("notifier", "oncall")
    )
    return total >= count


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer nope"}, 401),
        ({"Authorization": f"Bearer {TOKEN}"}, 200),
    ],
)
async def test_alertmanager_intake_needs_the_intake_token(
    tmp_path: Path, headers: dict[str, str], status: int
) -> None:
    body = {"version": "4", "status": "firing", "alerts": [alert()]}
    async with running_hub(tmp_path, hub_yaml(tmp_path, "    []\n")) as (_hub, client):
        answer = await client.post("/api/v1/alerts/alertmanager", json=body, headers=headers)
        assert answer.status_code == status, answer.text
        if status == 401:
            assert "intake.token_file" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "4", "alerts": [{"status": "firing"}]}, "alerts[0].labels"),
        ({"version": "4", "alerts": [{**alert(), "status": "burning"}]}, "alerts[0].status"),
        (
            {"version": "4", "alerts": [alert(), {**alert(), "labels": {"a": 5}}]},
            "alerts[1].labels.a",
        ),
        ({"version": "4", "alerts": [{**alert(), "startsAt": "yesterday"}]}, "alerts[0].startsAt"),
        ({"version": "4"}, "alerts"),
        ({"version": "3", "alerts": []}, "version"),
    ],
)
async def test_a_malformed_body_is_refused_naming_the_field_and_nothing_is_stored(
    tmp_path: Path, body: dict[str, object], field: str
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with running_hub(tmp_path, hub_yaml(tmp_path, "    []\n")) as (_hub, client):
        answer = await client.post("/api/v1/alerts/alertmanager", json=body, headers=auth)
        assert answer.status_code == 400
        assert answer.json()["error"]["field"] == field
        assert (await client.get("/api/v1/alerts", headers=auth)).json()["alerts"] == []


async def test_not_json_is_400(tmp_path: Path) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    async with running_hub(tmp_path, hub_yaml(tmp_path, "    []\n")) as (_hub, client):
        answer = await client.post("/api/v1/alerts", content=b"{nope", headers=auth)
        assert answer.status_code == 400 and "not valid JSON" in answer.json()["error"]["message"]


async def test_503_then_429_retry_after_then_200_is_delivered_once_after_the_wait(
    tmp_path: Path,
) -> None:
    with FakeReceiver([503, (429, {"Retry-After": "2"}), 200]) as hook:
        channels = f"    - {{name: notifier, type: webhook, url: '{hook.url}'}}\n"
        async with running_hub(tmp_path, hub_yaml(tmp_path, channels)) as (hub, client):
            auth = {"Authorization": f"Bearer {TOKEN}"}
            await client.post("/api/v1/alerts", json=alert(), headers=auth)
            await hook.arrive(1, timeout=20)
            registry = hub.context.registry
            await eventually(
                "the delivery recorded",
                lambda: sample(
                    registry, "agentwatch_notifications_total", channel="notifier", result="sent"
                ),
            )
            failed = sample(
                registry, "agentwatch_notifications_total", channel="notifier", result="failed"
            )
            sent_rows = (await client.get("/api/v1/outbox?state=sent", headers=auth)).json()["rows"]
    statuses = [r.status for r in hook.requests]
    assert statuses == [503, 429, 200]
    assert hook.requests[2].at - hook.requests[1].at >= 2.0  # Retry-After honoured
    assert hook.requests[1].at - hook.requests[0].at < 2.0  # the 503 had no Retry-After
    assert failed == 2
    assert len({r.headers["X-Agentwatch-Idempotency-Key"] for r in hook.requests}) == 1
    (row,) = sent_rows
    assert row["attempts"] == 3 and row["last_error"] is None
    assert json.loads(hook.requests[2].body)["key"] == row["key"]


async def test_default_routes_follow_the_severity_table(tmp_path: Path) -> None:
    with FakeReceiver() as slack, FakeReceiver() as pager, FakeReceiver() as hook:
        channels = (
            f"    - {{name: oncall, type: slack, url: '{slack.url}'}}\n"
            f"    - {{name: pager, type: pagerduty, routing_key: key, url: '{pager.url}'}}\n"
            f"    - {{name: notifier, type: webhook, url: '{hook.url}'}}\n"
        )
        async with running_hub(tmp_path, hub_yaml(tmp_path, channels)) as (_hub, client):
            auth = {"Authorization": f"Bearer {TOKEN}"}
            warning = alert(severity="warning", alertname="SlowRequests")
            info = alert(severity="info", alertname="Deployed")
            for body in (alert(), warning, info):
                assert (
                    await client.post("/api/v1/alerts", json=body, headers=auth)
                ).status_code == 200
            await hook.arrive(3)
            await slack.arrive(2)
            await pager.arrive(1)
    assert sorted(r.json()["alerts"][0]["labels"]["severity"] for r in hook.delivered) == [
        "critical",
        "info",
        "warning",
    ]
    assert len(pager.requests) == 1 and pager.requests[0].json()["event_action"] == "trigger"
    assert sorted(r.json()["text"].split()[1] for r in slack.requests) == [
        "HighErrorRate",
        "SlowRequests",
    ]


async def test_unauthenticated_reads_are_refused(tmp_path: Path) -> None:
    (tmp_path / "api_token").write_text("api")
    config = hub_yaml(tmp_path, "    []\n") + "api: {token_file: api_token}\n"
    async with running_hub(tmp_path, config) as (_hub, client):
        for path in ("/api/v1/alerts", "/api/v1/outbox", "/api/v1/silences"):
            assert (await client.get(path)).status_code == 401
        ok = await client.get("/api/v1/outbox", headers={"Authorization": "Bearer api"})
        assert ok.status_code == 200
        # the API token is accepted by the intake too
        posted = await client.post(
            "/api/v1/alerts", json=alert(), headers={"Authorization": "Bearer api"}
        )
        assert posted.status_code == 200
    _ = httpx  # the client type used by running_hub


async def test_a_hub_stopped_right_after_a_send_records_it(tmp_path: Path) -> None:
    """The sends that ended are recorded when the hub stops (not left ``sending`` for the
    next start to repeat)."""
    with FakeReceiver() as hook:
        channels = f"    - {{name: notifier, type: webhook, url: '{hook.url}'}}\n"
        routes = "    - {match: {severity: critical}, channels: [notifier]}\n"
        async with running_hub(tmp_path, hub_yaml(tmp_path, channels, routes)) as (_hub, client):
            auth = {"Authorization": f"Bearer {TOKEN}"}
            await client.post("/api/v1/alerts", json=alert(), headers=auth)
            await hook.arrive(1)
    db = Database.open(f"sqlite:///{tmp_path}/hub.db")
    try:
        async with db.read() as conn:
            rows = (await conn.execute(sa.select(outbox.c.state, outbox.c.attempts))).all()
    finally:
        await db.close()
    assert [tuple(r) for r in rows] == [("sent", 1)]
