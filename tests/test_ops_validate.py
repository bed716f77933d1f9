"""ops validate with the real promtool and amtool; SLO file errors; the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from tests._ops_stack import binary

from agentwatch import ConfigurationError, ValidationFailedError
from agentwatch._cli import main
from agentwatch.ops import GenerateOptions, SloSpec, generate, validate
from agentwatch.ops._options import TEST_PROFILE

# SLOs nested in the defaults: each SLO's unit test must expect the others it trips
OVERLAPPING = GenerateOptions(
    packs=("http",),
    slos=(
        SloSpec(
            "checkout",
            Decimal("0.995"),
            'http_requests_total{route="/pay"}',
            error='http_requests_total{route="/pay",status=~"5..|429"}',
        ),
        SloSpec(
            "fast",
            Decimal("0.95"),
            "http_request_duration_seconds_count",
            good='http_request_duration_seconds_bucket{le="1.0"}',
            min_events=5,
        ),
    ),
)
CHECKS = [
    "promtool check config",
    "promtool check rules",
    "promtool test rules",
    "amtool check-config",
    "parse yaml/json",
    "hub check hub/hub.yaml",
    "grafana contact point",
    "alertmanager to hub wiring",
    "catalog cross-check",
    "stack cross-check",
    "kubernetes schemas",
]


@pytest.mark.parametrize(
    "options",
    [
        GenerateOptions(),
        GenerateOptions(service="billing", packs=("http", "llm", "db")),
        GenerateOptions(profile=TEST_PROFILE),
        OVERLAPPING,
    ],
    ids=["all-packs", "some-packs", "test-profile", "overlapping-slos"],
)
def test_generated_folder_passes_promtool_amtool_and_the_cross_check(
    tmp_path: Path, options: GenerateOptions
) -> None:
    generate(tmp_path / "out", options)
    report = validate(tmp_path / "out")
    assert list(report.checks) == CHECKS
    assert all(outcome != "failed" for outcome in report.checks.values())
    assert report.problems == []


def test_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    generate(tmp_path / "out", GenerateOptions(packs=("http",)))
    rules = tmp_path / "out/prometheus/rules/alerts.yml"
    rules.write_text(rules.read_text().replace(" > 0.05\n", " > 0.5\n", 1))
    proc = subprocess.run(
        [binary("promtool"), "test", "rules", "tests/HighErrorRate.yml"],
        cwd=tmp_path / "out/prometheus",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "HighErrorRate (severity=warning) fires at 6m" in proc.stdout + proc.stderr


def test_routes_send_every_alert_to_the_hub_once_by_severity(tmp_path: Path) -> None:
    generate(tmp_path / "out", GenerateOptions(packs=("http",)))
    config = tmp_path / "out/alertmanager/alertmanager.yml"
    for labels, receivers in [
        (["severity=critical"], "hub-critical"),
        (["severity=warning"], "hub-warning"),
        (["severity=info"], "hub"),
    ]:
        proc = subprocess.run(
            [
                binary("amtool"),
                "config",
                "routes",
                "test",
                f"--config.file={config}",
                "alertname=X",
                "service=s",
                *labels,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.stdout.strip() == receivers, proc.stderr


def test_slo_window_ratio_is_traffic_weighted(tmp_path: Path) -> None:
    """Heavy clean traffic then a trickle of pure errors: the 1d ratio stays near 1%,
    where an average of 5m ratios would say about 50%."""
    generate(tmp_path / "out", GenerateOptions(packs=("http",)))
    sel = 'slo="api-availability",service="agent-api"'
    test = {
        "rule_files": ["rules/slo.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'http_requests_total{service="agent-api",status="200"}',
                        "values": "0+1000x10 10000+0x10",
                    },
                    {
                        "series": 'http_requests_total{service="agent-api",status="500"}',
                        "values": "0+0x10 10+10x10",
                    },
                ],
                "promql_expr_test": [
                    {
                        "expr": f"slo:sli_error:ratio_rate1d{{{sel}}} < bool 0.05",
                        "eval_time": "20m",
                        "exp_samples": [{"labels": f"{{{sel}}}", "value": 1}],
                    },
                    {
                        "expr": f"slo:sli_error:ratio_rate1d{{{sel}}} > bool 0.005",
                        "eval_time": "20m",
                        "exp_samples": [{"labels": f"{{{sel}}}", "value": 1}],
                    },
                    {
                        "expr": f"slo:sli_error:ratio_rate5m{{{sel}}} > bool 0.99",
                        "eval_time": "20m",
                        "exp_samples": [{"labels": f"{{{sel}}}", "value": 1}],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "out/prometheus/weighted.yml"
    path.write_text(yaml.safe_dump(test))
    proc = subprocess.run(
        [binary("promtool"), "test", "rules", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cross_check_names_every_problem(tmp_path: Path) -> None:
    out = tmp_path / "out"
    generate(out, GenerateOptions(packs=("http",)))
    rules = out / "prometheus/rules/alerts.yml"
    text = rules.read_text().replace("http_requests_in_progress{", "http_requests_in_flight{")
    rules.write_text(
        text.replace(
            'http_requests_total{service="agent-api",status=~"5.."}',
            'http_requests_total{service="agent-api",code=~"5.."}',
            1,
        )
    )
    (out / "runbooks/ServiceDown.md").unlink()
    boards = sorted((out / "grafana/dashboards").glob("*.json"))
    second = json.loads(boards[1].read_text())
    second["uid"] = json.loads(boards[0].read_text())["uid"]
    boards[1].write_text(json.dumps(second))
    with pytest.raises(ValidationFailedError) as caught:
        validate(out)
    message = str(caught.value)
    assert "metric 'http_requests_in_flight' is not in the catalog" in message
    assert "http_requests_total has no label 'code'" in message
    assert "runbooks/ServiceDown.md: missing runbook" in message
    assert f"dashboard uid {second['uid']!r}" in message
    assert "prometheus/rules/alerts.yml rule HighRequestsInProgress" in message


def test_missing_tools_fail_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate(tmp_path / "out", GenerateOptions(packs=("http",)))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(
        ValidationFailedError, match="apt-get install prometheus prometheus-alertmanager"
    ):
        validate(tmp_path / "out")


SLO_HEAD = "slos:\n  - name: checkout\n"


@pytest.mark.parametrize(
    ("body", "field", "line"),
    [
        ("slos: [\n  - name: x\n", "slo file", 2),
        ("include_defaults: false\n", "slos", 1),
        (SLO_HEAD + "    objective: abc\n    total: http_requests_total\n", "slos[0].objective", 3),
        (
            SLO_HEAD + "    objective: 0.5\n    total: http_requests_total\n"
            '    error: http_requests_total{status="500"}\n',
            "slos[0].objective",
            3,
        ),
        (SLO_HEAD + "    objectve: 0.99\n", "slos[0].objectve", 3),
        (
            SLO_HEAD + "    objective: 0.99\n    total: no_such_metric_total\n"
            '    error: no_such_metric_total{status="error"}\n',
            "slos[0].total",
            4,
        ),
        (
            SLO_HEAD + "    objective: 0.99\n    total: http_requests_total\n"
            '    error: http_requests_total{code="500"}\n',
            "slos[0].error",
            5,
        ),
        (
            SLO_HEAD + "    objective: 0.99\n    total: http_request_duration_seconds_count\n"
            '    good: http_request_duration_seconds_bucket{le="0.3"}\n',
            "slos[0].good",
            5,
        ),
        (
            SLO_HEAD + "    objective: 0.99\n    total: http_requests_total\n",
            "slos[0].error/good",
            2,
        ),
        (
            SLO_HEAD + "    objective: 0.99\n    window: 30x\n    total: http_requests_total\n"
            '    error: http_requests_total{status="500"}\n',
            "slos[0].window",
            4,
        ),
        (
            SLO_HEAD + "    objective: 0.99\n    min_events: 2.5\n    total: http_requests_total\n"
            '    error: http_requests_total{status="500"}\n',
            "slos[0].min_events",
            4,
        ),
    ],
    ids=[
        "yaml-syntax",
        "no-slos",
        "objective-text",
        "objective-too-low",
        "unknown-field",
        "unknown-metric",
        "unknown-label",
        "not-a-bucket",
        "neither-error-nor-good",
        "bad-window",
        "fractional-min-events",
    ],
)
def test_a_malformed_slo_file_names_file_line_and_field(
    tmp_path: Path, body: str, field: str, line: int
) -> None:
    slo_file = tmp_path / "slo.yml"
    slo_file.write_text(body)
    with pytest.raises(ConfigurationError) as caught:
        generate(tmp_path / "out", GenerateOptions(slo_file=slo_file))
    assert caught.value.key.startswith(field)
    assert caught.value.source == f"{slo_file}:{line}"
    assert not (tmp_path / "out").exists()


def test_cli_generates_and_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert (
        main(
            [
                "ops",
                "generate",
                "--out",
                str(out),
                "--service",
                "cli-api",
                "--packs",
                "http,workflow",
                "--target",
                "10.0.0.5:9000",
                "--no-infra",
            ]
        )
        == 0
    )
    assert main(["ops", "validate", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "promtool test rules: ok" in printed and "catalog cross-check: ok" in printed
    jobs = yaml.safe_load((out / "prometheus/prometheus.yml").read_text())["scrape_configs"]
    assert [j["job_name"] for j in jobs] == ["cli-api", "agentwatch-hub"]
    assert jobs[0]["static_configs"][0]["targets"] == ["10.0.0.5:9000"]


def test_cli_rejects_an_unknown_pack_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ops", "generate", "--out", str(tmp_path / "out"), "--packs", "http,nope"]) == 2
    error = capsys.readouterr().err
    assert "packs='nope'" in error and "one of agent," in error
    assert not (tmp_path / "out").exists()


def test_cli_validate_exits_1_and_lists_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(tmp_path / "out", GenerateOptions(packs=("http",)))
    shutil.rmtree(tmp_path / "out/runbooks")
    assert main(["ops", "validate", str(tmp_path / "out")]) == 1
    assert "missing runbook for alert HighErrorRate" in capsys.readouterr().out


def test_a_dashboard_url_annotates_every_alert_and_its_unit_tests(tmp_path: Path) -> None:
    url = "https://grafana.example.com/d/agentwatch-http"
    generate(tmp_path / "out", GenerateOptions(packs=("http", "llm"), dashboard_url=url))
    groups = yaml.safe_load((tmp_path / "out/prometheus/rules/alerts.yml").read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert rules and all(rule["annotations"]["dashboard_url"] == url for rule in rules)
    assert validate(tmp_path / "out").checks["promtool test rules"] == "ok"
