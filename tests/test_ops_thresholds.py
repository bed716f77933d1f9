"""The ops settings file: thresholds the specifications agree on, retention, new alerts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agentwatch import ConfigurationError
from agentwatch._cli import main
from agentwatch.ops import GenerateOptions, generate, validate
from agentwatch.ops._thresholds import load_ops_settings

STRICT = """\
thresholds:
  latency_p95_seconds: 0.3
  latency_for: 3m
  error_rate_warning: 0.01
  error_rate_critical: 0.02
  error_rate_critical_for: 1m
  memory_used_ratio: 0.7
  cpu_busy_ratio: 0.5
  disk_free_ratio: 0.3
  process_memory_bytes: 536870912
retention:
  prometheus: 90d
  traces: 14d
  logs: 3d
"""


def _rules(folder: Path) -> dict[tuple[str, str], dict[str, object]]:
    data = yaml.safe_load((folder / "prometheus/rules/alerts.yml").read_text())
    return {
        (rule["alert"], rule["labels"]["severity"]): rule
        for group in data["groups"]
        for rule in group["rules"]
    }


def test_default_thresholds_follow_the_specifications(tmp_path: Path) -> None:
    generate(tmp_path / "out", GenerateOptions())
    rules = _rules(tmp_path / "out")
    assert rules["HighLatencyP95", "warning"]["expr"].endswith(" > 2")
    assert rules["HighLatencyP95", "warning"]["for"] == "5m"
    assert rules["HighErrorRate", "warning"]["expr"].endswith(" > 0.05")
    assert rules["HighErrorRate", "warning"]["for"] == "5m"
    assert rules["HighErrorRate", "critical"]["expr"].endswith(" > 0.1")
    assert rules["HighErrorRate", "critical"]["for"] == "2m"
    assert rules["HighMemoryUsage", "warning"]["expr"].endswith(" > 0.85")
    assert rules["HighCpuUsage", "warning"]["expr"].endswith(" > 0.8")
    assert rules["LowDiskSpace", "warning"]["expr"].endswith(" < 0.15")
    assert rules["ProcessMemoryHigh", "warning"]["expr"].endswith(" > 1073741824")
    for name in ("ContainerRestarted", "DatabaseDeadlocks", "ProcessMemoryHigh"):
        assert (tmp_path / f"out/prometheus/tests/{name}.yml").is_file()
        assert (tmp_path / f"out/runbooks/{name}.md").is_file()


def test_the_settings_file_sets_every_threshold_and_the_unit_tests_follow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "agentwatch-ops.yaml").write_text(STRICT)
    monkeypatch.chdir(tmp_path)  # ops generate reads ./agentwatch-ops.yaml by default
    assert main(["ops", "generate", "--out", "out"]) == 0
    rules = _rules(tmp_path / "out")
    assert rules["HighLatencyP95", "warning"]["expr"].endswith(" > 0.3")
    assert rules["HighLatencyP95", "warning"]["for"] == "3m"
    assert rules["HighErrorRate", "warning"]["expr"].endswith(" > 0.01")
    assert rules["HighErrorRate", "critical"]["for"] == "1m"
    assert rules["LowDiskSpace", "warning"]["expr"].endswith(" < 0.3")
    assert rules["ProcessMemoryHigh", "warning"]["expr"].endswith(" > 536870912")
    assert validate(tmp_path / "out").problems == []  # promtool tests pass on the new limits
    compose = yaml.safe_load((tmp_path / "out/docker-compose.yml").read_text())
    assert "--storage.tsdb.retention.time=90d" in compose["services"]["prometheus"]["command"]
    assert "-store.retention=72h" in compose["services"]["loki"]["command"]
    tempo = yaml.safe_load((tmp_path / "out/tempo/tempo.yaml").read_text())
    assert tempo["compactor"]["compaction"]["block_retention"] == "336h"
    config_map = yaml.safe_load((tmp_path / "out/k8s/retention.yaml").read_text())
    assert config_map["data"] == {
        "PROMETHEUS_RETENTION": "90d",
        "TEMPO_BLOCK_RETENTION": "336h",
        "LOKI_RETENTION_PERIOD": "72h",
    }


def test_default_retention_is_30_days_of_metrics_and_7_of_traces_and_logs(tmp_path: Path) -> None:
    generate(tmp_path / "out", GenerateOptions())
    compose = yaml.safe_load((tmp_path / "out/docker-compose.yml").read_text())
    assert "--storage.tsdb.retention.time=30d" in compose["services"]["prometheus"]["command"]
    assert "-store.retention=168h" in compose["services"]["loki"]["command"]
    tempo = yaml.safe_load((tmp_path / "out/tempo/tempo.yaml").read_text())
    assert tempo["compactor"]["compaction"]["block_retention"] == "168h"


@pytest.mark.parametrize(
    ("text", "key", "accepted"),
    [
        ("thresholds:\n  latency_p95: 2\n", "thresholds.latency_p95", "one of latency_p95_seconds"),
        ("thresholds:\n  error_rate_warning: 5\n", "thresholds.error_rate_warning", "0 and 1"),
        ("thresholds:\n  latency_for: soon\n", "thresholds.latency_for", "a duration"),
        ("thresholds:\n  latency_for: 90s\n", "thresholds.latency_for", "whole number of minutes"),
        ("retention:\n  traces: 90m\n", "retention.traces", "whole number of hours"),
        (
            "thresholds:\n  error_rate_warning: 0.2\n",
            "thresholds",
            "error_rate_warning below error_rate_critical",
        ),
        ("colour: red\n", "colour", "one of thresholds, retention"),
    ],
)
def test_a_bad_settings_file_names_the_file_line_and_key(
    tmp_path: Path, text: str, key: str, accepted: str
) -> None:
    path = tmp_path / "agentwatch-ops.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        load_ops_settings(path)
    assert caught.value.key == key
    assert accepted in str(caught.value) and f"{path}:" in str(caught.value)


def test_a_latency_threshold_outside_the_buckets_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("thresholds:\n  latency_p95_seconds: 20\n")
    options = GenerateOptions(settings=load_ops_settings(tmp_path / "s.yaml"))
    with pytest.raises(ConfigurationError, match="latency_p95_seconds"):
        generate(tmp_path / "out", options)


def test_an_slo_may_use_any_bucket_of_the_histogram_however_written(tmp_path: Path) -> None:
    slo_file = tmp_path / "slo.yaml"
    slo_file.write_text(
        "slos:\n"
        "  - name: agent-fast\n"
        "    objective: 0.95\n"
        "    total: agent_run_duration_seconds_count\n"
        '    good: agent_run_duration_seconds_bucket{le="120"}\n'
    )
    generate(tmp_path / "out", GenerateOptions(packs=("http", "agent"), slo_file=slo_file))
    assert 'le="120.0"' in (tmp_path / "out/prometheus/rules/slo.yml").read_text()
    assert validate(tmp_path / "out").problems == []
