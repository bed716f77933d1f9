"""What the hub benchmarks share: a free loopback port, and waiting for a hub to answer."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx

__all__ = ["free_port", "wait_ready"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(hub: subprocess.Popen[bytes], url: str, seconds: float) -> None:
    """Return once ``url``/health/ready answers 200; kill the hub and exit otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    hub.kill()
    raise SystemExit(f"the hub did not answer {url}/health/ready within {seconds:.0f} s")
