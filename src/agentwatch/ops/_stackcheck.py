"""The stack cross-check: the generated files agree with each other.

- Every Collector-style config (``otel-collector/*.yaml``, ``jaeger/config.yaml``): each
  pipeline names only receivers, processors and exporters the file defines, and each
  extension the service lists is defined.
- ``docker-compose.yml``: every ``./file`` it mounts exists in the folder, every named
  volume and secret is declared, every ``depends_on`` is a service.
- The wiring: each Collector exporter's ``host:port`` and each Grafana data source URL
  names a Compose service, and a trace backend receiving OTLP listens on the port the
  Collector sends to.

No tool needed; :func:`stack_problems` returns one line per problem.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

__all__ = ["stack_problems"]

_KINDS = ("receivers", "processors", "exporters", "connectors")


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # reported by the parse check


def _collector_files(root: Path) -> Iterator[Path]:
    yield from sorted((root / "otel-collector").glob("*.yaml"))
    jaeger = root / "jaeger" / "config.yaml"
    if jaeger.is_file():
        yield jaeger


def _pipeline_problems(rel: str, config: Mapping[str, Any]) -> list[str]:
    problems = []
    service = config.get("service") or {}
    defined = {kind: set(config.get(kind) or {}) for kind in _KINDS}
    for name, pipeline in (service.get("pipelines") or {}).items():
        for kind in ("receivers", "processors", "exporters"):
            usable = defined[kind] | (defined["connectors"] if kind != "processors" else set())
            for component in pipeline.get(kind) or ():
                if component not in usable:
                    problems.append(
                        f"{rel}: pipeline {name} uses undefined {kind[:-1]} {component!r}"
                    )
    extensions = set(config.get("extensions") or {})
    for extension in service.get("extensions") or ():
        if extension not in extensions:
            problems.append(f"{rel}: service uses undefined extension {extension!r}")
    return problems


def _compose_problems(root: Path, compose: Mapping[str, Any]) -> list[str]:
    problems = []
    services = compose.get("services") or {}
    volumes, secrets = set(compose.get("volumes") or {}), set(compose.get("secrets") or {})
    for name, service in services.items():
        for mount in service.get("volumes") or ():
            source = str(mount).split(":", 1)[0]
            if source.startswith("./") and not (root / source).exists():
                problems.append(f"docker-compose.yml: {name} mounts missing {source}")
            elif not source.startswith(("/", ".")) and source not in volumes:
                problems.append(f"docker-compose.yml: {name} uses undeclared volume {source!r}")
        for secret in service.get("secrets") or ():
            secret_name = secret["source"] if isinstance(secret, dict) else secret
            if secret_name not in secrets:
                problems.append(
                    f"docker-compose.yml: {name} uses undeclared secret {secret_name!r}"
                )
        for other in service.get("depends_on") or ():
            if other not in services:
                problems.append(f"docker-compose.yml: {name} depends on unknown service {other!r}")
    return problems


def _host_port(endpoint: str) -> tuple[str, int | None]:
    parts = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}")
    return parts.hostname or "", parts.port


def _otlp_ports(config: Mapping[str, Any]) -> set[int]:
    protocols = ((config.get("receivers") or {}).get("otlp") or {}).get("protocols") or {}
    if not protocols:  # Tempo: distributor.receivers.otlp
        receivers = (config.get("distributor") or {}).get("receivers") or {}
        protocols = (receivers.get("otlp") or {}).get("protocols") or {}
    ports = set()
    for protocol in protocols.values():
        _host, port = _host_port(str((protocol or {}).get("endpoint", "")))
        if port is not None:
            ports.add(port)
    return ports


def _wiring_problems(root: Path, services: Mapping[str, Any]) -> list[str]:
    problems = []
    collector = _load(root / "otel-collector" / "config.yaml") or {}
    for name, exporter in (collector.get("exporters") or {}).items():
        endpoint = str((exporter or {}).get("endpoint", ""))
        host, port = _host_port(endpoint)
        if not host or host in ("0.0.0.0", "localhost"):
            continue
        if host not in services:
            problems.append(
                f"otel-collector/config.yaml: exporter {name} sends to unknown host {host!r}"
            )
            continue
        backend = _backend_config(root, host)
        if backend is not None and port is not None and port not in _otlp_ports(backend):
            problems.append(
                f"otel-collector/config.yaml: exporter {name} sends to port {port}, {host} receives OTLP on {sorted(_otlp_ports(backend))}"
            )
    datasources = _load(root / "grafana" / "provisioning" / "datasources" / "datasources.yml")
    for source in (datasources or {}).get("datasources") or ():
        host, _port = _host_port(str(source.get("url", "")))
        if host and host not in services and source.get("uid") != "agentwatch-hub-traces":
            problems.append(
                f"grafana data source {source.get('name')!r} points at unknown host {host!r}"
            )
    return problems


def _backend_config(root: Path, host: str) -> Any:
    for rel in (f"{host}/config.yaml", f"{host}/{host}.yaml"):
        if (root / rel).is_file():
            return _load(root / rel)
    return None


def stack_problems(root: Path) -> list[str]:
    """Every disagreement between the generated files, one line each."""
    problems = []
    for path in _collector_files(root):
        config = _load(path)
        if isinstance(config, dict):
            problems += _pipeline_problems(str(path.relative_to(root)), config)
    compose = _load(root / "docker-compose.yml")
    if isinstance(compose, dict):
        problems += _compose_problems(root, compose)
        problems += _wiring_problems(root, compose.get("services") or {})
    return problems
