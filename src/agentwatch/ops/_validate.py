"""``validate()``: prove a generated folder with the real tools and the catalog cross-check.

Runs ``promtool check config``, ``promtool check rules``, ``promtool test rules``,
``amtool check-config``, parses every YAML and JSON file, and runs the catalog cross-check
and the stack cross-check (the files agree with each other: ``_stackcheck.py``), and checks
every Kubernetes manifest, plain or rendered from the Helm chart, against the Kubernetes
schemas (``_k8s_validate.py``). The alert wiring: ``hub/hub.yaml`` through the hub's own
config check (``agentwatch hub check``, secret files named, not read), Grafana's contact
point provisioning (``_grafana_alerting.py``), and Alertmanager's receivers posting to the
hub's intake with the token file it reads (``_hubcheck.py``). All failures are collected
and raised together as :class:`ValidationFailedError`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .._exceptions import ValidationFailedError
from ._crosscheck import cross_check
from ._grafana_alerting import alerting_problems
from ._hubcheck import hub_file_problems, wiring_problems
from ._k8s_validate import kubernetes_problems
from ._stackcheck import stack_problems

__all__ = ["ValidationReport", "find_tool", "validate"]

INSTALL_HINT = "apt-get install prometheus prometheus-alertmanager"


@dataclass
class ValidationReport:
    """What ran and what it said: ``checks`` maps a check to its one-line outcome."""

    folder: Path
    checks: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def find_tool(name: str, *aliases: str) -> str:
    """Path of a real tool; raises ValidationFailedError saying how to install it."""
    for candidate in (name, *aliases):
        path = shutil.which(candidate)
        if path:
            return path
    raise ValidationFailedError(f"{name} not found on PATH: {INSTALL_HINT}")


def _run(report: ValidationReport, check: str, argv: list[str], cwd: Path) -> None:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode == 0:
        report.checks[check] = "ok"
    else:
        report.checks[check] = "failed"
        report.problems.append(f"{check} (exit {proc.returncode}):\n{output}")


def _parse_all(report: ValidationReport) -> None:
    count = 0
    for path in sorted(report.folder.rglob("*")):
        if path.suffix not in (".yml", ".yaml", ".json") or not path.is_file():
            continue
        if path.parent.name == "templates" and (path.parent.parent / "Chart.yaml").is_file():
            continue  # Helm templates: rendered and checked by the Kubernetes check
        try:
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".json":
                json.loads(text)
            else:
                list(yaml.safe_load_all(text))
            count += 1
        except (yaml.YAMLError, ValueError) as exc:
            report.problems.append(f"{path.relative_to(report.folder)}: does not parse: {exc}")
    report.checks["parse yaml/json"] = f"{count} files"


def validate(folder: str | os.PathLike[str]) -> ValidationReport:
    """Validate ``folder``; returns the report or raises ValidationFailedError listing problems.

    >>> validate("deploy").checks  # doctest: +SKIP
    """
    root = Path(folder)
    if not (root / "prometheus" / "prometheus.yml").is_file():
        raise ValidationFailedError(
            f"{root}: no prometheus/prometheus.yml (not a generated folder)"
        )
    promtool, amtool = find_tool("promtool"), find_tool("amtool")
    report = ValidationReport(root)
    prom = root / "prometheus"
    rules = sorted(str(p.relative_to(prom)) for p in (prom / "rules").glob("*.yml"))
    tests = sorted(str(p.relative_to(prom)) for p in (prom / "tests").glob("*.yml"))
    _run(report, "promtool check config", [promtool, "check", "config", "prometheus.yml"], prom)
    _run(report, "promtool check rules", [promtool, "check", "rules", *rules], prom)
    _run(report, "promtool test rules", [promtool, "test", "rules", *tests], prom)
    _run(
        report,
        "amtool check-config",
        [amtool, "check-config", "alertmanager/alertmanager.yml"],
        root,
    )
    _parse_all(report)
    for check, found in (
        ("hub check hub/hub.yaml", hub_file_problems(root)),
        ("grafana contact point", alerting_problems(root)),
        ("alertmanager to hub wiring", wiring_problems(root)),
    ):
        report.checks[check] = "ok" if not found else f"{len(found)} problems"
        report.problems += found
    problems = cross_check(root)
    report.checks["catalog cross-check"] = "ok" if not problems else f"{len(problems)} problems"
    report.problems += problems
    wiring = stack_problems(root)
    report.checks["stack cross-check"] = "ok" if not wiring else f"{len(wiring)} problems"
    report.problems += wiring
    objects, k8s = kubernetes_problems(root)
    report.checks["kubernetes schemas"] = (
        f"{objects} objects" if not k8s else f"{len(k8s)} problems"
    )
    report.problems += k8s
    if report.problems:
        raise ValidationFailedError(
            f"{root}: {len(report.problems)} problem(s):\n" + "\n".join(report.problems)
        )
    return report
