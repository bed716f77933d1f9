"""Pack files: loading (with precise errors), init(packs=...), ops generate --pack-file."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from tests._apps import init_for_test

import agentwatch
from agentwatch import ConfigurationError
from agentwatch._catalog import CATALOG
from agentwatch._catalog.packfile import PackFile, load_packs, parse_pack_text, shipped_packs
from agentwatch._cli import main
from agentwatch.ops import GenerateOptions, generate, validate

COLLECTIONS = """\
pack: collections
title: Collections
metrics:
  - name: collections_calls_total
    kind: counter
    help: Calls placed, by outcome.
    labels: [outcome]
    values: {outcome: [answered, failed]}
    budget: 20
  - name: collections_call_duration_seconds
    kind: histogram
    help: Call duration.
    unit: seconds
    buckets: [1, 10, 60, 300]
dashboard:
  rows:
    - title: Calls
      panels:
        - title: Calls by outcome
          unit: ops
          queries:
            - expr: sum by (outcome) (rate(collections_calls_total[$__rate_interval]))
              legend: "{{outcome}}"
alerts:
  - name: CollectionsCallsFailing
    severity: warning
    expr: sum by (service) (rate(collections_calls_total{outcome="failed"}[5m])) > 1
    for: 10m
    summary: "{{ $labels.service }}: calls failing"
    description: More than one call a second fails.
    diagnosis:
      - {title: Calls by outcome, query: "sum by (outcome) (rate(collections_calls_total[5m]))"}
    test:
      fire:
        - {series: 'collections_calls_total{outcome="failed"}', per_step: 600}
      quiet:
        - {series: 'collections_calls_total{outcome="failed"}', per_step: 1}
"""


@pytest.fixture
def pack_path(tmp_path: Path) -> Path:
    path = tmp_path / "collections.yaml"
    path.write_text(COLLECTIONS)
    return path


@pytest.mark.parametrize(
    ("old", "new", "key", "accepted"),
    [
        ("kind: counter", "kind: summary", "metrics[0].kind", "counter, gauge, histogram"),
        ("    budget: 20\n", "    budget: many\n", "metrics[0].budget", "a whole number"),
        ("    budget: 20\n", "    colour: red\n", "metrics[0].colour", "one of name, kind"),
        (
            "collections_calls_total\n    kind",
            "collections_calls\n    kind",
            "metrics[0].name",
            "a counter name ending in _total",
        ),
        ("severity: warning", "severity: loud", "alerts[0].severity", "critical, warning"),
        (
            "kind: histogram\n    help",
            "kind: histogram\n    labels: [le]\n    help",
            "metrics[1].labels[0]",
            "other than service and le",
        ),
        (
            "          unit: ops\n",
            "          width: 30\n",
            "dashboard.rows[0].panels[0].width",
            "1 to 24",
        ),
        ("per_step: 600", "per_step: lots", "alerts[0].test.fire[0].per_step", "a number"),
        ("values: {outcome:", "values: {result:", "metrics[0].values.result", "outcome"),
    ],
)
def test_a_bad_pack_file_names_the_file_the_key_path_and_what_is_accepted(
    tmp_path: Path, old: str, new: str, key: str, accepted: str
) -> None:
    assert old in COLLECTIONS
    path = tmp_path / "bad.yaml"
    path.write_text(COLLECTIONS.replace(old, new, 1))
    with pytest.raises(ConfigurationError) as caught:
        load_packs([path])
    message = str(caught.value)
    assert caught.value.key == key, message
    assert accepted in message and str(path) in message


def test_a_query_naming_an_undeclared_metric_stops_generation(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(
        COLLECTIONS.replace("typo", "x")
        .replace("pack: collections", "pack: typo")
        .replace("collections_", "typo_")
        .replace("rate(typo_calls_total[$__rate", "rate(typo_cals_total[$__rate")
    )
    with pytest.raises(ConfigurationError) as caught:
        generate(tmp_path / "out", GenerateOptions(packs=("http",), pack_files=(path,)))
    assert caught.value.value == "typo_cals_total"
    assert "dashboard.rows[0].panels[0].queries[0].expr" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_unknown_pack_names_list_the_shipped_ones() -> None:
    with pytest.raises(ConfigurationError, match="rag"):
        load_packs(["nope"])
    with pytest.raises(ConfigurationError, match="built-in packs are always on"):
        load_packs(["http"])


def test_every_shipped_pack_parses_with_a_dashboard_and_alerts() -> None:
    assert set(shipped_packs()) == set(SHIPPED)
    for name in shipped_packs():
        path = Path(agentwatch.__file__).parent / "_catalog" / "shipped" / f"{name}.yaml"
        pack = parse_pack_text(path.read_text(), str(path))
        assert pack.pack == name and pack.rows and pack.alerts, name


SHIPPED = ("api_keys", "business", "compliance", "llm_quality", "rag")
PERSONAL_LABELS = {"customer", "customer_id", "phone", "email", "user", "user_id", "key"}


def _shipped(name: str) -> PackFile:
    path = Path(agentwatch.__file__).parent / "_catalog" / "shipped" / f"{name}.yaml"
    return parse_pack_text(path.read_text(), str(path))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_pack_labels_are_bounded_and_budgeted(name: str) -> None:
    pack = _shipped(name)
    for spec in pack.metrics:
        assert not PERSONAL_LABELS & set(spec.labels), (spec.name, spec.labels)
        declared = pack.label_values[spec.name]
        assert set(declared) == set(spec.labels), f"{spec.name}: values for every label"
        assert spec.budget >= math.prod(len(v) for v in declared.values()), spec.name


def test_contact_attempts_per_customer_is_one_histogram_without_a_customer_series() -> None:
    pack = _shipped("compliance")
    attempts = [spec for spec in pack.metrics if "per_customer" in spec.name]
    assert [(s.name, s.kind, s.labels) for s in attempts] == [
        ("compliance_contact_attempts_per_customer", "histogram", ("channel",))
    ]


def test_per_agent_and_per_key_labels_carry_a_budget() -> None:
    budgets = {
        spec.name: spec.budget
        for name in ("business", "api_keys")
        for spec in _shipped(name).metrics
        if {"agent_id", "key_id"} & set(spec.labels)
    }
    assert budgets["business_agent_tasks_total"] == 600
    assert budgets["api_key_requests_total"] == 1500
    assert len(budgets) == 6


def test_init_registers_shipped_and_file_packs(pack_path: Path) -> None:
    handle, _ = init_for_test(packs=["rag", str(pack_path)])
    try:
        assert CATALOG["vector_store_searches_total"].pack == "rag"
        agentwatch.metric("collections_calls_total").labels("answered").inc()
        agentwatch.metric("vector_store_searches_total").labels("docs", "success").inc(3)
        text = generate_latest(handle.registry).decode()
        assert 'collections_calls_total{outcome="answered"} 1.0' in text
        assert 'vector_store_searches_total{collection="docs",status="success"} 3.0' in text
    finally:
        handle.shutdown()


def test_a_handle_without_packs_does_not_expose_packs_loaded_elsewhere(pack_path: Path) -> None:
    load_packs([pack_path])
    handle, _ = init_for_test()
    try:
        assert "collections_call_duration_seconds" not in generate_latest(handle.registry).decode()
    finally:
        handle.shutdown()


def test_ops_generate_pack_file_writes_board_rules_tests_runbooks_and_validates(
    tmp_path: Path, pack_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "deploy"
    argv = ["ops", "generate", "--out", str(out), "--packs", "http", "--pack-file", str(pack_path)]
    assert main(argv) == 0
    assert (out / "grafana/dashboards/aw-pack-collections.json").is_file()
    assert (out / "prometheus/tests/CollectionsCallsFailing.yml").is_file()
    assert (out / "runbooks/CollectionsCallsFailing.md").is_file()
    rules = (out / "prometheus/rules/alerts.yml").read_text()
    assert 'collections_calls_total{service="agent-api",outcome="failed"}[5m]' in rules
    assert (out / "packs/collections.yaml").read_text() == COLLECTIONS
    capsys.readouterr()
    assert main(["ops", "validate", str(out)]) == 0
    assert "catalog cross-check: ok" in capsys.readouterr().out
    report = validate(out)
    assert report.problems == []


def test_the_operations_doc_lists_every_shipped_pack_with_its_alerts() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "operations.md").read_text()
    for name in shipped_packs():
        (row,) = [line for line in doc.splitlines() if line.startswith(f"| `{name}` |")]
        assert [a.name for a in _shipped(name).alerts if f"`{a.name}`" not in row] == [], name
