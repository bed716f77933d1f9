"""ops generate: files, determinism, catalog changes, exact decimals, snapshots, safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentwatch import ConfigurationError, MetricSpec, OpsError, define_pack
from agentwatch._catalog import CATALOG, PACKS
from agentwatch.ops import GenerateOptions, SloSpec, generate
from agentwatch.ops._options import STATUS_ERROR, STATUS_SUCCESS, TEST_PROFILE

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOTS = ROOT / "tests" / "snapshots" / "ops"
UPDATE = os.environ.get("AGENTWATCH_UPDATE_SNAPSHOTS") == "1"


def _read(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _alert_names(folder: Path) -> set[str]:
    names = set()
    for path in (folder / "prometheus" / "rules").glob("*.yml"):
        for group in _yaml(path)["groups"]:
            names |= {r["alert"] for r in group["rules"] if "alert" in r}
    return names


@pytest.fixture(scope="module")
def default_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ops-default") / "deploy"
    generate(folder, GenerateOptions(service="agent-api"))
    return folder


def test_the_folder_holds_every_part_the_issue_lists(default_folder: Path) -> None:
    files = set(_read(default_folder))
    for rel in (
        "prometheus/prometheus.yml",
        "prometheus/rules/alerts.yml",
        "prometheus/rules/slo.yml",
        "alertmanager/alertmanager.yml",
        "grafana/provisioning/datasources/datasources.yml",
        "grafana/provisioning/dashboards/dashboards.yml",
        "otel-collector/config.yaml",
        "otel-collector/loadbalancer.yaml",
        "docker-compose.yml",
        "k8s/deployment.yaml",
        "k8s/service.yaml",
        "runbooks/README.md",
        "README.md",
    ):
        assert rel in files
    names = _alert_names(default_folder)
    assert names >= {
        "HighErrorRate",
        "HighLatencyP95",
        "ServiceDown",
        "HighMemoryUsage",
        "HighCpuUsage",
        "LowDiskSpace",
        "RedisDown",
        "DatabaseConnectionLost",
        "HighRequestsInProgress",
        "EventLoopLag",
        "WorkflowFailureRate",
        "WorkflowSlowP95",
        "AgentFailureSpike",
        "ApprovalBacklog",
        "LLMProviderDown",
        "LLMHighErrorRate",
        "LLMHighCostPerHour",
        "LLMBudgetNearlyExhausted",
        "DbPoolExhaustion",
        "SlowDatabaseQueries",
        "BruteForceLogin",
        "RateLimitViolations",
        "SuspiciousActivity",
        "MetricOverflow",
        "HealthScoreLow",
        "ErrorBudgetBurnPage",
        "ErrorBudgetBurnTicket",
    }
    for name in names:
        assert f"runbooks/{name}.md" in files
        assert f"prometheus/tests/{name}.yml" in files


def test_every_alert_rule_has_severity_summary_description_and_runbook(
    default_folder: Path,
) -> None:
    for path in (default_folder / "prometheus/rules").glob("*.yml"):
        for group in _yaml(path)["groups"]:
            for rule in (r for r in group["rules"] if "alert" in r):
                assert rule["labels"]["severity"] in ("critical", "warning", "info")
                assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
                assert rule["annotations"]["runbook_url"].endswith(f"/runbooks/{rule['alert']}")


def test_error_rate_alert_has_warning_and_critical_tiers(default_folder: Path) -> None:
    rules = [
        r
        for g in _yaml(default_folder / "prometheus/rules/alerts.yml")["groups"]
        for r in g["rules"]
        if r.get("alert") == "HighErrorRate"
    ]
    assert [(r["labels"]["severity"], r["expr"].rsplit(" ", 1)[1]) for r in rules] == [
        ("warning", "0.05"),
        ("critical", "0.1"),
    ]
    assert 'status=~"5.."' in rules[0]["expr"] and 'service="agent-api"' in rules[0]["expr"]


def test_every_alert_test_fires_on_time_and_has_a_quiet_case(default_folder: Path) -> None:
    for name in _alert_names(default_folder):
        tests = _yaml(default_folder / f"prometheus/tests/{name}.yml")["tests"]
        fires = [t for t in tests if "fires at" in t["name"]]
        quiet = [t for t in tests if t["name"].endswith("stays quiet")]
        assert fires and len(quiet) == len(fires), name
        for case in fires:
            before, at = case["alert_rule_test"]
            assert before["exp_alerts"] == [] and at["exp_alerts"], name
            for alert in at["exp_alerts"]:
                assert alert["exp_annotations"]["runbook_url"].endswith(name)
                assert "{{" not in json.dumps(alert["exp_annotations"])


def test_status_values_are_the_ones_the_sdk_records(default_folder: Path) -> None:
    from agentwatch._genai.operation import ERROR, SUCCESS

    assert (STATUS_SUCCESS, STATUS_ERROR) == (SUCCESS, ERROR) == ("success", "error")
    text = (default_folder / "prometheus/rules/alerts.yml").read_text()
    assert 'workflow_runs_total{service="agent-api",status="error"}' in text
    assert 'status="failed"' not in text


def test_scrape_config_labels_the_service_and_scrapes_it_every_5s(default_folder: Path) -> None:
    config = _yaml(default_folder / "prometheus/prometheus.yml")
    assert config["global"]["scrape_interval"] == "15s"
    assert config["global"]["external_labels"] == {"cluster": "local"}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["agent-api"]["scrape_interval"] == "5s"
    assert jobs["agent-api"]["static_configs"][0]["labels"] == {"service": "agent-api"}
    assert set(jobs) == {
        "agent-api",
        "agentwatch-hub",
        "node-exporter",
        "postgres-exporter",
        "redis-exporter",
        "cadvisor",
        "otel-collector",
        "prometheus",
    }
    assert config["rule_files"] == ["rules/alerts.yml", "rules/slo.yml"]


def test_dashboards_have_stable_unique_uids_a_service_variable_and_current_schema(
    default_folder: Path,
) -> None:
    boards = [
        json.loads(p.read_text())
        for p in sorted((default_folder / "grafana/dashboards").glob("*.json"))
    ]
    titles = {b["title"] for b in boards}
    assert titles >= {
        "System Overview",
        "API Performance",
        "Agent Operations",
        "Workflow Overview",
        "Agent Performance",
        "LLM and Cost",
        "Database and Cache",
        "Security",
        "SLO and error budget",
        "Health",
    }
    assert len({b["uid"] for b in boards}) == len(boards)
    for board in boards:
        assert board["uid"].startswith("aw-") and 8 <= len(board["uid"]) <= 40
        assert board["schemaVersion"] >= 39
        assert [v["name"] for v in board["templating"]["list"]] == ["service"]
        ids = [panel["id"] for panel in board["panels"]]
        assert len(set(ids)) == len(ids)
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                assert 'service="$service"' in target["expr"], (board["uid"], panel["title"])


def test_secrets_are_file_references_and_images_are_pinned(default_folder: Path) -> None:
    am = (default_folder / "alertmanager/alertmanager.yml").read_text()
    assert "credentials_file: /etc/alertmanager/secrets/hub_intake_token" in am
    assert "credentials:" not in am and "api_url" not in am and "routing_key" not in am
    hub = (default_folder / "hub/hub.yaml").read_text()
    for key in ("routing_key_file", "url_file", "password_file", "dsn_file", "token_file"):
        assert f"{key}: /run/secrets/" in hub, key
    assert "routing_key:" not in hub and "password:" not in hub and "token:" not in hub
    compose = _yaml(default_folder / "docker-compose.yml")
    for name, service in compose["services"].items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), name
    grafana = compose["services"]["grafana"]["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in grafana
    assert grafana["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"


def test_k8s_probes_use_the_health_endpoints(default_folder: Path) -> None:
    deployment = _yaml(default_folder / "k8s/deployment.yaml")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"


def test_collector_samples_by_error_priority_behind_a_trace_id_balancer(
    default_folder: Path,
) -> None:
    config = _yaml(default_folder / "otel-collector/config.yaml")
    policies = config["processors"]["tail_sampling"]["policies"]
    assert [p["type"] for p in policies] == ["status_code", "latency", "probabilistic"]
    assert config["exporters"]["otlp/tempo"]["sending_queue"]["storage"] == "file_storage"
    assert config["service"]["pipelines"]["traces"]["processors"] == [
        "memory_limiter",
        "tail_sampling",
        "batch",
    ]
    balancer = _yaml(default_folder / "otel-collector/loadbalancer.yaml")
    assert balancer["exporters"]["loadbalancing"]["routing_key"] == "traceID"
    derived = _yaml(default_folder / "grafana/provisioning/datasources/datasources.yml")
    loki = next(d for d in derived["datasources"] if d["type"] == "loki")
    assert loki["jsonData"]["derivedFields"][0]["datasourceUid"] == "tempo"


@pytest.mark.parametrize(
    ("packs", "present", "absent"),
    [
        (
            ("http",),
            {"HighErrorRate", "ServiceDown", "ErrorBudgetBurnPage"},
            {"LLMProviderDown", "WorkflowFailureRate", "RedisDown", "HighCpuUsage"},
        ),
        (
            ("llm", "security"),
            {"LLMHighCostPerHour", "BruteForceLogin", "MetricOverflow"},
            {"HighErrorRate", "ErrorBudgetBurnPage", "AgentFailureSpike"},
        ),
    ],
)
def test_alerts_and_panels_of_unused_packs_are_left_out(
    tmp_path: Path, packs: tuple[str, ...], present: set[str], absent: set[str]
) -> None:
    generate(tmp_path / "out", GenerateOptions(packs=packs))
    names = _alert_names(tmp_path / "out")
    assert present <= names and not absent & names
    text = "".join(p.read_text() for p in (tmp_path / "out/grafana/dashboards").glob("*.json"))
    if "llm" not in packs:
        assert "llm_" not in text


def test_output_is_deterministic_across_runs_and_hash_seeds(tmp_path: Path) -> None:
    # fresh processes: the in-process catalog may carry packs other tests defined
    for name, seed in (("a", "1"), ("b", "1"), ("c", "4242")):
        subprocess.run(
            [sys.executable, "-m", "agentwatch", "ops", "generate", "--out", str(tmp_path / name)],
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            timeout=120,
        )
    first = _read(tmp_path / "a")
    assert first == _read(tmp_path / "b") == _read(tmp_path / "c")


@pytest.fixture
def payments_pack() -> Iterator[None]:
    define_pack(
        "payments",
        [
            MetricSpec(
                "payments_total",
                "counter",
                "Payments by method and status.",
                labels=("method", "status"),
            ),
            MetricSpec(
                "payment_amount_usd",
                "histogram",
                "Payment amounts.",
                labels=("method",),
                buckets=(1.0, 10.0, 100.0),
            ),
        ],
    )
    try:
        yield
    finally:
        for spec in PACKS.pop("payments"):
            CATALOG.pop(spec.name, None)


def test_a_catalog_change_shows_up_in_rules_tests_runbooks_and_dashboards(
    tmp_path: Path, payments_pack: None
) -> None:
    generate(tmp_path / "out", GenerateOptions(packs=("http", "payments")))
    out = tmp_path / "out"
    assert "PaymentsErrorRate" in _alert_names(out)
    assert (out / "prometheus/tests/PaymentsErrorRate.yml").is_file()
    assert (out / "runbooks/PaymentsErrorRate.md").is_file()
    board = json.loads((out / "grafana/dashboards/aw-pack-payments.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert any("payments_total" in e for e in exprs)
    assert any("payment_amount_usd_bucket" in e for e in exprs)


def test_slo_rules_use_exact_decimals(tmp_path: Path) -> None:
    slo_file = tmp_path / "slo.yml"
    slo_file.write_text(
        "include_defaults: false\nslos:\n  - name: checkout\n    objective: 0.9995\n"
        '    total: http_requests_total\n    error: http_requests_total{status=~"5.."}\n'
    )
    generate(tmp_path / "out", GenerateOptions(packs=("http",), slo_file=slo_file))
    text = (tmp_path / "out/prometheus/rules/slo.yml").read_text()
    for threshold in (
        "> 0.0072",
        "> 0.003",
        "> 0.0015",
        "> 0.0005",
        "vector(0.9995)",
        "vector(0.0005)",
    ):
        assert threshold in text
    assert "00000" not in text.replace("100000", "")
    assert SloSpec(
        "x", Decimal("0.999"), "http_requests_total", error='http_requests_total{status="500"}'
    ).budget == Decimal("0.001")


def _snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no snapshot {path}; create it with AGENTWATCH_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(), f"{name} changed; rerun with AGENTWATCH_UPDATE_SNAPSHOTS=1"


def test_slo_rules_and_routes_match_their_snapshots(tmp_path: Path) -> None:
    generate(tmp_path / "out", GenerateOptions(service="agent-api", packs=("http", "agent")))
    _snapshot("slo.yml", (tmp_path / "out/prometheus/rules/slo.yml").read_text())
    _snapshot("alertmanager.yml", (tmp_path / "out/alertmanager/alertmanager.yml").read_text())


def test_test_profile_compresses_windows_and_for(tmp_path: Path) -> None:
    generate(tmp_path / "out", GenerateOptions(packs=("http",), profile=TEST_PROFILE))
    groups = _yaml(tmp_path / "out/prometheus/rules/alerts.yml")["groups"]
    first = next(r for g in groups for r in g["rules"] if r["alert"] == "HighErrorRate")
    assert "[5s]" in first["expr"] and first["for"] == "5s"
    route = _yaml(tmp_path / "out/alertmanager/alertmanager.yml")["route"]
    assert route["group_wait"] == "1s" and route["repeat_interval"] == "12h"


def test_regenerating_replaces_the_folder_and_leaves_no_temporary_folder(tmp_path: Path) -> None:
    generate(tmp_path / "out", GenerateOptions(packs=("http", "llm")))
    assert (tmp_path / "out/prometheus/tests/LLMProviderDown.yml").exists()
    generate(tmp_path / "out", GenerateOptions(packs=("http",)))
    assert not (tmp_path / "out/prometheus/tests/LLMProviderDown.yml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_bad_input_writes_nothing_and_keeps_the_old_folder(tmp_path: Path) -> None:
    generate(tmp_path / "out", GenerateOptions(packs=("http",)))
    before = _read(tmp_path / "out")
    with pytest.raises(ConfigurationError, match="packs='nope'"):
        generate(tmp_path / "out", GenerateOptions(packs=("http", "nope")))
    assert _read(tmp_path / "out") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_folder_not_made_by_agentwatch_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/notes.txt").write_text("keep me")
    with pytest.raises(OpsError, match="not generated by agentwatch"):
        generate(tmp_path / "mine", GenerateOptions())
    assert (tmp_path / "mine/notes.txt").read_text() == "keep me"
