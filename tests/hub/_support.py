"""What the hub's tests share: real databases, a hub served in-process, a hub process."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentwatch.hub.app import Hub
from agentwatch.hub.configfile import load_config

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new database on the machine's Postgres; yields its SQLAlchemy URL (psycopg)."""
    import psycopg

    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            "this test needs PostgreSQL on 127.0.0.1:5432 (user postgres, database test); "
            f"start it with: pg_ctlcluster --skip-systemctl-redirect 15 main start ({exc})"
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def running_hub(
    tmp_path: Path,
    config_text: str = "",
    *,
    database: str | None = None,
    environ: dict[str, str] | None = None,
    **hub_options: Any,
) -> AsyncIterator[tuple[Hub, httpx.AsyncClient]]:
    """A hub from ``config_text`` (written to ``tmp_path/hub.yaml``), started in-process,
    with an httpx client on its ASGI app; SQLite in ``tmp_path`` unless ``database``."""
    path = tmp_path / "hub.yaml"
    path.write_text(config_text)
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), **(environ or {})}
    config = load_config(path, environ=env).with_server(
        database=database or f"sqlite:///{tmp_path}/hub.db"
    )
    hub = Hub(config, environ=env, **hub_options)
    app = hub.asgi()
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9800") as client,
    ):
        yield hub, client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class HubProcess:
    """``agentwatch hub serve`` as a real process on a free port.

    >>> with HubProcess(config_path, database=url) as hub:   # doctest: +SKIP
    ...     httpx.get(hub.url + "/health/ready")
    """

    def __init__(
        self,
        config: Path | None,
        *,
        database: str,
        port: int | None = None,
        env: dict[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [sys.executable, "-m", "agentwatch", "hub", "serve", "--port", str(self.port)]
        self.args += ["--database", database]
        if config is not None:
            self.args += ["--config", str(config)]
        self.env = {**os.environ, **(env or {})}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> HubProcess:
        return self.spawn().ready(timeout)

    def spawn(self) -> HubProcess:
        """Start the process without waiting (several hubs start side by side)."""
        if self.log is None:
            self.proc = subprocess.Popen(
                self.args, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
            )
        else:
            with open(self.log, "ab") as out:  # the child keeps its own descriptor
                self.proc = subprocess.Popen(
                    self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT
                )
        return self

    def ready(self, timeout: float = 30.0) -> HubProcess:
        """Wait for ``/health/ready``; fail with the hub's output if it exits or hangs."""
        assert self.proc is not None, "spawn() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(self.url + "/health/ready", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"hub did not get ready in {timeout} s: {self.output()}")

    def output(self) -> str:
        return (
            self.log.read_text(errors="replace")[-4000:] if self.log and self.log.exists() else ""
        )

    def kill(self) -> None:
        """``kill -9``."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode if self.proc else None

    def __enter__(self) -> HubProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
