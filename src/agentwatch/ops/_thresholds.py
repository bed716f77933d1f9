"""The ops settings file (``agentwatch-ops.yaml``): alert thresholds and retention.

::

    thresholds:
      latency_p95_seconds: 2        # HighLatencyP95 (warning) when p95 is above, for 5m
      latency_for: 5m
      error_rate_warning: 0.05      # HighErrorRate warning above 5% for 5m
      error_rate_warning_for: 5m
      error_rate_critical: 0.10     # HighErrorRate critical above 10% for 2m
      error_rate_critical_for: 2m
      memory_used_ratio: 0.85       # HighMemoryUsage (node-exporter)
      cpu_busy_ratio: 0.80          # HighCpuUsage
      disk_free_ratio: 0.15         # LowDiskSpace when less is free
      process_memory_bytes: 1073741824   # ProcessMemoryHigh: resident memory of the service
    retention:
      prometheus: 30d               # --storage.tsdb.retention.time
      traces: 7d                    # Tempo's block retention
      logs: 7d                      # Loki's retention period

The defaults are the values the specifications agree on. ``agentwatch ops generate`` reads
``--settings FILE``, or ``agentwatch-ops.yaml`` in the current folder when it exists. Every
key is optional; an unknown key or a bad value fails naming the file, line and key path.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from .._catalog.yamlnodes import At
from .._exceptions import ConfigurationError
from ._units import dec, parse_duration

__all__ = [
    "DEFAULT_SETTINGS_FILE",
    "OpsSettings",
    "Retention",
    "Thresholds",
    "load_ops_settings",
    "retention_configmap",
]

DEFAULT_SETTINGS_FILE = "agentwatch-ops.yaml"


@dataclass(frozen=True)
class Thresholds:
    """Alert thresholds; ratios are shares (0.05 is 5%), ``*_for`` are durations."""

    latency_p95_seconds: Decimal = Decimal(2)
    latency_for: str = "5m"
    error_rate_warning: Decimal = Decimal("0.05")
    error_rate_warning_for: str = "5m"
    error_rate_critical: Decimal = Decimal("0.10")
    error_rate_critical_for: str = "2m"
    memory_used_ratio: Decimal = Decimal("0.85")
    cpu_busy_ratio: Decimal = Decimal("0.80")
    disk_free_ratio: Decimal = Decimal("0.15")
    process_memory_bytes: Decimal = Decimal(1024**3)

    def minutes(self, name: str) -> int:
        """A ``*_for`` duration in whole minutes."""
        return int(parse_duration(str(getattr(self, name))) // 60)


@dataclass(frozen=True)
class Retention:
    """How long the generated stack keeps metrics, traces and logs."""

    prometheus: str = "30d"
    traces: str = "7d"
    logs: str = "7d"

    def hours(self, name: str) -> int:
        return int(parse_duration(getattr(self, name)) // 3600)


@dataclass(frozen=True)
class OpsSettings:
    thresholds: Thresholds = field(default_factory=Thresholds)
    retention: Retention = field(default_factory=Retention)


_RATIOS = (
    "error_rate_warning",
    "error_rate_critical",
    "memory_used_ratio",
    "cpu_busy_ratio",
    "disk_free_ratio",
)


def _duration(at: At, *, minutes: bool) -> str:
    text = at.text()
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise at.fail("a duration such as 5m or 30d") from None
    unit = 60 if minutes else 3600
    if seconds <= 0 or seconds % unit:
        raise at.fail("a positive whole number of " + ("minutes (5m)" if minutes else "hours (7d)"))
    return text


def _number(at: At, name: str) -> Decimal:
    value = dec(at.number())
    if name in _RATIOS and not 0 < value < 1:
        raise at.fail("a share between 0 and 1 (0.05 is 5%)")
    if value <= 0:
        raise at.fail("a positive number")
    return value


def _thresholds(at: At) -> Thresholds:
    names = [f.name for f in fields(Thresholds)]
    values: dict[str, Any] = {}
    for key, item in at.mapping(names).items():
        values[key] = _duration(item, minutes=True) if key.endswith("_for") else _number(item, key)
    thresholds = replace(Thresholds(), **values)
    if thresholds.error_rate_warning >= thresholds.error_rate_critical:
        raise at.fail(
            "error_rate_warning below error_rate_critical",
            f"{thresholds.error_rate_warning} >= {thresholds.error_rate_critical}",
        )
    return thresholds


def _retention(at: At) -> Retention:
    names = [f.name for f in fields(Retention)]
    values = {key: _duration(item, minutes=False) for key, item in at.mapping(names).items()}
    return replace(Retention(), **values)


def load_ops_settings(path: str | Path) -> OpsSettings:
    """Read an ops settings file; errors name the file, the line and the key path."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
        root = yaml.compose(text)
    except OSError as exc:
        raise ConfigurationError("--settings", source, f"a readable file ({exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError("--settings", source, f"valid YAML ({exc})") from None
    if root is None:
        return OpsSettings()
    top = At(root, "", source).mapping(("thresholds", "retention"))
    return OpsSettings(
        thresholds=_thresholds(top["thresholds"]) if "thresholds" in top else Thresholds(),
        retention=_retention(top["retention"]) if "retention" in top else Retention(),
    )


def retention_configmap(service: str, settings: OpsSettings) -> dict[str, object]:
    """k8s/retention.yaml: the retention settings for the cluster's Prometheus, Tempo, Loki.

    Mounted as environment (``envFrom``) by the charts that run the stack in the cluster:
    ``PROMETHEUS_RETENTION`` for ``--storage.tsdb.retention.time``,
    ``TEMPO_BLOCK_RETENTION`` for ``compactor.compaction.block_retention`` and
    ``LOKI_RETENTION_PERIOD`` for ``limits_config.retention_period``.
    """
    retention = settings.retention
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{service}-observability-retention",
            "labels": {"app.kubernetes.io/part-of": "agentwatch"},
        },
        "data": {
            "PROMETHEUS_RETENTION": retention.prometheus,
            "TEMPO_BLOCK_RETENTION": f"{retention.hours('traces')}h",
            "LOKI_RETENTION_PERIOD": f"{retention.hours('logs')}h",
        },
    }
