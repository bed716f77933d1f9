"""``agentwatch demo`` end to end, as a user runs it (no Redis, no PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path


def _environment() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AGENTWATCH_", "OTEL_"))
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env["PYTHONWARNINGS"] = "error::ResourceWarning"
    return env


def test_demo_runs_traffic_and_says_where_to_look(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "agentwatch", "demo", "--duration", "4", "--rate", "12"]
    command += ["--port", "0", "--dir", str(tmp_path), "--seed", "11"]
    done = subprocess.run(command, env=_environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for expected in (
        "/metrics",
        "/health/full",
        "traces.jsonl",
        "workflows",
        "LLM",
        "budgets",
        "Where to look",
    ):
        assert expected in out, out
    assert "research-weekly" in out
    assert "100%" in done.stderr  # the progress bar finished
    spans = [json.loads(line) for line in (tmp_path / "traces.jsonl").read_text().splitlines()]
    assert any(span["name"].startswith("invoke_workflow") for span in spans)
    logs = [json.loads(line) for line in (tmp_path / "service.log").read_text().splitlines()]
    assert any("trace_id" in line for line in logs)
    assert (tmp_path / "demo.db").exists()


def test_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "agentwatch", "demo", "--duration", "120", "--port", "0"]
    command += ["--dir", str(tmp_path)]
    process = subprocess.Popen(
        command, env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    banner = [process.stdout.readline() for _ in range(3)]
    assert banner[0].startswith("agentwatch demo: agent service http://127.0.0.1:"), banner
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)  # noqa: RUF059
    assert process.returncode == 0, err[-3000:]
    assert "stopping" in err
    assert "Traceback" not in err
