"""docker-compose.yml for the whole stack (traces in Tempo or Jaeger: ``_traces.py``).

Images are pinned. No default password anywhere: Grafana's admin password, the hub's
tokens and every notification secret are Compose secrets read from ``./secrets/<name>``
files the operator creates (see the folder's README); exporter credentials come from the
environment. The hub runs ``hub/hub.yaml`` and is the only one that notifies people:
Alertmanager gets the intake token alone, Grafana the HMAC secret of its contact point.
"""

from __future__ import annotations

from ._hubfile import HUB_PORT
from ._options import GenerateOptions
from ._routing import SECRET_FILES
from ._traces import TracesBackend, tempo_config, traces_backend

__all__ = ["IMAGES", "SECRETS", "compose_file", "tempo_config"]

IMAGES = {
    "otel-collector": "otel/opentelemetry-collector-contrib:0.103.1",
    "prometheus": "prom/prometheus:v2.53.1",
    "alertmanager": "prom/alertmanager:v0.27.0",
    "tempo": "grafana/tempo:2.5.0",
    "jaeger": "jaegertracing/jaeger:2.20.0",
    "loki": "grafana/loki:3.1.0",
    "grafana": "grafana/grafana:12.1.0",  # 12: webhook contact points sign with HMAC
    "node-exporter": "prom/node-exporter:v1.8.2",
    "cadvisor": "gcr.io/cadvisor/cadvisor:v0.49.1",
    "postgres-exporter": "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
    "redis-exporter": "oliver006/redis_exporter:v1.62.0",
    "hub": "python:3.11.9-slim",
}
_HUB_SECRETS = tuple(SECRET_FILES.values())  # the hub reads every one of them
SECRETS = ("grafana_admin_password", *_HUB_SECRETS, "postgres_password")
_AM_SECRETS = (SECRET_FILES["intake_token"],)


def _service(name: str, **body: object) -> dict[str, object]:
    return {"image": IMAGES[name], "restart": "unless-stopped", **body}


def _traces_service(backend: TracesBackend) -> dict[str, object]:
    body: dict[str, object] = {
        "command": list(backend.command),
        "volumes": [
            f"./{backend.config_path}:{backend.mount}:ro",
            f"{backend.volume}:{backend.data_dir}",
        ],
    }
    if backend.ports:
        body["ports"] = list(backend.ports)
    return _service(backend.name, **body)


def _observability(options: GenerateOptions) -> dict[str, object]:
    secrets_dir = options.receivers.secrets_dir.rstrip("/")
    backend = traces_backend(options.traces_backend)
    return {
        "otel-collector": _service(
            "otel-collector",
            command=["--config=/etc/otelcol/config.yaml"],
            volumes=[
                "./otel-collector/config.yaml:/etc/otelcol/config.yaml:ro",
                "otelcol-data:/var/lib/otelcol/file_storage",
            ],
            ports=["4317:4317", "4318:4318"],
        ),
        "prometheus": _service(
            "prometheus",
            command=[
                "--config.file=/etc/prometheus/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                f"--storage.tsdb.retention.time={options.settings.retention.prometheus}",
            ],
            volumes=["./prometheus:/etc/prometheus:ro", "prometheus-data:/prometheus"],
            ports=["9090:9090"],
            extra_hosts=["host.docker.internal:host-gateway"],
        ),
        "alertmanager": _service(
            "alertmanager",
            command=[
                "--config.file=/etc/alertmanager/alertmanager.yml",
                "--storage.path=/alertmanager",
            ],
            volumes=[
                "./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro",
                "alertmanager-data:/alertmanager",
            ],
            secrets=[{"source": name, "target": f"{secrets_dir}/{name}"} for name in _AM_SECRETS],
            ports=["9093:9093"],
        ),
        backend.name: _traces_service(backend),
        "loki": _service(
            "loki",
            command=[
                "-config.file=/etc/loki/local-config.yaml",
                f"-store.retention={options.settings.retention.hours('logs')}h",
                "-compactor.retention-enabled=true",
                "-compactor.delete-request-store=filesystem",
            ],
            volumes=["loki-data:/loki"],
        ),
        "grafana": _service(
            "grafana",
            environment={
                "GF_SECURITY_ADMIN_PASSWORD__FILE": "/run/secrets/grafana_admin_password",
                "GF_AUTH_ANONYMOUS_ENABLED": "false",
                "GF_USERS_ALLOW_SIGN_UP": "false",
            },
            secrets=["grafana_admin_password", *_mounted(options, (SECRET_FILES["grafana_hmac"],))],
            volumes=[
                "./grafana/provisioning:/etc/grafana/provisioning:ro",
                "./grafana/dashboards:/etc/grafana/dashboards:ro",
                "grafana-data:/var/lib/grafana",
            ],
            ports=["3000:3000"],
            depends_on=["prometheus", backend.name, "loki"],
        ),
    }


def _mounted(options: GenerateOptions, names: tuple[str, ...]) -> list[object]:
    """Compose secrets at ``secrets_mount`` (Compose's own place is /run/secrets)."""
    mount = options.secrets_mount.rstrip("/")
    if mount == "/run/secrets":
        return list(names)
    return [{"source": name, "target": f"{mount}/{name}"} for name in names]


def _hub(options: GenerateOptions) -> dict[str, object]:
    return _service(
        "hub",
        command=[
            "sh",
            "-c",
            "pip install --no-cache-dir 'agentwatch[hub]==0.1.0' && "
            "exec agentwatch hub serve --config /etc/agentwatch/hub.yaml "
            f"--host 0.0.0.0 --port {HUB_PORT}",
        ],
        volumes=["hub-data:/data", "./hub:/etc/agentwatch:ro", "./runbooks:/runbooks:ro"],
        environment={"XDG_STATE_HOME": "/data"},  # SQLite at /data/agentwatch/hub/hub.db
        secrets=_mounted(options, _HUB_SECRETS),
        ports=[f"{HUB_PORT}:{HUB_PORT}"],
        extra_hosts=["host.docker.internal:host-gateway"],
    )


def _exporters() -> dict[str, object]:
    return {
        "node-exporter": _service(
            "node-exporter",
            command=["--path.rootfs=/host"],
            pid="host",
            volumes=["/:/host:ro,rslave"],
        ),
        "cadvisor": _service(
            "cadvisor",
            privileged=True,
            devices=["/dev/kmsg"],
            volumes=[
                "/:/rootfs:ro",
                "/var/run:/var/run:ro",
                "/sys:/sys:ro",
                "/var/lib/docker/:/var/lib/docker:ro",
            ],
        ),
        "postgres-exporter": _service(
            "postgres-exporter",
            secrets=["postgres_password"],
            environment={
                "DATA_SOURCE_URI": "${POSTGRES_URI:?host:port/db?sslmode=disable}",
                "DATA_SOURCE_USER": "${POSTGRES_USER:?database user to monitor with}",
                "DATA_SOURCE_PASS_FILE": "/run/secrets/postgres_password",
            },
        ),
        "redis-exporter": _service(
            "redis-exporter", environment={"REDIS_ADDR": "${REDIS_ADDR:?redis://host:6379}"}
        ),
    }


def compose_file(options: GenerateOptions) -> dict[str, object]:
    volumes = (
        "otelcol-data",
        "prometheus-data",
        "alertmanager-data",
        traces_backend(options.traces_backend).volume,
        "loki-data",
        "grafana-data",
        "hub-data",
    )
    return {
        "name": f"{options.service}-observability",
        "services": {**_observability(options), **_exporters(), "hub": _hub(options)},
        "volumes": {name: {} for name in volumes},
        "secrets": {name: {"file": f"./secrets/{name}"} for name in SECRETS},
    }
