"""promtool unit tests: for every alert, one case where it fires on time, one where it is quiet.

The firing case checks the alert is still pending one evaluation before ``for`` elapses and
fires at the expected time with exactly the expected labels and annotations. Time follows
the profile: one test step is one nominal minute scaled like every rule window.
"""

from __future__ import annotations

from typing import Any

from ._rules import AlertRule, RuleContext, Series, render_annotations
from ._units import duration

__all__ = ["unit_test_files"]


def _at(c: RuleContext, steps: int) -> str:
    return duration(c.seconds(steps)) if steps else "0s"


def _input(c: RuleContext, series: tuple[Series, ...], steps: int) -> list[dict[str, str]]:
    step = c.seconds(1)
    return [{"series": s.selector(c.service), "values": s.values(steps, step)} for s in series]


def _trips(rule: AlertRule, pairs: tuple[tuple[str, str], ...]) -> bool:
    labels = rule.all_labels()
    return any(labels.get(key) == value for key, value in pairs)


def _expected(
    c: RuleContext,
    rule: AlertRule,
    same_name: list[AlertRule],
    step: int,
    *,
    quiet: bool = False,
) -> list[dict[str, Any]]:
    """The alerts firing at ``step``: tripped rules of the name whose ``for`` has elapsed."""
    scenario = rule.scenario
    base = dict(scenario.labels)
    if scenario.service_label:
        base = {"service": c.service, **base}
    others = [r for r in same_name if r is not rule]
    if quiet:
        firing = [r for r in others if _trips(r, scenario.quiet_also)]
    else:
        firing = [rule] + [r for r in others if _trips(r, scenario.also)]
    firing = [r for r in firing if step >= scenario.true_from + r.for_minutes]
    out = []
    for r in firing:
        labels = {**base, **r.all_labels()}
        annotations = render_annotations(r, labels, c.options)
        out.append({"exp_labels": labels, "exp_annotations": annotations})
    return out


def _cases(c: RuleContext, rule: AlertRule, same_name: list[AlertRule]) -> list[dict[str, Any]]:
    scenario = rule.scenario
    fire_step = scenario.true_from + rule.for_minutes
    steps = fire_step + 2
    what = ", ".join(f"{k}={v}" for k, v in {"severity": rule.severity, **scenario.labels}.items())
    check = {"alertname": rule.name}
    fire = {
        "name": f"{rule.name} ({what}) fires at {_at(c, fire_step)}",
        "interval": _at(c, 1),
        "input_series": _input(c, scenario.fire, steps),
        "alert_rule_test": [
            {
                "eval_time": _at(c, fire_step - 1),
                **check,
                "exp_alerts": _expected(c, rule, same_name, fire_step - 1),
            },
            {
                "eval_time": _at(c, fire_step),
                **check,
                "exp_alerts": _expected(c, rule, same_name, fire_step),
            },
        ],
    }
    quiet = {
        "name": f"{rule.name} ({what}) stays quiet",
        "interval": _at(c, 1),
        "input_series": _input(c, scenario.quiet, steps),
        "alert_rule_test": [
            {
                "eval_time": _at(c, fire_step),
                **check,
                "exp_alerts": _expected(c, rule, same_name, fire_step, quiet=True),
            }
        ],
    }
    return [fire, quiet]


def unit_test_files(c: RuleContext, rules: list[AlertRule]) -> dict[str, dict[str, Any]]:
    """``{"<Alert>.yml": test file}`` for every alert name, rules in their given order."""
    by_name: dict[str, list[AlertRule]] = {}
    for rule in rules:
        by_name.setdefault(rule.name, []).append(rule)
    files = {}
    for name, group in by_name.items():
        rule_files = sorted({f"../rules/{r.rule_file}" for r in group})
        tests = [case for rule in group for case in _cases(c, rule, group)]
        files[f"{name}.yml"] = {
            "rule_files": rule_files,
            "evaluation_interval": _at(c, 1),
            "tests": tests,
        }
    return files
