"""Alert rules for security, health, agentwatch itself, and business packs.

A business pack (``define_pack``) gets one rule per counter that has a ``status`` label:
the share of ``status="error"`` over 10 minutes above 10%.
"""

from __future__ import annotations

from dataclasses import replace

from .._catalog import MetricSpec
from ._options import STATUS_ERROR, STATUS_SUCCESS
from ._rules import AlertRule, RuleContext, Scenario, Series, counter, gauge

__all__ = ["agentwatch_rules", "business_rules", "health_rules", "security_rules"]


def _count_rule(
    c: RuleContext,
    name: str,
    metric: str,
    matcher: tuple[str, ...],
    threshold: int,
    minutes: int,
    summary: str,
    fire: Series,
    quiet: tuple[Series, ...],
) -> AlertRule:
    total = c.sum_rate("service", metric, *matcher, minutes=minutes, fn="increase")
    return AlertRule(
        name=name,
        pack="security",
        severity="warning",
        expr=f"{total} > {threshold}",
        for_minutes=1,
        summary=f"{{{{ $labels.service }}}}: {summary}",
        description=f"{{{{ $labels.service }}}}: {summary} (more than {threshold} in "
        f"{minutes} minutes).",
        scenario=Scenario(fire=(fire, *quiet[1:]), quiet=quiet),
        impact="An attacker may be probing the service, or a client is misbehaving.",
        diagnosis=(
            (f"Count over {minutes}m", total),
            (
                "Login attempts by result",
                c.sum_rate("result", "auth_login_attempts_total", minutes=minutes, fn="increase"),
            ),
        ),
        resolution=(
            "Find the source addresses in the access logs; block or throttle them.",
            "Check that rate limits and account lockout are on.",
        ),
    )


def security_rules(c: RuleContext) -> list[AlertRule]:
    logins, limits, denials = (
        "auth_login_attempts_total",
        "rate_limit_hits_total",
        "authz_denials_total",
    )
    locked = c.sum_rate("service", logins, 'result="locked"', minutes=10, fn="increase")
    suspicious = _count_rule(
        c,
        "SuspiciousActivity",
        denials,
        (),
        20,
        10,
        "many authorisation denials or lockouts",
        counter(denials, 30, resource="admin"),
        (counter(denials, 1, resource="admin"), counter(logins, 0, result="locked")),
    )
    return [
        _count_rule(
            c,
            "BruteForceLogin",
            logins,
            ('result="failure"',),
            20,
            5,
            "many failed logins",
            counter(logins, 30, result="failure"),
            (counter(logins, 2, result="failure"), counter(logins, 50, result="success")),
        ),
        _count_rule(
            c,
            "RateLimitViolations",
            limits,
            (),
            100,
            5,
            "many rate-limited requests",
            counter(limits, 150, route="/api/chat"),
            (counter(limits, 5, route="/api/chat"),),
        ),
        replace(suspicious, expr=f"{suspicious.expr} or {locked} > 0"),
    ]


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
