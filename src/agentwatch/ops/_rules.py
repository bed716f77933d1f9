"""The shape of an alert rule, the PromQL helpers rules are written with, and alerts.yml.

An :class:`AlertRule` carries everything generated about one alert: the rule, a
:class:`Scenario` (input series that fire it and series that keep it quiet, from which the
promtool unit test is written) and the runbook text. Expressions are written through a
:class:`RuleContext`, which adds the ``service`` matcher and scales windows by the profile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from ._options import GenerateOptions
from ._units import duration, fmt

__all__ = [
    "LABEL_REF",
    "AlertRule",
    "RuleContext",
    "Scenario",
    "Series",
    "counter",
    "gauge",
    "hist",
    "render_alert_groups",
    "render_annotations",
]

LABEL_REF = re.compile(r"\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Series:
    """A promtool input series growing linearly: ``start + per_step`` each step.

    ``per_second`` series grow by ``per_step`` each *second* of test time (CPU seconds),
    so they keep their meaning when a profile compresses time.
    """

    metric: str
    labels: Mapping[str, str]
    per_step: Decimal = Decimal(0)
    start: Decimal = Decimal(0)
    per_second: bool = False
    service: bool = True

    def selector(self, service: str) -> str:
        labels = {"service": service, **self.labels} if self.service else dict(self.labels)
        inner = ",".join(f'{key}="{value}"' for key, value in labels.items())
        return f"{self.metric}{{{inner}}}"

    def values(self, steps: int, step_seconds: Fraction) -> str:
        step = self.per_step * Decimal(step_seconds.numerator) / step_seconds.denominator
        increment = step if self.per_second else self.per_step
        sign = "+" if increment >= 0 else "-"
        return f"{fmt(self.start)}{sign}{fmt(abs(increment))}x{steps}"


def counter(name: str, per_step: int | str, /, **labels: str) -> Series:
    return Series(name, labels, Decimal(per_step))


def gauge(name: str, value: int | str, /, **labels: str) -> Series:
    return Series(name, labels, Decimal(0), Decimal(value))


def hist(name: str, buckets: Mapping[str, int], /, **labels: str) -> tuple[Series, ...]:
    """Bucket series (cumulative counts per step, ``le`` as prometheus_client writes it)."""
    return tuple(
        Series(f"{name}_bucket", {**labels, "le": le}, Decimal(n)) for le, n in buckets.items()
    )


@dataclass(frozen=True)
class Scenario:
    """Inputs for the unit test: ``fire`` makes the rule fire, ``quiet`` keeps it silent.

    The condition must hold from step ``true_from``; the alert then fires ``for`` later.
    ``labels`` are the alert's labels besides alertname, severity and the rule's own labels
    (``service`` is added unless ``service_label`` is false). ``also`` names other rules of
    the same alert name that fire too, as (label, value) pairs: a critical tier also trips
    ``("severity", "warning")``; overlapping SLOs trip ``("slo", name)``. ``quiet_also``
    does the same for the quiet inputs (which must never fire the rule itself).
    """

    fire: tuple[Series, ...]
    quiet: tuple[Series, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    service_label: bool = True
    true_from: int = 1
    also: tuple[tuple[str, str], ...] = ()
    quiet_also: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule with its test scenario and runbook text."""

    name: str
    pack: str
    severity: str
    expr: str
    for_minutes: int
    summary: str
    description: str
    scenario: Scenario
    impact: str
    diagnosis: tuple[tuple[str, str], ...]
    resolution: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    rule_file: str = "alerts.yml"

    def all_labels(self) -> dict[str, str]:
        return {"severity": self.severity, **self.labels}


@dataclass(frozen=True)
class RuleContext:
    """PromQL writing helpers bound to one service and one profile."""

    options: GenerateOptions

    @property
    def service(self) -> str:
        return self.options.service

    @property
    def scale(self) -> Fraction:
        return self.options.profile.time_scale

    def seconds(self, minutes: int | Fraction) -> Fraction:
        return Fraction(minutes) * 60 * self.scale

    def win(self, minutes: int | Fraction) -> str:
        return duration(self.seconds(minutes))

    def sel(self, metric: str, *matchers: str) -> str:
        inner = ",".join((f'service="{self.service}"', *matchers))
        return f"{metric}{{{inner}}}"

    def sum_rate(
        self, by: str, metric: str, *matchers: str, minutes: int = 5, fn: str = "rate"
    ) -> str:
        return f"sum by ({by}) ({fn}({self.sel(metric, *matchers)}[{self.win(minutes)}]))"

    def ratio(self, by: str, metric: str, matcher: str, minutes: int = 5) -> str:
        """Share of ``metric`` matching ``matcher``, both sides summed ``by``."""
        part = self.sum_rate(by, metric, matcher, minutes=minutes)
        return f"{part} / {self.sum_rate(by, metric, minutes=minutes)}"

    def quantile(self, q: str, by: str, metric: str, minutes: int = 5) -> str:
        inner = self.sum_rate(f"{by}, le", f"{metric}_bucket", minutes=minutes)
        return f"histogram_quantile({q}, {inner})"


def render_annotations(
    rule: AlertRule, labels: Mapping[str, str], options: GenerateOptions
) -> dict[str, str]:
    """The annotations with ``{{ $labels.x }}`` filled in (what promtool expects)."""
    raw = rule_annotations(rule, options)
    return {key: LABEL_REF.sub(lambda m: labels.get(m.group(1), ""), v) for key, v in raw.items()}


def rule_annotations(rule: AlertRule, options: GenerateOptions) -> dict[str, str]:
    """summary, description, runbook_url, and dashboard_url, status_page_url and
    traces_url when the options give them (the hub shows each as a link)."""
    for text in (rule.summary, rule.description):
        if "{{" in LABEL_REF.sub("", text):
            raise ValueError(f"{rule.name}: only {{{{ $labels.x }}}} templates are allowed")
    annotations = {
        "summary": rule.summary,
        "description": rule.description,
        "runbook_url": f"{options.runbook_url_base}{rule.name}",
    }
    for key, value in (
        ("dashboard_url", options.dashboard_url),
        ("status_page_url", options.status_page_url),
        ("traces_url", options.traces_url),
    ):
        if value:
            annotations[key] = value
    return annotations


def render_rule(rule: AlertRule, ctx: RuleContext) -> dict[str, object]:
    body: dict[str, object] = {"alert": rule.name, "expr": rule.expr}
    if rule.for_minutes:
        body["for"] = ctx.win(rule.for_minutes)
    body["labels"] = rule.all_labels()
    body["annotations"] = rule_annotations(rule, ctx.options)
    return body


def render_alert_groups(rules: list[AlertRule], ctx: RuleContext) -> dict[str, object]:
    """``{"groups": [...]}``: one group per pack, in the order the rules come."""
    groups: dict[str, list[dict[str, object]]] = {}
    for rule in rules:
        groups.setdefault(rule.pack, []).append(render_rule(rule, ctx))
    return {
        "groups": [{"name": f"agentwatch-{pack}", "rules": body} for pack, body in groups.items()]
    }
