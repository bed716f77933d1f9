"""otel-collector/: the sampling Collector and the trace-id load-balancing tier in front.

``config.yaml`` applies the SDK's error-priority policy centrally with ``tail_sampling``
(keep error traces, slow traces, and a probabilistic share of the rest — the same slow
threshold and ratio as the SDK's defaults), exports traces to Tempo or Jaeger (OTLP), metrics to a
Prometheus endpoint and logs to Loki (OTLP), each with a persistent sending queue on
``file_storage`` and retries; its logs pipeline receives the SDK's OTLP log records
(``logs_exporter=otlp``) on the same OTLP receiver. ``loadbalancer.yaml`` is the first tier
for fleets: it routes every span of a trace to the same sampling Collector
(``routing_key: traceID``), and log records on to the sampling Collectors as well.
"""

from __future__ import annotations

from decimal import Decimal

from .._settings import OPTIONS
from ._traces import TRACES_BACKENDS, TracesBackend
from ._units import dec, fmt

__all__ = ["collector_config", "loadbalancer_config"]

STORAGE = "/var/lib/otelcol/file_storage"
_DEFAULTS = {option.name: option.default for option in OPTIONS}


def _extensions() -> dict[str, object]:
    return {
        "health_check": {"endpoint": "0.0.0.0:13133"},
        "file_storage": {"directory": STORAGE, "create_directory": True},
    }


def _queue(queue_size: int = 5000) -> dict[str, object]:
    return {
        "sending_queue": {"enabled": True, "storage": "file_storage", "queue_size": queue_size},
        "retry_on_failure": {
            "enabled": True,
            "initial_interval": "5s",
            "max_interval": "30s",
            "max_elapsed_time": "10m",
        },
    }


def _receivers() -> dict[str, object]:
    return {
        "otlp": {
            "protocols": {
                "grpc": {"endpoint": "0.0.0.0:4317"},
                "http": {"endpoint": "0.0.0.0:4318"},
            }
        }
    }


def _memory_limiter() -> dict[str, object]:
    return {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20}


def _tail_sampling() -> dict[str, object]:
    slow_ms = int(dec(_DEFAULTS["slow_threshold_seconds"]) * 1000)
    percent = dec(_DEFAULTS["success_sample_ratio"]) * Decimal(100)
    return {
        "decision_wait": "10s",
        "num_traces": 100000,
        "expected_new_traces_per_sec": 100,
        "policies": [
            {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
            {"name": "slow", "type": "latency", "latency": {"threshold_ms": slow_ms}},
            {
                "name": "probabilistic",
                "type": "probabilistic",
                "probabilistic": {"sampling_percentage": float(fmt(percent))},
            },
        ],
    }


def collector_config(backend: TracesBackend = TRACES_BACKENDS["tempo"]) -> dict[str, object]:
    """The sampling tier (also the single Collector of a small deployment)."""
    traces = {"endpoint": backend.otlp_endpoint, "tls": {"insecure": True}, **_queue()}
    return {
        "extensions": _extensions(),
        "receivers": _receivers(),
        "processors": {
            "memory_limiter": _memory_limiter(),
            "tail_sampling": _tail_sampling(),
            "batch": {"send_batch_size": 8192, "timeout": "5s"},
        },
        "exporters": {
            backend.exporter: traces,
            "prometheus": {
                "endpoint": "0.0.0.0:8889",
                "resource_to_telemetry_conversion": {"enabled": True},
            },
            "otlphttp/loki": {"endpoint": "http://loki:3100/otlp", **_queue()},
        },
        "service": {
            "extensions": ["health_check", "file_storage"],
            "telemetry": {"metrics": {"address": "0.0.0.0:8888"}},
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter", "tail_sampling", "batch"],
                    "exporters": [backend.exporter],
                },
                "metrics": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter", "batch"],
                    "exporters": ["prometheus"],
                },
                "logs": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter", "batch"],
                    "exporters": ["otlphttp/loki"],
                },
            },
        },
    }


def loadbalancer_config(sampling_host: str = "otel-collector") -> dict[str, object]:
    """The first tier for fleets: every span of a trace goes to the same sampling Collector."""
    return {
        "extensions": _extensions(),
        "receivers": _receivers(),
        "processors": {"memory_limiter": _memory_limiter()},
        "exporters": {
            "loadbalancing": {
                "routing_key": "traceID",
                "protocol": {"otlp": {"tls": {"insecure": True}, **_queue()}},
                "resolver": {"dns": {"hostname": sampling_host, "port": 4317}},
            },
        },
        "service": {
            "extensions": ["health_check", "file_storage"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter"],
                    "exporters": ["loadbalancing"],
                },
                "logs": {  # the SDK's OTLP logs (logs_exporter=otlp), on to a sampling Collector
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter"],
                    "exporters": ["loadbalancing"],
                },
            },
        },
    }
