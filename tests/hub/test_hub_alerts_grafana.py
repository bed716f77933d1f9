"""Grafana's webhook intake: an HMAC over ``"<timestamp>:<body>"``, replays refused; a bad
signature, an old timestamp or a wrong token stores nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
from tests.hub._support import running_hub

SECRET = "gr4fana-secret"
TOKEN = "intake-t0ken"
SIGNATURE, TIMESTAMP = "X-Grafana-Alerting-Signature", "X-Grafana-Alerting-Timestamp"


def _config(tmp_path: Path) -> str:
    (tmp_path / "intake_token").write_text(TOKEN)
    (tmp_path / "grafana_hmac").write_text(SECRET + "\n")
    return (
        "intake: {token_file: intake_token, grafana_hmac_secret_file: grafana_hmac}\n"
        "notifications: {channels: []}\n"
    )


def _body() -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": "CPUHigh", "grafana_folder": "infra", "severity": "warning"},
        "annotations": {"summary": "cpu over 90%"},
        "startsAt": "2026-12-06T20:00:00Z",
        "dashboardURL": "http://grafana.example/d/abc",
        "panelURL": "http://grafana.example/d/abc?viewPanel=2",
    }
    return json.dumps({"receiver": "hub", "status": "firing", "alerts": [alert]}).encode()


def _signed(body: bytes, stamp: int, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {SIGNATURE: digest, TIMESTAMP: str(stamp), "content-type": "application/json"}


async def test_a_signed_grafana_alert_is_stored_with_its_links(tmp_path: Path) -> None:
    async with running_hub(tmp_path, _config(tmp_path)) as (_hub, client):
        body = _body()
        answer = await client.post(
            "/api/v1/alerts/grafana", content=body, headers=_signed(body, int(time.time()))
        )
        assert answer.status_code == 200, answer.text
        auth = {"Authorization": f"Bearer {TOKEN}"}
        (stored,) = (await client.get("/api/v1/alerts", headers=auth)).json()["alerts"]
    assert stored["labels"]["alertname"] == "CPUHigh" and stored["source"] == "grafana"
    assert stored["links"]["dashboard"] == "http://grafana.example/d/abc"


def _tampered(body: bytes) -> dict[str, str]:
    """Headers signing another body (an alert renamed on the way)."""
    return _signed(body.replace(b"CPUHigh", b"CPULow"), int(time.time()))


@pytest.mark.parametrize(
    ("case", "headers", "says"),
    [
        ("wrong secret", lambda b: _signed(b, int(time.time()), "guess"), "does not match"),
        ("signature of another body", _tampered, "does not match"),
        ("replay 6 minutes old", lambda b: _signed(b, int(time.time()) - 360), "replay window"),
        ("from 6 minutes ahead", lambda b: _signed(b, int(time.time()) + 360), "replay window"),
        ("no signature", lambda b: {TIMESTAMP: str(int(time.time()))}, SIGNATURE),
        ("no timestamp", lambda b: {SIGNATURE: _signed(b, 1)[SIGNATURE]}, TIMESTAMP),
        ("only the intake token", lambda b: {"Authorization": f"Bearer {TOKEN}"}, SIGNATURE),
    ],
)
async def test_a_bad_or_old_signature_is_401_and_stores_nothing(
    tmp_path: Path, case: str, headers: object, says: str
) -> None:
    body = _body()
    async with running_hub(tmp_path, _config(tmp_path)) as (_hub, client):
        answer = await client.post(
            "/api/v1/alerts/grafana",
            content=body,
            headers=headers(body),  # type: ignore[operator]
        )
        auth = {"Authorization": f"Bearer {TOKEN}"}
        stored = (await client.get("/api/v1/alerts", headers=auth)).json()["alerts"]
    assert answer.status_code == 401, f"{case}: {answer.text}"
    assert says in answer.json()["error"]["message"], case
    assert stored == [], case


async def test_a_signed_but_malformed_grafana_body_is_400_naming_the_field(
    tmp_path: Path,
) -> None:
    body = json.dumps({"alerts": [{"status": "firing", "labels": {"alertname": 3}}]}).encode()
    async with running_hub(tmp_path, _config(tmp_path)) as (_hub, client):
        answer = await client.post(
            "/api/v1/alerts/grafana", content=body, headers=_signed(body, int(time.time()))
        )
        auth = {"Authorization": f"Bearer {TOKEN}"}
        stored = (await client.get("/api/v1/alerts", headers=auth)).json()["alerts"]
    assert answer.status_code == 400
    assert answer.json()["error"]["field"] == "alerts[0].labels.alertname"
    assert stored == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}])
async def test_a_bad_intake_token_is_401_and_stores_nothing(
    tmp_path: Path, headers: dict[str, str]
) -> None:
    alert = {"labels": {"alertname": "X"}, "status": "firing"}
    async with running_hub(tmp_path, _config(tmp_path)) as (_hub, client):
        for path, body in (
            ("/api/v1/alerts/alertmanager", {"version": "4", "alerts": [alert]}),
            ("/api/v1/alerts", alert),
        ):
            answer = await client.post(path, json=body, headers=headers)
            assert answer.status_code == 401, path
            assert answer.headers["www-authenticate"].startswith("Bearer")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.get("/api/v1/alerts", headers=auth)).json()["alerts"] == []
