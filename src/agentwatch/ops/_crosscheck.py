"""The catalog cross-check of a generated folder.

Every metric a rule or a dashboard query reads must be a catalog series (histograms as
``_bucket``/``_sum``/``_count``) or of a pack file the folder carries (``packs/*.yaml``,
written by generate), a series recorded by the folder's own rules, or a
standard Prometheus/exporter metric on :data:`STANDARD_METRICS`; label matchers on catalog
metrics must use the metric's labels (or the target labels). Dashboard uids are unique and
every dashboard has a ``service`` variable; every alert has a runbook and a unit test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .._catalog import MetricSpec
from .._catalog.packfile import parse_pack_text
from ._promql import Selector, selectors
from ._slo import series_spec

__all__ = ["STANDARD_METRICS", "cross_check"]

STANDARD_METRICS = frozenset(
    {
        # Prometheus itself
        "up",
        "ALERTS",
        "ALERTS_FOR_STATE",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        # prometheus_client process/platform collectors (the runtime pack)
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "python_gc_collections_total",
        "python_info",
        # node-exporter
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_size_bytes",
        # postgres-exporter, redis-exporter
        "pg_up",
        "pg_stat_database_deadlocks",
        "redis_up",
        # kube-state-metrics, cAdvisor
        "kube_pod_container_status_restarts_total",
        "container_start_time_seconds",
    }
)
TARGET_LABELS = frozenset({"service", "job", "instance", "exported_service"})


def _rule_exprs(folder: Path) -> Iterator[tuple[str, str, str]]:
    """(file, rule name, expr) for every rule; also records the recorded names."""
    for path in sorted((folder / "prometheus" / "rules").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in data.get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert") or rule.get("record") or "?"
                yield str(path.relative_to(folder)), str(name), str(rule.get("expr", ""))


def _recorded(folder: Path) -> set[str]:
    names = set()
    for path in sorted((folder / "prometheus" / "rules").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in data.get("groups", []):
            names |= {str(r["record"]) for r in group.get("rules", []) if "record" in r}
    return names


def _alert_names(folder: Path) -> list[str]:
    return sorted(
        {
            name
            for _f, name, _e in _rule_exprs(folder)
            if not name.startswith("slo:") and ":" not in name
        }
    )


def _panel_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, expr) for every target of every panel (rows included) and variable."""
    stack = list(dashboard.get("panels", []))
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels", []))
        for target in panel.get("targets", []) or []:
            if target.get("expr"):
                yield str(panel.get("title", "?")), str(target["expr"])
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        if isinstance(text, str) and text.startswith("label_values("):
            inner = text[len("label_values(") :].rsplit(",", 1)[0]
            yield f"variable {variable.get('name')}", inner


def dashboards(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, json.loads(path.read_text(encoding="utf-8")))
        for path in sorted((folder / "grafana" / "dashboards").glob("*.json"))
    ]


def folder_packs(folder: Path) -> dict[str, MetricSpec]:
    """Series name -> spec for the pack files the folder carries (``packs/*.yaml``)."""
    specs = {}
    for path in sorted((folder / "packs").glob("*.yaml")):
        pack = parse_pack_text(path.read_text(encoding="utf-8"), str(path))
        for spec in pack.metrics:
            specs.update(dict.fromkeys(spec.series_names, spec))
    return specs


def _check_selector(
    selector: Selector, known: set[str], where: str, declared: dict[str, MetricSpec]
) -> list[str]:
    name = selector.metric
    if name in known or name in STANDARD_METRICS:
        return []
    spec = declared.get(name) or series_spec(name)
    if spec is None:
        return [
            f"{where}: metric {name!r} is not in the catalog or the folder's pack files, "
            "not recorded by the rules and not on the standard list"
        ]
    allowed = set(spec.labels) | TARGET_LABELS | ({"le"} if name.endswith("_bucket") else set())
    return [
        f"{where}: {name} has no label {m.label!r} (labels: {sorted(spec.labels)})"
        for m in selector.matchers
        if m.label not in allowed
    ]


def _exprs_problems(
    pairs: Iterator[tuple[str, str]], known: set[str], declared: dict[str, MetricSpec]
) -> list[str]:
    problems = []
    for where, expr in pairs:
        try:
            for selector in selectors(expr):
                problems += _check_selector(selector, known, where, declared)
        except ValueError as exc:
            problems.append(f"{where}: cannot read expression: {exc}")
    return problems


def cross_check(folder: Path) -> list[str]:
    """Every problem found, as ``file: where: what`` lines (empty when the folder is sound)."""
    known = _recorded(folder) | {"__anonymous__"}
    declared = folder_packs(folder)
    problems = _exprs_problems(
        ((f"{file} rule {name}", expr) for file, name, expr in _rule_exprs(folder)),
        known,
        declared,
    )
    uids: dict[str, Path] = {}
    for path, board in dashboards(folder):
        rel = path.relative_to(folder)
        uid = str(board.get("uid", ""))
        if not uid or uid in uids:
            problems.append(
                f"{rel}: dashboard uid {uid!r} is empty or also used by {uids.get(uid)}"
            )
        uids[uid] = rel
        variables = [v.get("name") for v in board.get("templating", {}).get("list", [])]
        if "service" not in variables:
            problems.append(f"{rel}: dashboard has no 'service' template variable")
        problems += _exprs_problems(
            ((f"{rel} panel {title!r}", expr) for title, expr in _panel_queries(board)),
            known,
            declared,
        )
    for name in _alert_names(folder):
        if not (folder / "runbooks" / f"{name}.md").is_file():
            problems.append(f"runbooks/{name}.md: missing runbook for alert {name}")
        test = folder / "prometheus" / "tests" / f"{name}.yml"
        if not test.is_file() or f"alertname: {name}" not in test.read_text(encoding="utf-8"):
            problems.append(f"prometheus/tests/{name}.yml: missing unit test for alert {name}")
    return problems
