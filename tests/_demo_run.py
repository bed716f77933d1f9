"""``agentwatch demo`` as a user runs it, driven from the outside: a process, HTTP, SIGINT.

>>> with demo_process(tmp_path, "--short") as demo:          # doctest: +SKIP
...     demo.wait_for("an alert in Alertmanager", lambda: ..., 60)
...     output = demo.interrupt()
>>> assert demo.leftovers() == []
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests._apps import free_port

from agentwatch.demo.processes import port_is_free

PORT_FLAGS = ("--port", "--llm-port", "--hub-port", "--prometheus-port", "--alertmanager-port")
PORT_FLAGS += ("--slack-port",)


def demo_environment(**extra: str) -> dict[str, str]:
    """The user's environment without settings that would change the demo."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AGENTWATCH_", "OTEL_")) and key not in ("DATABASE_URL", "REDIS_URL")
    }
    return {**env, "PYTHONWARNINGS": "error::ResourceWarning", **extra}


def processes_mentioning(text: str) -> list[str]:
    """Command lines of the running processes whose arguments contain ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = " ".join(part.decode(errors="replace") for part in argv if part)
        if text in line:
            found.append(f"{entry.name}: {line}")
    return found


@dataclass
class DemoProcess:
    """A running ``agentwatch demo`` and what it said it runs (``demo.json``)."""

    folder: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes]
    log: Path
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=5.0))

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.folder / "demo.json").read_text()))

    def url(self, name: str) -> str:
        value = self.state()["urls"][name]
        assert value is not None, f"the demo does not run {name}"
        return str(value)

    def json(self, url: str) -> Any:
        response = self.client.get(url)
        response.raise_for_status()
        return response.json()

    def wait_for(self, what: str, check: Callable[[], Any], seconds: float) -> Any:
        """Poll ``check`` until it returns something truthy; fail naming ``what``."""
        deadline, last = time.monotonic() + seconds, None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the demo exited ({self.process.returncode}) while waiting for {what}")
            try:
                last = check()
            except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
                last = exc
            if last and not isinstance(last, Exception):
                return last
            time.sleep(0.5)
        pytest.fail(f"timed out after {seconds:.0f} s waiting for {what} (last: {last!r})")

    @property
    def output(self) -> str:
        """Everything the demo printed so far."""
        return self.log.read_text(errors="replace")

    def interrupt(self, seconds: float = 60.0) -> str:
        """Ctrl-C: SIGINT, then wait for the demo to exit; returns everything it printed."""
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=seconds)
        return self.output

    def leftovers(self) -> list[str]:
        """Processes or ports of the demo still alive after it exited."""
        left = processes_mentioning(str(self.folder))
        for name, pid in self.state()["pids"].items():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 0)
                left.append(f"{name} (pid {pid}) still runs")
        left += [
            f"port {port} ({name}) is taken"
            for name, port in self.ports.items()
            if not port_is_free(port)
        ]
        return left


@contextlib.contextmanager
def demo_process(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[DemoProcess]:
    """Start the demo with fixed free ports and ``--dir folder`` (its output in
    ``folder.out``); kill it and whatever it left if the test fails."""
    ports = {flag.strip("-"): free_port() for flag in PORT_FLAGS}
    command = [sys.executable, "-m", "agentwatch", "demo", "--dir", str(folder), *args]
    for flag in PORT_FLAGS:
        command += [flag, str(ports[flag.strip("-")])]
    log = folder.with_suffix(".out")
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env or demo_environment(), stdout=out, stderr=subprocess.STDOUT
        )
    demo = DemoProcess(folder, ports, process, log)
    try:
        demo.wait_for("demo.json", lambda: (folder / "demo.json").exists(), 30)
        yield demo
    finally:
        demo.client.close()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        for line in processes_mentioning(str(folder)):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(line.split(":")[0]), signal.SIGKILL)
