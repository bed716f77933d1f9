"""Alert rules for health, agentwatch itself, and business packs (security: ``_alerts_security``).

A business pack (``define_pack``) gets one rule per counter that has a ``status`` label:
the share of ``status="error"`` over 10 minutes above 10%.
"""

from __future__ import annotations

from .._catalog import MetricSpec
from ._options import STATUS_ERROR, STATUS_SUCCESS
from ._rules import AlertRule, RuleContext, Scenario, counter, gauge

__all__ = ["agentwatch_rules", "business_rules", "health_rules"]


def health_rules(c: RuleContext) -> list[AlertRule]:
    status, score = "health_check_status", "health_score"
    return [
        AlertRule(
            name="HealthScoreLow",
            pack="health",
            severity="warning",
            expr=f"min by (service) ({c.sel(score)}) < 70",
            for_minutes=5,
            summary="{{ $labels.service }}: health score below 70",
            description="The weighted health score of {{ $labels.service }} has been below 70 "
            "for 5 minutes.",
            scenario=Scenario(fire=(gauge(score, 40),), quiet=(gauge(score, 100),), true_from=0),
            impact="Dependencies are degraded; some features fail or slow down.",
            diagnosis=(("Score", c.sel(score)), ("Checks not passing", f"{c.sel(status)} < 1")),
            resolution=("Open /health/full on the service for each component's detail.",),
        ),
        AlertRule(
            name="HealthCheckFailing",
            pack="health",
            severity="warning",
            expr=f"min by (service, component) ({c.sel(status)}) == 0",
            for_minutes=2,
            summary="{{ $labels.service }}: health check {{ $labels.component }} failing",
            description="Health check {{ $labels.component }} of {{ $labels.service }} fails.",
            scenario=Scenario(
                fire=(gauge(status, 0, component="postgres"),),
                quiet=(gauge(status, 1, component="postgres"),),
                labels={"component": "postgres"},
                true_from=0,
            ),
            impact="The component is unavailable to the service.",
            diagnosis=(
                ("Status by component", c.sel(status)),
                (
                    "Check duration p95",
                    c.quantile("0.95", "service, component", "health_check_duration_seconds"),
                ),
            ),
            resolution=("Open /health/{component} on the service for the failure output.",),
        ),
    ]


def agentwatch_rules(c: RuleContext) -> list[AlertRule]:
    overflow = "agentwatch_metric_overflow_total"
    spent = c.sum_rate("service, metric", overflow, minutes=15, fn="increase")
    return [
        AlertRule(
            name="MetricOverflow",
            pack="agentwatch",
            severity="info",
            expr=f"{spent} > 0",
            for_minutes=0,
            summary="{{ $labels.service }}: {{ $labels.metric }} spent its series budget",
            description="New label combinations of {{ $labels.metric }} in {{ $labels.service }} "
            "go to the overflow series: its cardinality budget is exceeded.",
            scenario=Scenario(
                fire=(counter(overflow, 3, metric="http_requests_total"),),
                quiet=(counter(overflow, 0, metric="http_requests_total"),),
                labels={"metric": "http_requests_total"},
            ),
            impact="Dashboards lose detail for the new label values; memory stays bounded.",
            diagnosis=(("Overflowing metrics", spent),),
            resolution=(
                "Find the unbounded label (raw paths, user ids) and drop or bucket it.",
                "Raise the metric's budget in the catalog only if the values are bounded.",
            ),
        ),
    ]


def business_rules(c: RuleContext, pack: str, specs: tuple[MetricSpec, ...]) -> list[AlertRule]:
    """Error-share rules for a business pack's counters that carry a ``status`` label."""
    return [
        _business_rule(c, pack, spec)
        for spec in specs
        if spec.kind == "counter" and "status" in spec.labels
    ]


def _business_rule(c: RuleContext, pack: str, spec: MetricSpec) -> AlertRule:
    name = "".join(part.title() for part in spec.name.removesuffix("_total").split("_"))
    labels = {label: "x" for label in spec.labels if label != "status"}
    matcher = f'status="{STATUS_ERROR}"'
    return AlertRule(
        name=f"{name}ErrorRate",
        pack=pack,
        severity="warning",
        expr=f"{c.ratio('service', spec.name, matcher, minutes=10)} > 0.1",
        for_minutes=10,
        summary=f"{{{{ $labels.service }}}}: over 10% of {spec.name} fail",
        description=f"More than 10% of {spec.name} in {{{{ $labels.service }}}} have status "
        f"{STATUS_ERROR} over 10 minutes. {spec.help}",
        scenario=Scenario(
            fire=(
                counter(spec.name, 8, **labels, status=STATUS_SUCCESS),
                counter(spec.name, 2, **labels, status=STATUS_ERROR),
            ),
            quiet=(
                counter(spec.name, 99, **labels, status=STATUS_SUCCESS),
                counter(spec.name, 1, **labels, status=STATUS_ERROR),
            ),
        ),
        impact=f"The {pack} operations of the service fail.",
        diagnosis=(
            (
                "Error share by label",
                c.ratio(
                    "service, " + ", ".join(labels) if labels else "service", spec.name, matcher, 10
                ),
            ),
        ),
        resolution=(f"Open the failing {pack} traces and find the cause.",),
    )
