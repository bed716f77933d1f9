"""``generate()``: render every file in memory, write them to a temporary folder, move it in.

Nothing is half-written: a bad input raises before any file exists, and the finished
folder replaces the old one with renames. A folder not made by agentwatch is never replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .._catalog.packfile import pack_file
from .._exceptions import OpsError
from ._alertmanager import alertmanager_config
from ._alerts import alert_rules
from ._collector import collector_config, loadbalancer_config
from ._compose import compose_file
from ._grafana import dashboard_files, datasources, providers
from ._grafana_alerting import ALERTING_FILE, contact_points
from ._helm import chart_files
from ._hubfile import hub_file
from ._k8s import k8s_files, k8s_values
from ._options import GenerateOptions, load_pack_files, resolve_packs
from ._prometheus import prometheus_config
from ._promtests import unit_test_files
from ._readme import readme
from ._rules import AlertRule, RuleContext, render_alert_groups
from ._runbooks import runbooks
from ._slo import SloSpec, slos_for
from ._slo_rules import slo_alert_rules, slo_groups
from ._traces import traces_backend
from ._yaml import dump

__all__ = ["MARKER", "Plan", "generate", "plan"]

MARKER = ".agentwatch-ops"


@dataclass(frozen=True)
class Plan:
    """What one generation produces: the rules (with scenarios), SLOs and file contents."""

    options: GenerateOptions
    packs: tuple[str, ...]
    slos: tuple[SloSpec, ...]
    alerts: tuple[AlertRule, ...]
    files: dict[str, str]


def plan(options: GenerateOptions) -> Plan:
    """Render everything in memory (raises ConfigurationError on bad input)."""
    declared = load_pack_files(options)
    packs = resolve_packs(options.packs, declared)
    ctx = RuleContext(options)
    slos = slos_for(packs, options.slo_file, options.slos)
    alerts = alert_rules(ctx, packs)
    slo_alerts = slo_alert_rules(ctx, slos)
    files: dict[str, str] = {
        "prometheus/prometheus.yml": dump(prometheus_config(options)),
        "prometheus/rules/alerts.yml": dump(render_alert_groups(alerts, ctx)),
        "prometheus/rules/slo.yml": dump(slo_groups(ctx, slos, slo_alerts)),
        "alertmanager/alertmanager.yml": dump(alertmanager_config(options)),
    }
    for name, body in unit_test_files(ctx, [*alerts, *slo_alerts]).items():
        files[f"prometheus/tests/{name}"] = dump(body)
    for name, text in dashboard_files(packs, slos).items():
        files[f"grafana/dashboards/{name}"] = text
    backend = traces_backend(options.traces_backend)
    files["grafana/provisioning/datasources/datasources.yml"] = dump(
        datasources(
            options.profile.scrape_interval,
            f"http://{options.hub_targets[0]}" if options.hub_targets else None,
            backend,
        )
    )
    files["grafana/provisioning/dashboards/dashboards.yml"] = dump(providers())
    files[ALERTING_FILE] = dump(contact_points(options))
    files["hub/hub.yaml"] = dump(hub_file(options))
    files["otel-collector/config.yaml"] = dump(collector_config(backend))
    files["otel-collector/loadbalancer.yaml"] = dump(loadbalancer_config())
    files["docker-compose.yml"] = dump(compose_file(options))
    files[backend.config_path] = dump(
        backend.config(f"{options.settings.retention.hours('traces')}h")
    )
    for name, body in k8s_files(options).items():
        files[f"k8s/{name}"] = dump(body)
    if options.k8s_format == "helm":
        for name, text in chart_files(k8s_values(options)).items():
            files[f"helm/{options.service}/{name}"] = text
    files["README.md"] = readme(options, packs, [spec.name for spec in slos])
    for pack in packs:
        if (source := pack_file(pack)) is not None:
            files[f"packs/{pack}.yaml"] = source.text
    for name, text in runbooks([*alerts, *slo_alerts], options.service).items():
        files[f"runbooks/{name}"] = text
    return Plan(options, packs, slos, (*alerts, *slo_alerts), files)


def generate(out: str | os.PathLike[str], options: GenerateOptions | None = None) -> list[str]:
    """Write the operations folder ``out``; returns the relative paths written, sorted.

    >>> generate("deploy", GenerateOptions(service="agent-api"))  # doctest: +SKIP
    """
    result = plan(options or GenerateOptions())
    target = Path(out)
    _check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".agentwatch-ops-", dir=target.parent))
    try:
        for rel, text in result.files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (staging / MARKER).write_text(json.dumps(sorted(result.files)) + "\n", encoding="utf-8")
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(result.files)


def _check_target(target: Path) -> None:
    if target.exists() and (
        not target.is_dir() or (any(target.iterdir()) and not (target / MARKER).exists())
    ):
        raise OpsError(
            f"{target} exists and was not generated by agentwatch ops; "
            "choose an empty or new folder (it would be replaced)"
        )


def _swap(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.rename(target)
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    target.rename(old)
    try:
        staging.rename(target)
    except BaseException:
        old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)
