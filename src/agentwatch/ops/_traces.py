"""The trace backend of the generated stack: Tempo or Jaeger, each with its OTLP receiver.

One :class:`TracesBackend` says everything the other generators need: where the Collector
sends traces (OTLP gRPC on 4317 for both), the backend's own config file, its Compose
service and volume, and Grafana's data source (uid ``tempo`` or ``jaeger``) that Prometheus
exemplars and Loki's ``trace_id`` links open.

Jaeger is Jaeger v2 (built on the Collector): OTLP receiver on 4317/4318, Badger storage on
a volume with a span TTL (the trace retention), query UI and API on 16686, health on 13133.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .._exceptions import ConfigurationError

__all__ = [
    "TRACES_BACKENDS",
    "TracesBackend",
    "jaeger_config",
    "tempo_config",
    "traces_backend",
]

DEFAULT_TRACE_RETENTION = "168h"  # 7 days


def _otlp_receivers() -> dict[str, object]:
    return {
        "otlp": {
            "protocols": {
                "grpc": {"endpoint": "0.0.0.0:4317"},
                "http": {"endpoint": "0.0.0.0:4318"},
            }
        }
    }


def tempo_config(retention: str = DEFAULT_TRACE_RETENTION) -> dict[str, object]:
    """Tempo single binary: OTLP in, local blocks on the volume kept ``retention``."""
    return {
        "server": {"http_listen_port": 3200},
        "compactor": {"compaction": {"block_retention": retention}},
        "distributor": {"receivers": _otlp_receivers()},
        "storage": {
            "trace": {
                "backend": "local",
                "wal": {"path": "/var/tempo/wal"},
                "local": {"path": "/var/tempo/blocks"},
            }
        },
    }


def jaeger_config(retention: str = DEFAULT_TRACE_RETENTION) -> dict[str, object]:
    """Jaeger v2: OTLP receiver, Badger on the volume with span TTL ``retention``, query UI."""
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            "telemetry": {
                "resource": {"service.name": "jaeger"},
                "metrics": {
                    "level": "detailed",
                    "readers": [
                        {"pull": {"exporter": {"prometheus": {"host": "0.0.0.0", "port": 8888}}}}
                    ],
                },
            },
        },
        "extensions": {
            "healthcheckv2": {"use_v2": True, "http": {"endpoint": "0.0.0.0:13133"}},
            "jaeger_query": {
                "storage": {"traces": "badger_store"},
                "http": {"endpoint": "0.0.0.0:16686"},
            },
            "jaeger_storage": {
                "backends": {
                    "badger_store": {
                        "badger": {
                            "directories": {
                                "keys": "/tmp/jaeger/keys",
                                "values": "/tmp/jaeger/values",
                            },
                            "ephemeral": False,
                            "ttl": {"spans": retention},
                        }
                    }
                }
            },
        },
        "receivers": _otlp_receivers(),
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "badger_store"}},
    }


@dataclass(frozen=True)
class TracesBackend:
    """Where traces go and how the stack runs and shows them."""

    name: str
    title: str  # Grafana data source name
    otlp_endpoint: str  # the Collector's OTLP gRPC exporter endpoint
    query_url: str  # Grafana's data source URL
    config_path: str  # the backend's config file in the generated folder
    mount: str  # where the container reads it
    volume: str  # the Compose volume
    data_dir: str  # where the volume is mounted in the container
    command: tuple[str, ...]
    ports: tuple[str, ...]
    config: Callable[[str], dict[str, object]]  # retention -> config

    @property
    def uid(self) -> str:
        return self.name

    @property
    def exporter(self) -> str:
        return f"otlp/{self.name}"


TRACES_BACKENDS: dict[str, TracesBackend] = {
    "tempo": TracesBackend(
        name="tempo",
        title="Tempo",
        otlp_endpoint="tempo:4317",
        query_url="http://tempo:3200",
        config_path="tempo/tempo.yaml",
        mount="/etc/tempo/tempo.yaml",
        volume="tempo-data",
        data_dir="/var/tempo",
        command=("-config.file=/etc/tempo/tempo.yaml",),
        ports=(),
        config=tempo_config,
    ),
    "jaeger": TracesBackend(
        name="jaeger",
        title="Jaeger",
        otlp_endpoint="jaeger:4317",
        query_url="http://jaeger:16686",
        config_path="jaeger/config.yaml",
        mount="/etc/jaeger/config.yaml",
        volume="jaeger-data",
        data_dir="/tmp",  # the image's VOLUME, writable by its user 10001
        command=("--config=/etc/jaeger/config.yaml",),
        ports=("16686:16686",),
        config=jaeger_config,
    ),
}


def traces_backend(name: str) -> TracesBackend:
    """The backend called ``name``; ConfigurationError naming the choices otherwise."""
    try:
        return TRACES_BACKENDS[name]
    except KeyError:
        raise ConfigurationError(
            "traces_backend", name, "one of " + ", ".join(TRACES_BACKENDS)
        ) from None
