"""Child processes of the demo: started in a session of their own, stopped in order.

Each child runs in its own session, so the terminal's Ctrl-C reaches only the demo, which
then stops the children one after the other (the service first, so it can still flush its
traces to the hub; the hub last). A child that does not stop within its grace period is
killed, and with it anything it started. Should the demo itself die without stopping them
(``kill -9``), a watchdog process (:mod:`agentwatch.demo.reaper`) ends their groups.

>>> child = Child("hub", ["agentwatch", "hub", "serve"], log=Path("hub.log"),
...               ready_url="http://127.0.0.1:9800/health/ready")
>>> child.start(); child.wait_ready(30); ...; child.stop()       # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from agentwatch import AgentwatchError

__all__ = ["Child", "ChildFailed", "free_port", "port_is_free"]


class ChildFailed(AgentwatchError):
    """A child process of the demo exited early or did not become ready."""


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:``port`` now (as servers do, with
    SO_REUSEADDR: connections closing on it do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class _Reaper:
    """The watchdog (:mod:`agentwatch.demo.reaper`) that outlives this process: it is told
    each child's group and ends those still running when this process is gone."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # children start from several threads

    def tell(self, line: str) -> None:
        with self._lock, contextlib.suppress(OSError):  # no watchdog: a clean stop still works
            self._tell(line)

    def _tell(self, line: str) -> None:
        if self._process is None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "agentwatch.demo.reaper"],
                stdin=subprocess.PIPE,
                start_new_session=True,  # Ctrl-C and the demo's end leave it running
            )
            atexit.register(self._close)
        assert self._process.stdin is not None
        self._process.stdin.write(f"{line}\n".encode())
        self._process.stdin.flush()

    def _close(self) -> None:
        """A demo ending normally (its children stopped) closes the pipe and waits for the
        watchdog to see nothing left, instead of leaving it to the interpreter's exit."""
        process = self._process
        if process is None or process.stdin is None:
            return
        with contextlib.suppress(OSError):
            process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(30)


_REAPER = _Reaper()


def _tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return ""


@dataclass
class Child:
    """One child process: its command, log file and the URL that answers 200 when ready."""

    name: str
    argv: Sequence[str]
    log: Path
    ready_url: str
    env: Mapping[str, str] | None = None
    stop_signal: int = signal.SIGTERM
    grace_seconds: float = 15.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            list(self.argv),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=dict(self.env) if self.env is not None else None,
            start_new_session=True,
        )
        _REAPER.tell(f"+{self.process.pid}")  # its own session: the group is its pid

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _answers(self, client: httpx.Client) -> bool:
        try:
            return client.get(self.ready_url).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, seconds: float, abort: Callable[[], bool] = lambda: False) -> None:
        """Return once ``ready_url`` answers 200 (or ``abort()`` says to stop waiting);
        raise ChildFailed when the child exits or the time is up."""
        deadline = time.monotonic() + seconds
        with httpx.Client(timeout=2.0) as client:
            while not abort() and not self._answers(client):
                if not self.running():
                    raise ChildFailed(
                        f"{self.name} exited before it was ready; the end of {self.log}:\n"
                        + _tail(self.log)
                    )
                if time.monotonic() > deadline:
                    raise ChildFailed(
                        f"{self.name} was not ready at {self.ready_url} after {seconds:.0f} s; "
                        f"see {self.log}"
                    )
                time.sleep(0.1)

    def signal_stop(self) -> None:
        """Ask the child to stop (its stop signal); :meth:`wait_stopped` waits for it."""
        if self.running():
            assert self.process is not None
            self.process.send_signal(self.stop_signal)

    def wait_stopped(self) -> None:
        """Wait out the grace period, then kill the child's whole process group."""
        process = self.process
        if process is not None:
            try:
                process.wait(self.grace_seconds)
            except subprocess.TimeoutExpired:
                self._kill_group(process)
                process.wait(10)
            _REAPER.tell(f"-{process.pid}")
        self._close_log()

    def _kill_group(self, process: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: the group is its own
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        self.signal_stop()
        self.wait_stopped()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def stop_all(children: Sequence[Child]) -> None:
    """Stop ``children`` together: signal every one, then wait for each."""
    for child in children:
        child.signal_stop()
    for child in children:
        child.wait_stopped()
