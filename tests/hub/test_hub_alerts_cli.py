"""The alerts commands against a real hub process: ``silence add``, ``alert ack``,
``outbox list --state dead`` and ``outbox retry ID|--all``, with what ``/metrics`` counts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.hub._receivers import FakeReceiver, wait_until
from tests.hub._support import HubProcess

from agentwatch.hub.alerts.model import fingerprint

TOKEN = "api-t0ken"


class Setup(NamedTuple):
    hub: HubProcess
    hook: FakeReceiver  # everything but alertname=~Dead.*
    broken: FakeReceiver  # alertname=~Dead.*: 404 (dead at once) until told otherwise
    token_file: Path


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    (tmp_path / "api_token").write_text(TOKEN)
    with FakeReceiver() as hook, FakeReceiver(default=404) as broken:
        config = tmp_path / "hub.yaml"
        config.write_text(
            "api: {token_file: api_token}\n"
            "notifications:\n"
            "  group_by: ['...']\n"
            "  group_wait: 0s\n  group_interval: 0.3s\n  repeat_interval: 1h\n"
            "  outbox: {retry_initial: 0.1s}\n"
            "  channels:\n"
            f"    - {{name: hook, type: webhook, url: '{hook.url}'}}\n"
            f"    - {{name: broken, type: webhook, url: '{broken.url}'}}\n"
            "  routes:\n"
            "    - {match_re: {alertname: 'Dead.*'}, channels: [broken]}\n"
            "    - {match_re: {alertname: '.+'}, channels: [hook]}\n"
        )
        env = {"XDG_STATE_HOME": str(tmp_path / "state")}
        database = f"sqlite:///{tmp_path}/hub.db"
        with HubProcess(config, database=database, env=env, log=tmp_path / "hub.log") as hub:
            yield Setup(hub, hook, broken, tmp_path / "api_token")


def run(setup: Setup, *args: str) -> subprocess.CompletedProcess[str]:
    """``agentwatch hub ARGS --hub URL --token-file FILE``."""
    client = ("--hub", setup.hub.url, "--token-file", str(setup.token_file))
    command = (sys.executable, "-m", "agentwatch", "hub", *args, *client)
    return subprocess.run(command, capture_output=True, text=True, timeout=30, env=os.environ)


def cli(setup: Setup, *args: str) -> str:
    """:func:`run`'s output (exit 0 required)."""
    done = run(setup, *args)
    assert done.returncode == 0, f"agentwatch hub {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def api(setup: Setup, method: str, path: str, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return httpx.request(method, setup.hub.url + path, headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


def post(setup: Setup, *names: str) -> list[str]:
    """Alerts by name through the Alertmanager intake; their fingerprints."""
    labels = [{"alertname": n, "service": "api", "severity": "critical"} for n in names]
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": x} for x in labels],
    }
    assert api(setup, "POST", "/api/v1/alerts/alertmanager", json=body).status_code == 200
    return [fingerprint(x) for x in labels]


def notifications(setup: Setup) -> dict[tuple[str, str], float]:
    """``agentwatch_notifications_total`` of the hub's ``/metrics``, by (channel, result)."""
    text = api(setup, "GET", "/metrics").text
    return {
        (s.labels["channel"], s.labels["result"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "agentwatch_notifications"
        for s in family.samples
        if s.name == "agentwatch_notifications_total"
    }


def told(receiver: FakeReceiver) -> list[tuple[str, str]]:
    """(alertname, status) of every delivered notification."""
    return [
        (a["labels"]["alertname"], r.json()["status"])
        for r in receiver.delivered
        for a in r.json()["alerts"]
    ]


@pytest.mark.timeout(90)
def test_silence_add_holds_an_alert_and_ack_tells_the_channel(setup: Setup) -> None:
    out = cli(setup, "silence", "add", "--match", "alertname=Quiet", "--for", "2h")
    assert out.startswith("silence 1 added for 2h")
    quiet, loud = post(setup, "Quiet", "Loud")
    setup.hook.wait_for(1, what="the unsilenced alert")
    listed = {a["fingerprint"]: a for a in api(setup, "GET", "/api/v1/alerts").json()["alerts"]}
    rows = api(setup, "GET", "/api/v1/outbox").json()["rows"]
    assert listed[quiet]["mutedBy"] == "silenced by #1" and listed[loud]["mutedBy"] is None
    assert [r["alerts"] for r in rows] == [[loud]]  # the silenced alert made no row
    assert 'alertname="Quiet"' in cli(setup, "silence", "list")

    out = cli(setup, "alert", "ack", loud, "--by", "ana", "--comment", "on it")
    assert out == f"alert {loud} acknowledged; 1 channels told\n"
    setup.hook.wait_for(2, what="the acknowledgement")
    assert told(setup.hook) == [("Loud", "firing"), ("Loud", "acknowledged")]
    acked = api(setup, "GET", f"/api/v1/alerts/{loud}").json()["acknowledged"]
    assert acked["by"] == "ana" and acked["comment"] == "on it"

    cli(setup, "silence", "expire", "1")
    setup.hook.wait_for(3, what="the alert released by the expired silence")
    assert told(setup.hook)[2] == ("Quiet", "firing")


def _dead(setup: Setup, count: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = wait_until(
        f"{count} dead rows",
        lambda: (
            found
            if len(found := api(setup, "GET", "/api/v1/outbox?state=dead").json()["rows"]) >= count
            else None
        ),
    )
    return rows


@pytest.mark.timeout(90)
def test_a_dead_lettered_row_is_listed_counted_and_resent_by_outbox_retry(setup: Setup) -> None:
    (first,) = post(setup, "DeadOne")
    (row,) = _dead(setup, 1)
    assert row["alerts"] == [first] and row["channel"] == "broken"
    assert "answered 404" in str(row["last_error"])
    assert notifications(setup)[("broken", "dead")] == 1
    assert f"{row['id']:>8}  dead" in cli(setup, "outbox", "list", "--state", "dead")

    setup.broken.default = 200
    out = cli(setup, "outbox", "retry", str(row["id"]))
    assert out == f"1 row back to pending: [{row['id']}]\n"
    setup.broken.wait_for(1, what="the retried row")
    wait_until("the retry recorded", lambda: notifications(setup).get(("broken", "sent")) == 1)
    assert api(setup, "GET", "/api/v1/outbox?state=dead").json()["rows"] == []

    setup.broken.default = 404
    post(setup, "DeadTwo", "DeadThree")
    dead = _dead(setup, 2)
    setup.broken.default = 200
    out = cli(setup, "outbox", "retry", "--all")
    assert out.startswith("2 rows back to pending")
    setup.broken.wait_for(3, what="every retried row")
    wait_until("the retries recorded", lambda: notifications(setup).get(("broken", "sent")) == 3)
    counted = notifications(setup)
    assert counted[("broken", "dead")] == 3 and ("hook", "sent") not in counted
    assert sorted(told(setup.broken)) == [
        ("DeadOne", "firing"),
        ("DeadThree", "firing"),
        ("DeadTwo", "firing"),
    ]
    assert {str(r["id"]) for r in dead} <= set(out.split("[", 1)[1].strip("]\n").split(", "))
    statuses = [r.status for r in setup.broken.requests]
    assert statuses.count(404) == 3 and statuses.count(200) == 3  # one attempt each, no retries


def test_outbox_retry_of_a_row_that_is_not_dead_says_so(setup: Setup) -> None:
    done = run(setup, "outbox", "retry", "999")
    assert done.returncode == 1
    assert "no dead outbox row 999" in done.stdout
