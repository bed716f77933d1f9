"""Alerts accepted against alerts delivered: the hub's outbox vs Alertmanager vs a bare path.

    python bench/hub_delivery.py [--alerts 10000] [--batch 50] [--kills 3] [--fail 0.3]
                                 [--channels 4] [--failures 500,502,503]
                                 [--configs hub,alertmanager,direct] [--database URL]

A storm of ``--alerts`` alerts (``--batch`` a call, each alert its own ``n`` label) goes
through a first hop to a receiver that fails ``--fail`` of its calls at random, answering
one of ``--failures`` (500, 502, 503; ``429`` answers with ``Retry-After: 1``):

- ``hub``: Alertmanager's webhook format (version 4) posted to a real ``agentwatch hub
  serve`` process (SQLite in a fresh folder unless ``--database``), which routes alert
  ``n`` to webhook channel ``n % --channels`` on the flaky receiver (``group_by: ['...']``:
  one notification per alert).
- ``alertmanager``: the same alerts posted to the real ``prometheus-alertmanager``'s
  ``/api/v2/alerts`` (as Prometheus does), routed with ``group_by: ['...']`` to a webhook
  receiver on the flaky receiver; its storage folder kept across restarts.
- ``direct``: the same webhook bodies posted straight to the flaky receiver, one try per
  call, as a bare webhook path does (Uptime Kuma and Gatus drop a failed notification).

``hub`` and ``alertmanager`` are killed with ``kill -9`` ``--kills`` times, when the receiver
has had 25 %, 50 % and 75 % of the alerts (or nothing new came for 15 s), and started again
on the same storage and port. The storm posts a call again while the first hop is down; a
call is accepted when it answers 2xx. The bench then waits until every accepted alert
arrived, or nothing new came for 30 s.

Printed per configuration: accepted (alerts the first hop answered 2xx for; for ``direct``
every alert sent), delivered (distinct accepted alerts the receiver answered 2xx for), lost
(accepted, never delivered), duplicates (deliveries beyond the first; the hub's bound is one
per kill per channel, the row each channel had in flight), p95 and max seconds from
acceptance to the first delivery, and the wall time.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _hubproc import free_port

TOKEN = "bench-intake-t0ken"
QUIET_SECONDS = 30.0  # stop waiting once nothing new arrived this long
ANSWERS: dict[str, tuple[int, dict[str, str]]] = {
    "500": (500, {}),
    "502": (502, {}),
    "503": (503, {}),
    "429": (429, {"Retry-After": "1"}),  # the hub holds the whole channel for the second
}


# ---------------------------------------------------------------- the flaky receiver


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender killed mid-call resets its connection: expected here


@dataclass
class FlakyReceiver:
    """An HTTP server on 127.0.0.1 that fails ``fail`` of its calls at random and records
    when each alert (its ``n`` label) was first, and how often, delivered."""

    fail: float
    failures: tuple[tuple[int, dict[str, str]], ...] = (ANSWERS["500"], ANSWERS["503"])
    seed: int = 16
    first: dict[str, float] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    calls: Counter[int] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(self.seed)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, headers = receiver.answer(body)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def answer(self, body: bytes) -> tuple[int, dict[str, str]]:
        now = time.time()
        with self._lock:
            failed = self._random.random() < self.fail
            status, headers = self._random.choice(self.failures) if failed else (200, {})
            self.calls[status] += 1
            if not failed:
                for alert in json.loads(body).get("alerts", ()):
                    n = alert["labels"]["n"]
                    self.counts[n] += 1
                    self.first.setdefault(n, now)
        return status, headers

    def delivered(self) -> int:
        with self._lock:
            return len(self.counts)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# ---------------------------------------------------------------- the storm


def batches(alerts: int, size: int, shards: int = 1) -> list[dict[str, Any]]:
    """Alertmanager webhook bodies (version 4) of ``size`` alerts each; alert ``n`` goes to
    channel ``n % shards``."""
    out = []
    for start in range(0, alerts, size):
        items = [
            {
                "status": "firing",
                "labels": {
                    "alertname": "Storm",
                    "service": "api",
                    "severity": "critical",
                    "n": str(n),
                    "shard": str(n % shards),
                },
                "annotations": {"summary": f"storm alert {n}"},
                "startsAt": "2026-12-06T20:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.local/graph",
                "fingerprint": f"{n:016x}",
            }
            for n in range(start, min(alerts, start + size))
        ]
        out.append(
            {
                "version": "4",
                "groupKey": '{}:{alertname="Storm"}',
                "truncatedAlerts": 0,
                "status": "firing",
                "receiver": "hub",
                "groupLabels": {"alertname": "Storm"},
                "commonLabels": {"alertname": "Storm"},
                "commonAnnotations": {},
                "externalURL": "http://alertmanager.local",
                "alerts": items,
            }
        )
    return out


def post_storm(
    url: str,
    bodies: list[Any],
    accepted: dict[str, float],
    sent: dict[str, float],
    *,
    retry: bool,
) -> None:
    """Post every body; record when its alerts were first sent and when a 2xx answer
    accepted them. ``retry``: send a body again until it is accepted (the hub down, a 5xx),
    as Alertmanager does."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(timeout=10, headers=headers) as client:
        for body in bodies:
            at = time.time()
            for alert in body["alerts"] if isinstance(body, dict) else body:
                sent[alert["labels"]["n"]] = at
            while True:
                try:
                    answer = client.post(url, json=body)
                    ok = 200 <= answer.status_code < 300
                except httpx.HTTPError:
                    ok = False
                if ok:
                    now = time.time()
                    for alert in body["alerts"] if isinstance(body, dict) else body:
                        accepted[alert["labels"]["n"]] = now
                if ok or not retry:
                    break
                time.sleep(0.05)


# ---------------------------------------------------------------- the hub


class Hub:
    """``agentwatch hub serve`` on a fixed port and database, killed and started again."""

    def __init__(
        self,
        folder: Path,
        receiver_url: str,
        database: str | None,
        channels: int,
        workers: int | None = None,
    ) -> None:
        (folder / "intake_token").write_text(TOKEN)
        self.config = folder / "hub.yaml"
        hooks = "".join(
            f"    - {{name: hook{i}, type: webhook, url: '{receiver_url}/{i}'}}\n"
            for i in range(channels)
        )
        routes = "".join(
            f"    - {{match: {{shard: '{i}'}}, channels: [hook{i}]}}\n" for i in range(channels)
        )
        self.config.write_text(
            "intake: {token_file: intake_token}\n"
            "notifications:\n"
            "  group_by: ['...']\n"
            "  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 24h\n"
            "  outbox: {retry_initial: 0.2s, retry_max: 2s, lease: 10s"
            + (f", workers: {workers}" if workers else "")
            + "}\n"
            f"  channels:\n{hooks}  routes:\n{routes}"
        )
        self.database = database or f"sqlite:///{folder}/hub.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "hub.log"
        self.env = {**os.environ, "XDG_STATE_HOME": str(folder / "state")}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [sys.executable, "-m", "agentwatch", "hub", "serve", "--port", str(self.port)]
        args += ["--database", self.database, "--config", str(self.config)]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("hub not ready in 60 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


# ---------------------------------------------------------------- the runs


@dataclass
class Result:
    config: str
    sent: int
    accepted: dict[str, float]
    receiver: FlakyReceiver
    seconds: float
    kills: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        counts, first = self.receiver.counts, self.receiver.first
        delivered = set(counts)
        latencies = sorted(first[n] - at for n, at in self.accepted.items() if n in first)
        p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")
        return {
            "config": self.config,
            "sent": self.sent,
            "accepted": len(self.accepted),
            "delivered": len(delivered & set(self.accepted)),
            "lost": len(set(self.accepted) - delivered),
            "duplicates": sum(c - 1 for c in counts.values()),
            "p95_s": max(0.0, p95),
            "max_s": max(0.0, latencies[-1]) if latencies else float("nan"),
            "seconds": self.seconds,
            "calls": dict(sorted(self.receiver.calls.items())),
            "kills": self.kills,
        }


def wait_delivered(
    receiver: FlakyReceiver, accepted: dict[str, float], done: threading.Event
) -> None:
    last, changed = -1, time.monotonic()
    while True:
        delivered = receiver.delivered()
        if done.is_set() and set(accepted) <= set(receiver.counts):
            return
        if delivered != last:
            last, changed = delivered, time.monotonic()
        elif time.monotonic() - changed > QUIET_SECONDS:
            return
        time.sleep(0.1)


def wait_for_mark(receiver: FlakyReceiver, mark: float) -> None:
    """Until the receiver has had ``mark`` alerts, or nothing new came for 15 s (a first hop
    that lost what it held never gets there)."""
    last, changed = -1, time.monotonic()
    while (delivered := receiver.delivered()) < mark:
        if delivered != last:
            last, changed = delivered, time.monotonic()
        elif time.monotonic() - changed > 15.0:
            return
        time.sleep(0.01)


def run_hub(args: argparse.Namespace, folder: Path, config: str = "hub") -> Result:
    """The storm through a first hop (the hub, or Alertmanager) killed ``--kills`` times."""
    receiver = FlakyReceiver(args.fail, failures(args))
    bodies: list[Any] = batches(args.alerts, args.batch, args.channels)
    hub: Hub | Alertmanager
    if config == "hub":
        hub = Hub(folder, receiver.url, args.database, args.channels, args.workers)
        path = "/api/v1/alerts/alertmanager"
    else:
        hub = Alertmanager(folder, receiver.url)
        bodies, path = alertmanager_bodies(bodies), "/api/v2/alerts"
    accepted: dict[str, float] = {}
    done = threading.Event()
    kills: list[str] = []
    started = time.time()
    hub.start()

    def storm() -> None:
        post_storm(hub.url + path, bodies, accepted, {}, retry=True)
        done.set()

    thread = threading.Thread(target=storm, daemon=True)
    thread.start()
    try:
        for k in range(args.kills):
            mark = args.alerts * (k + 1) / (args.kills + 1)
            wait_for_mark(receiver, mark)
            hub.kill()
            kills.append(f"at {receiver.delivered()} delivered, {len(accepted)} accepted")
            hub.start()
        thread.join()
        wait_delivered(receiver, accepted, done)
    finally:
        hub.stop()
        receiver.close()
    return Result(config, args.alerts, accepted, receiver, time.time() - started, kills)


def run_direct(args: argparse.Namespace) -> Result:
    """The storm straight to the flaky receiver: what a sender believes it sent is accepted."""
    receiver = FlakyReceiver(args.fail, failures(args))
    sent: dict[str, float] = {}
    started = time.time()
    post_storm(receiver.url, batches(args.alerts, args.batch), {}, sent, retry=False)
    time.sleep(0.5)
    receiver.close()
    return Result("direct", args.alerts, sent, receiver, time.time() - started)


class Alertmanager:
    """The real ``prometheus-alertmanager`` routing to the flaky receiver, on one storage
    folder and port, killed and started again."""

    def __init__(self, folder: Path, receiver_url: str) -> None:
        self.config = folder / "alertmanager.yml"
        self.config.write_text(
            "route:\n"
            "  receiver: hook\n"
            "  group_by: ['...']\n"
            "  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 24h\n"
            "receivers:\n"
            f"  - name: hook\n    webhook_configs: [{{url: '{receiver_url}'}}]\n"
        )
        self.storage = folder / "alertmanager-data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "alertmanager.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [
            "prometheus-alertmanager",
            f"--config.file={self.config}",
            f"--storage.path={self.storage}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"alertmanager not ready: {self.log.read_text()[-2000:]}")

    kill = Hub.kill
    stop = Hub.stop


def alertmanager_bodies(bodies: list[dict[str, Any]]) -> list[Any]:
    """The same alerts as Prometheus posts them to ``/api/v2/alerts`` (a list)."""
    keys = ("labels", "annotations", "startsAt", "generatorURL")
    return [[{k: a[k] for k in keys} for a in body["alerts"]] for body in bodies]


def failures(args: argparse.Namespace) -> tuple[tuple[int, dict[str, str]], ...]:
    return tuple(ANSWERS[code] for code in args.failures.split(","))


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        "| path | alerts sent | accepted | delivered | lost | duplicates | kills | "
        "p95 accept→delivery s | max s | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['config']} | {r['sent']:,} | {r['accepted']:,} | {r['delivered']:,} | "
            f"{r['lost']:,} | {r['duplicates']:,} | {len(r['kills'])} | {r['p95_s']:.2f} | "
            f"{r['max_s']:.2f} | {r['seconds']:.0f} |"
        )
    for r in rows:
        print(f"{r['config']}: receiver answers {r['calls']}; kills {r['kills']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument(
        "--channels", type=int, default=4, help="webhook channels (alert n goes to n %% channels)"
    )
    parser.add_argument("--fail", type=float, default=0.3)
    parser.add_argument(
        "--failures", default="500,502,503", help=f"what a failed call answers: {','.join(ANSWERS)}"
    )
    parser.add_argument("--configs", default="hub,alertmanager,direct")
    parser.add_argument("--database", default=None, help="the hub's database (default: SQLite)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="the hub's outbox.workers: rows a channel sends at once (default: the hub's, 4)",
    )
    args = parser.parse_args()
    rows = []
    for config in args.configs.split(","):
        with tempfile.TemporaryDirectory(prefix="hub-delivery-") as tmp:
            direct = config == "direct"
            result = run_direct(args) if direct else run_hub(args, Path(tmp), config)
        rows.append(result.row())
        print(json.dumps(rows[-1]), flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()
