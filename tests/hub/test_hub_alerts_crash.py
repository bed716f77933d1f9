"""``kill -9`` of a real hub process in the middle of a storm: every accepted alert arrives."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
from tests.hub._receivers import FakeReceiver, wait_until
from tests.hub._support import HubProcess

TOKEN = "crash-t0ken"
ALERTS, BATCH = 240, 20
WORKERS = 4  # rows a channel sends at once: what one kill may repeat at most


def _config(tmp_path: Path, url: str) -> Path:
    (tmp_path / "intake_token").write_text(TOKEN)
    path = tmp_path / "hub.yaml"
    path.write_text(
        "intake: {token_file: intake_token}\n"
        "notifications:\n"
        "  group_by: ['...']\n"
        "  group_wait: 0.2s\n  group_interval: 0.5s\n"
        f"  outbox: {{workers: {WORKERS}, retry_initial: 0.1s, retry_max: 0.5s, lease: 5s}}\n"
        f"  channels: [{{name: notifier, type: webhook, url: '{url}'}}]\n"
    )
    return path


def _batch(start: int) -> dict[str, object]:
    alerts = [
        {"status": "firing", "labels": {"alertname": "Storm", "n": str(n), "severity": "critical"}}
        for n in range(start, start + BATCH)
    ]
    return {"version": "4", "status": "firing", "alerts": alerts}


def _storm(hub: HubProcess, accepted: list[str], stop: threading.Event) -> None:
    """Post batches until done; a batch counts as accepted only when answered 200."""
    with httpx.Client(timeout=5, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        start = 0
        while start < ALERTS and not stop.is_set():
            try:
                answer = client.post(f"{hub.url}/api/v1/alerts/alertmanager", json=_batch(start))
            except httpx.HTTPError:
                stop.wait(0.05)  # the hub is down: send again, as Alertmanager does
                continue
            if answer.status_code == 200:
                accepted.extend(str(n) for n in range(start, start + BATCH))
                start += BATCH
                stop.wait(0.25)  # a storm over a few seconds, so the kill lands inside it


def _delivered(receiver: FakeReceiver) -> Counter[str]:
    return Counter(
        alert["labels"]["n"] for r in receiver.delivered for alert in json.loads(r.body)["alerts"]
    )


@pytest.mark.timeout(150)
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_mid_storm_then_restart_delivers_every_accepted_alert(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """On SQLite the restarted hub (the file's only owner) sends the killed hub's row again at
    once; on Postgres it waits for the row's lease (5 s) to run out, as another hub would."""
    with FakeReceiver(fail_ratio=0.2, seed=7, fail_answers=(500, 503)) as receiver:
        config = _config(tmp_path, receiver.url)
        env = {"XDG_STATE_HOME": str(tmp_path / "state")}
        database = (
            f"sqlite:///{tmp_path}/hub.db"
            if backend == "sqlite"
            else request.getfixturevalue("pg_url")
        )
        hub = HubProcess(config, database=database, env=env, log=tmp_path / "hub.log")
        accepted: list[str] = []
        stop = threading.Event()
        hub.start()
        storm = threading.Thread(target=_storm, args=(hub, accepted, stop), daemon=True)
        try:
            storm.start()
            wait_until(
                "deliveries under way with the storm half accepted",
                lambda: len(receiver.delivered) >= 1 and len(accepted) >= ALERTS // 2,
                30,
            )
            hub.kill()
            killed_with = len(accepted)
            restarted = HubProcess(config, database=database, port=hub.port, env=env, log=hub.log)
            restarted.start()
            storm.join(60)
            wait_until(
                "every accepted alert delivered",
                lambda: set(accepted) <= set(_delivered(receiver)),
                60,
            )
        finally:
            stop.set()
            hub.kill()
            if "restarted" in locals():
                restarted.stop()
    delivered = _delivered(receiver)
    assert 0 < killed_with < ALERTS, "the kill did not land mid-storm"
    assert len(accepted) == ALERTS
    assert set(accepted) <= set(delivered)
    duplicates = sum(count - 1 for count in delivered.values())
    assert duplicates <= WORKERS, (
        f"{duplicates} duplicates: {[n for n, c in delivered.items() if c > 1]}"
    )
