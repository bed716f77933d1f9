"""The demo's processes, started together and stopped in order.

:class:`DemoStack` lays out the demo's folder, writes the generated configuration (the
operations folder of ``agentwatch ops generate`` in a demo profile, the hub's
``hub.yaml``), and runs, each on 127.0.0.1: the simulated LLM provider, the hub
(``agentwatch hub serve``), real Prometheus and Alertmanager when installed, and the demo
agent service under uvicorn (the hub, Prometheus and Alertmanager once the service
answers). :meth:`DemoStack.stop` stops the service first (it finishes
its requests and flushes its traces to the hub), then the provider, Prometheus and
Alertmanager, then the hub.

The folder (``DemoStack.layout``)::

    hub.yaml  hub.db         the hub's configuration and database (monitors, alerts, traces)
    demo.db                  the service's own SQLite database
    ops/                     the generated operations folder (Prometheus, Alertmanager, ...)
    prometheus/ alertmanager/  their data
    secrets/  logs/  demo.json (where everything listens, and the process ids)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from agentwatch import ConfigurationError
from agentwatch.ops import Profile

from .hubconfig import HubPlan, write_hub_config, write_secret
from .incident import Timeline, TimelinePlan
from .opsconfig import INTAKE_TOKEN_FILE, OpsTargets, write_ops
from .processes import Child, free_port, port_is_free, stop_all

__all__ = ["MARKER", "Binaries", "DemoStack", "DemoUrls", "Layout", "Ports", "StackOptions"]

MARKER = ".agentwatch-demo"
INSTALL_HINT = "sudo apt-get install prometheus prometheus-alertmanager"


@dataclass(frozen=True, slots=True)
class Ports:
    """The port of each process; 0 means a free one chosen at start."""

    service: int = 0
    llm: int = 0
    hub: int = 0
    prometheus: int = 0
    alertmanager: int = 0
    slack: int = 0

    def resolved(self) -> Ports:
        chosen = {name: port for name, port in asdict(self).items() if port}
        for name, port in asdict(self).items():
            if not port:
                while (port := free_port()) in chosen.values():
                    pass
                chosen[name] = port
        return Ports(**chosen)

    def busy(self) -> list[tuple[str, int]]:
        """The ports given (not 0) that something already listens on."""
        return [
            (name, port) for name, port in asdict(self).items() if port and not port_is_free(port)
        ]


@dataclass(frozen=True, slots=True)
class Binaries:
    """The Prometheus and Alertmanager executables, None when not installed."""

    prometheus: str | None
    alertmanager: str | None

    @classmethod
    def find(cls) -> Binaries:
        alertmanager = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")
        return cls(shutil.which("prometheus"), alertmanager)

    @property
    def complete(self) -> bool:
        return self.prometheus is not None and self.alertmanager is not None


@dataclass(frozen=True, slots=True)
class StackOptions:
    """How to run the demo's processes."""

    data_dir: Path
    ports: Ports
    timeline: TimelinePlan
    profile: Profile
    binaries: Binaries
    seed: int | None = None
    monitor_interval: str = "5s"
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass(frozen=True, slots=True)
class DemoUrls:
    """The URLs that answer while the demo runs (None: that part does not run)."""

    service: str
    metrics: str
    health: str
    notifier: str
    llm: str
    hub: str
    slack: str
    status_page: str | None = None
    traces: str | None = None
    prometheus: str | None = None
    alertmanager: str | None = None


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the demo keeps its files."""

    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def ops(self) -> Path:
        return self.root / "ops"

    @property
    def hub_yaml(self) -> Path:
        return self.root / "hub.yaml"

    @property
    def hub_database(self) -> str:
        return f"sqlite:///{self.root / 'hub.db'}"

    @property
    def state_file(self) -> Path:
        return self.root / "demo.json"


def prepare_folder(root: Path) -> Layout:
    """Empty the demo's folder (only one the demo made, or an empty one) and lay it out."""
    if root.exists() and any(root.iterdir()) and not (root / MARKER).exists():
        raise ConfigurationError(
            "--dir", str(root), "an empty or new folder, or one an earlier demo made"
        )
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("made by agentwatch demo; emptied at each start\n")
    layout = Layout(root)
    layout.logs.mkdir()
    return layout


def _child_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The user's environment without agentwatch or OpenTelemetry settings of their own."""
    base = {k: v for k, v in environ.items() if not k.startswith(("AGENTWATCH_", "OTEL_"))}
    return {**base, "PYTHONUNBUFFERED": "1"}


class DemoStack:
    """The processes of one demo run; ``start()``, then ``stop()`` (always)."""

    def __init__(self, options: StackOptions, slack_webhook_url: str, slack_url: str) -> None:
        self.options = options
        self.ports = options.ports.resolved()
        self.layout = prepare_folder(options.data_dir)
        self.started_at = time.time()
        self.timeline: Timeline = options.timeline.starting(self.started_at)
        self.slack_webhook_url = slack_webhook_url
        self.slack_url = slack_url
        self.with_prometheus = options.binaries.complete
        self.hub_sections: frozenset[str] = frozenset()
        self.hub_config: Mapping[str, Any] = {}
        self.children: dict[str, Child] = {}

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    @property
    def urls(self) -> DemoUrls:
        p, service, hub = self.ports, self.url(self.ports.service), self.url(self.ports.hub)
        sections = self.hub_sections
        return DemoUrls(
            service=service,
            metrics=f"{service}/metrics",
            health=f"{service}/health/full",
            notifier=f"{service}/webhooks/alerts",
            llm=self.url(p.llm),
            hub=hub,
            slack=f"{self.slack_url}/messages",
            status_page=f"{hub}/status/public" if "status_pages" in sections else None,
            traces=f"{hub}/traces" if "traces" in sections else None,
            prometheus=self.url(p.prometheus) if self.with_prometheus else None,
            alertmanager=self.url(p.alertmanager) if self.with_prometheus else None,
        )

    def _python(self, *args: str) -> list[str]:
        return [sys.executable, *args]

    def _write_config(self) -> None:
        p = self.ports
        # the name the generated Alertmanager config and hub.yaml read from the secrets folder
        intake_token = write_secret(self.layout.secrets, INTAKE_TOKEN_FILE)
        targets = OpsTargets(
            *(f"127.0.0.1:{port}" for port in (p.service, p.hub, p.prometheus, p.alertmanager))
        )
        write_ops(self.layout.ops, targets, self.options.profile, self.layout.secrets, intake_token)
        generated_hub = self.layout.ops / "hub" / "hub.yaml"
        plan = HubPlan(
            hub_port=p.hub,
            database_url=self.layout.hub_database,
            service_url=self.url(p.service),
            llm_url=self.url(p.llm),
            slack_webhook_url=self.slack_webhook_url,
            secrets_dir=self.layout.secrets,
            interval=self.options.monitor_interval,
            prometheus_url=self.url(p.prometheus) if self.with_prometheus else None,
            alertmanager_url=self.url(p.alertmanager) if self.with_prometheus else None,
            redis_url=self.options.environ.get("REDIS_URL") or None,
        )
        self.hub_config = write_hub_config(self.layout.hub_yaml, plan, generated_hub)
        self.hub_sections = frozenset(self.hub_config)

    def _child(self, name: str, argv: list[str], ready_path: str, port: int) -> Child:
        env = _child_environ(self.options.environ)
        env["XDG_STATE_HOME"] = str(self.layout.root / "state")
        child = Child(
            name, argv, self.layout.logs / f"{name}.log", self.url(port) + ready_path, env
        )
        self.children[name] = child
        return child

    def _llm(self) -> Child:
        t, p = self.timeline, self.ports
        argv = self._python("-m", "agentwatch.demo.serve", "llm-provider", "--port", str(p.llm))
        argv += ["--started-at", "inf", "--incident-at", repr(t.incident_at)]  # see _start_clock
        argv += ["--incident-seconds", repr(t.incident_seconds)]
        if self.options.seed is not None:
            argv += ["--seed", str(self.options.seed)]
        return self._child("llm-provider", argv, "/v1/models", p.llm)

    def _hub(self) -> Child:
        argv = self._python(
            "-m", "agentwatch", "hub", "serve", "--config", str(self.layout.hub_yaml)
        )
        argv += ["--database", self.layout.hub_database, "--log-level", "warning"]
        return self._child("hub", argv, "/health/ready", self.ports.hub)

    def _service(self) -> Child:
        p = self.ports
        argv = self._python("-m", "agentwatch.demo.serve", "service", "--port", str(p.service))
        argv += ["--llm-url", self.url(p.llm), "--dir", str(self.layout.root)]
        if self.options.seed is not None:
            argv += ["--seed", str(self.options.seed)]
        child = self._child("service", argv, "/health/live", p.service)
        child.env = {**(child.env or {}), **self._service_environ()}
        return child

    def _service_environ(self) -> dict[str, str]:
        env: dict[str, str] = {}
        if "notifications" in self.hub_sections:  # the secret the hub signs webhooks with
            env["DEMO_NOTIFIER_SECRET_FILE"] = str(self.layout.secrets / "notifier_webhook_secret")
        if "traces" in self.hub_sections:
            traces_url = f"{self.url(self.ports.hub)}/v1/traces"
            return {**env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces_url}
        traces = str(self.layout.root / "traces.jsonl")
        return {**env, "AGENTWATCH_TRACES_EXPORTER": "file", "AGENTWATCH_TRACES_FILE": traces}

    def _prometheus(self) -> Child:
        assert self.options.binaries.prometheus is not None
        port = self.ports.prometheus
        argv = [
            self.options.binaries.prometheus,
            f"--config.file={self.layout.ops / 'prometheus' / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.layout.root / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=2d",
            f"--web.external-url={self.url(port)}",  # the alerts' links (generatorURL)
        ]
        return self._child("prometheus", argv, "/-/ready", port)

    def _alertmanager(self) -> Child:
        assert self.options.binaries.alertmanager is not None
        port = self.ports.alertmanager
        argv = [
            self.options.binaries.alertmanager,
            f"--config.file={self.layout.ops / 'alertmanager' / 'alertmanager.yml'}",
            f"--storage.path={self.layout.root / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port: a single Alertmanager
        ]
        return self._child("alertmanager", argv, "/-/ready", port)

    def start(self, abort: Callable[[], bool] = lambda: False, ready_seconds: float = 60.0) -> None:
        """Write the configuration, start every process, return when all answer (or as
        soon as ``abort()`` is true: Ctrl-C while starting).

        The provider and the service start first; the hub, Prometheus and Alertmanager
        once the service answers, so their first look finds it up and no alert fires for
        a service still starting."""
        self._write_config()
        waves = [[self._llm, self._service], [self._hub]]
        if self.with_prometheus:
            waves[1] += [self._prometheus, self._alertmanager]
        for wave in waves:
            if abort():
                return
            children = [make() for make in wave]
            for child in children:
                child.start()
            self.write_state()
            for child in children:
                child.wait_ready(ready_seconds, abort)
        if not abort():
            self._start_clock()

    def _start_clock(self) -> None:
        """The story starts now, every process answering: the provider's incident is
        ``incident_at`` seconds from here."""
        self.started_at = time.time()
        self.timeline = self.options.timeline.starting(self.started_at)
        answer = httpx.post(
            self.url(self.ports.llm) + "/demo/clock",
            json={"started_at": self.started_at},
            timeout=5.0,
        )
        answer.raise_for_status()
        self.write_state()

    def stop(self) -> None:
        """Pause the hub's monitors (a service going away on purpose is no outage to
        announce), stop the service (it flushes to the hub), then the rest, then the hub."""
        self._pause_monitors()
        order = (("service",), ("llm-provider", "prometheus", "alertmanager"), ("hub",))
        for names in order:
            stop_all([self.children[name] for name in names if name in self.children])

    def _pause_monitors(self) -> None:
        hub = self.children.get("hub")
        if hub is None or not hub.running() or "monitors" not in self.hub_sections:
            return
        names = [m["name"] for m in self.hub_config.get("monitors", [])]
        try:
            with httpx.Client(base_url=self.url(self.ports.hub), timeout=3.0) as client:
                for name in names:
                    client.post(f"/api/v1/monitors/{name}/pause")
        except httpx.HTTPError:
            pass  # the hub is going away anyway

    def write_state(self) -> None:
        """``demo.json``: the URLs, the ports and the process ids (for tests and scripts)."""
        state = {
            "started_at": self.started_at,
            "incident": {"starts": self.timeline.starts, "ends": self.timeline.ends},
            "urls": asdict(self.urls),
            "ports": asdict(self.ports),
            "pids": {name: child.pid for name, child in self.children.items()},
            "hub_config": str(self.layout.hub_yaml),
            "hub_database": self.layout.hub_database,
        }
        self.layout.state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
