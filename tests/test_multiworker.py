"""Several real worker processes: one scrape sums them; a worker's exit leaks nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests._apps import free_port, wait_until_answering

ROOT = Path(__file__).resolve().parents[1]


def _samples(body: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.name == name:
                found[tuple(sorted(s.labels.items()))] = s.value
    return found


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_uvicorn_workers_scrape_sums_across_workers_and_dead_workers_leak_nothing(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {**os.environ, "AGENTWATCH_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.mw_app:app",
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(base + "/metrics", 60)
        with ThreadPoolExecutor(8) as pool:
            pids = list(
                pool.map(lambda _: httpx.get(base + "/pid", timeout=30).json()["pid"], range(24))
            )
        assert len(set(pids)) == 2, f"requests did not reach both workers: {set(pids)}"
        key = (("method", "GET"), ("route", "/pid"), ("status", "200"))
        for _ in range(4):  # whichever worker answers the scrape, it reports the sum
            body = httpx.get(base + "/metrics", timeout=10).text
            assert _samples(body, "http_requests_total")[key] == 24
            assert set(_samples(body, "http_requests_in_progress").values()) <= {0.0}
        victim = next(pid for pid in _children(server.pid) if pid in set(pids))
        os.kill(victim, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while any(f"_{victim}.db" in p.name and "live" in p.name for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline, sorted(p.name for p in tmp_path.iterdir())
            time.sleep(0.2)
        wait_until_answering(base + "/metrics", 30)
        body = httpx.get(base + "/metrics", timeout=10).text
        assert (
            _samples(body, "http_requests_total")[key] == 24
        )  # counters of the dead worker still count
    finally:
        server.send_signal(signal.SIGINT)
        try:
            output = server.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            server.kill()
            output = server.communicate()[0]
    assert "Traceback" not in output, output
