"""The real operations stack for the ops end-to-end tests, all on 127.0.0.1.

- an instrumented service: every catalog metric on a fresh registry, served by
  prometheus_client, fed continuously with sample values (``errors`` raises the 5xx share);
- a real ``prometheus`` and a real Alertmanager (Debian binaries) with generated configs;
- a webhook receiver standing in for the hub's alert intake.

Every wait polls with a deadline; a missing binary fails with the apt-get line to run.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from itertools import product
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, start_http_server
from tests._apps import free_port

from agentwatch._catalog import CATALOG, MetricSpec
from agentwatch._metrics.registry import Metrics
from agentwatch._metrics.runtime import register_runtime_collectors

INSTALL = "apt-get install prometheus prometheus-alertmanager"
LABEL_VALUES = {
    "status": ("success", "error"),
    "result": ("hit", "miss", "success", "failure", "locked"),
    "state": ("idle", "used", "max"),
    "type": ("input", "output"),
}


def binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(f"{names[0]} not found on PATH: {INSTALL}")


def wait_for(what: str, check: Callable[[], Any], deadline_s: float, every_s: float = 0.25) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` at the deadline."""
    end = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < end:
        try:
            last = check()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every_s)
    pytest.fail(f"timed out after {deadline_s}s waiting for {what} (last: {last!r})")


class Service:
    """Every catalog metric (or ``specs``), recorded every 0.2 s, served on ``port``.

    ``label_values`` (metric -> label -> values, as pack files declare them) choose the
    label values recorded; others come from LABEL_VALUES or are ``"a"``.
    """

    def __init__(
        self,
        specs: list[MetricSpec] | None = None,
        label_values: Mapping[str, Mapping[str, tuple[str, ...]]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry, specs)
        self.specs = list(CATALOG.values()) if specs is None else specs
        self.label_values = label_values or {}
        register_runtime_collectors(self.registry)
        self.errors = threading.Event()
        self._stop = threading.Event()
        self.port = free_port()
        self._server, _thread = start_http_server(self.port, "127.0.0.1", registry=self.registry)
        self._feeder = threading.Thread(target=self._feed, name="ops-e2e-feeder", daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        while not self._stop.wait(0.2):
            for spec in self.specs:
                self._record(spec)
            http = self.metrics["http_requests_total"]
            http.labels("GET", "/items/{id}", "200").inc(99)
            http.labels("GET", "/items/{id}", "500").inc(200 if self.errors.is_set() else 1)

    def _record(self, spec: MetricSpec) -> None:
        if spec.name == "http_requests_total":
            return
        declared = self.label_values.get(spec.name, {})
        options = [declared.get(label) or LABEL_VALUES.get(label, ("a",)) for label in spec.labels]
        for values in product(*options):
            child = self.metrics[spec.name].labels(*values)
            if spec.kind == "counter":
                child.inc(2)
            elif spec.kind == "gauge":
                child.set(0.5)
            else:
                for bound in spec.buckets[::3]:
                    child.observe(bound * 0.9)

    def close(self) -> None:
        self._stop.set()
        self._feeder.join(timeout=5)
        self._server.shutdown()
        self._server.server_close()


class Webhook:
    """Records every Alertmanager webhook POST (the hub's alert intake stand-in)."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        received = self.payloads

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                authorization = self.headers.get("Authorization")
                received.append(
                    {"path": self.path, "authorization": authorization, **json.loads(body)}
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/api/v1/alerts/alertmanager"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def process(argv: list[str], log: Path, ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server until the block ends; wait (bounded) for its readiness URL."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:

            def ready() -> bool:
                if proc.poll() is not None:
                    pytest.fail(f"{argv[0]} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
                return httpx.get(ready_url, timeout=1).status_code == 200

            wait_for(f"{argv[0]} ready at {ready_url}", ready, 30)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def prometheus_argv(config: Path, data: Path, port: int) -> list[str]:
    return [
        binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]


def alertmanager_argv(config: Path, data: Path, port: int) -> list[str]:
    return [
        binary("alertmanager", "prometheus-alertmanager"),
        f"--config.file={config}",
        f"--storage.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
