"""``agentwatch demo`` as a user runs it: without Prometheus, Ctrl-C at start, its folder."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests._demo_run import demo_environment, demo_process, processes_mentioning


def test_without_prometheus_the_demo_says_what_is_missing_and_runs(tmp_path: Path) -> None:
    empty_path = tmp_path / "bin"
    empty_path.mkdir()  # PATH without prometheus (the children run sys.executable)
    env = demo_environment(PATH=str(empty_path))
    with demo_process(tmp_path / "demo", "--short", "--duration", "6", env=env) as demo:
        demo.process.wait(timeout=90)
        out = demo.output
    assert demo.process.returncode == 0, out
    missing = [line for line in out.splitlines() if "not installed" in line]
    assert len(missing) == 1, out
    assert "apt-get install prometheus prometheus-alertmanager" in missing[0]
    urls = [line for line in out.splitlines() if line.startswith("  http://")]
    assert any("/health/full" in line for line in urls), out
    assert not any("Prometheus (" in line or "Alertmanager" in line for line in urls), out
    for expected in ("requests ", "workflows ", "LLM ", "budgets ", "research-weekly"):
        assert expected in out, out
    assert "agentwatch hub serve --config" in out
    assert demo.leftovers() == []
    assert (tmp_path / "demo" / "hub.db").exists()


def test_ctrl_c_while_starting_stops_every_process(tmp_path: Path) -> None:
    with demo_process(tmp_path / "demo") as demo:
        out = demo.interrupt()
    assert demo.process.returncode == 0, out
    assert "Traceback" not in out, out
    assert "stopped: every process of the demo has exited" in out
    assert demo.leftovers() == []


def test_a_folder_the_demo_did_not_make_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    command = [sys.executable, "-m", "agentwatch", "demo", "--dir", str(tmp_path)]
    done = subprocess.run(
        command, env=demo_environment(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "--dir" in done.stderr and "an empty or new folder" in done.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def _read_all(fd: int, process: subprocess.Popen[bytes], seconds: float) -> bytes:
    chunks, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunks.append(os.read(fd, 65536))
            except OSError:  # the terminal closed: the demo exited
                break
        elif process.poll() is not None:
            break
    return b"".join(chunks)


def test_on_a_terminal_the_live_view_is_one_panel_refreshed_in_place(tmp_path: Path) -> None:
    main_fd, child_fd = pty.openpty()
    command = [sys.executable, "-m", "agentwatch", "demo", "--short", "--duration", "6"]
    command += ["--dir", str(tmp_path / "demo")]
    env = demo_environment(PATH=str(tmp_path), COLUMNS="120", LINES="40", TERM="xterm")
    process = subprocess.Popen(command, env=env, stdin=child_fd, stdout=child_fd, stderr=child_fd)
    os.close(child_fd)
    try:
        screen = _read_all(main_fd, process, 90).decode(errors="replace")
        assert process.wait(timeout=30) == 0, screen[-3000:]
    finally:
        os.close(main_fd)
    assert "agentwatch demo +00:" in screen and "requests/s" in screen, screen[-3000:]
    assert "notifications delivered" in screen and "Ctrl-C stops" in screen
    assert "\x1b[" in screen  # drawn with terminal control sequences, not plain lines
    assert " | before | " not in screen  # the plain status line is for pipes
    assert "stopped: every process of the demo has exited" in screen
    assert processes_mentioning(str(tmp_path / "demo")) == []


def test_a_port_already_taken_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "agentwatch", "demo", "--dir", str(tmp_path / "d")]
        command += ["--hub-port", str(port)]
        done = subprocess.run(
            command, env=demo_environment(), capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 2
    assert "--hub-port" in done.stderr and str(port) in done.stderr, done.stderr
    assert not (tmp_path / "d").exists()


def test_a_demo_killed_with_kill_9_leaves_no_process_behind(tmp_path: Path) -> None:
    """The demo cannot stop its children when it is killed outright; its watchdog does."""
    with demo_process(tmp_path / "demo") as demo:
        demo.wait_for(
            "every child started",
            lambda: {"service", "hub"} <= set(demo.state().get("pids", {})),
            90,
        )
        pids = dict(demo.state()["pids"])
        demo.process.kill()
        demo.process.wait(timeout=30)
        deadline = time.monotonic() + 40
        while demo.leftovers() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert demo.leftovers() == [], pids
