"""SLO recording rules and multiwindow, multi-burn-rate alerts (slo.yml).

For each SLO the error and total *rates* are recorded per window, and the error ratio is
their quotient, so a window's ratio weighs every event equally (traffic-weighted), rather
than averaging per-interval ratios. Windows up to 6h are computed from the raw counters;
1d, 3d and the SLO window average the 5m rates (``avg_over_time``), which is the same
sum-of-errors over sum-of-events at a fraction of the cost.

Alerts (Google SRE workbook): page when the 1h and 5m ratios exceed 14.4x the budget or the
6h and 30m ratios exceed 6x; ticket on 1d and 2h at 3x or 3d and 6h at 1x. A pair only
counts when its long window saw at least ``min_events`` events, so one error on a quiet
service does not page. Every threshold is an exact decimal.
"""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal

from .._exceptions import ConfigurationError
from ._promql import Matcher, Selector, matches
from ._rules import AlertRule, RuleContext, Scenario, Series, render_rule
from ._slo import PAGE_BURN, SloSpec
from ._slo_expect import tripped
from ._units import fmt, parse_duration

__all__ = ["slo_alert_rules", "slo_groups"]

_SHORT = (("5m", 5), ("30m", 30), ("1h", 60), ("2h", 120), ("6h", 360))
_LONG = (("1d", 1440), ("3d", 4320))
# (alert name, urgency, severity, for minutes, [(long, short, burn rate)])
_ALERTS = (
    (
        "ErrorBudgetBurnPage",
        "page",
        "critical",
        2,
        (("1h", "5m", PAGE_BURN), ("6h", "30m", Decimal(6))),
    ),
    (
        "ErrorBudgetBurnTicket",
        "ticket",
        "warning",
        10,
        (("1d", "2h", Decimal(3)), ("3d", "6h", Decimal(1))),
    ),
)
_STEP_EVENTS = 1000


def _windows(spec: SloSpec) -> list[tuple[str, int, bool]]:
    """(label, nominal minutes, from raw counters) for every recorded window."""
    minutes = int(parse_duration(spec.window) / 60)
    out = [(label, m, True) for label, m in _SHORT] + [(label, m, False) for label, m in _LONG]
    if all(m != minutes for _l, m, _r in out):
        out.append((spec.window, minutes, False))
    return out


def _window_label(spec: SloSpec) -> str:
    minutes = int(parse_duration(spec.window) / 60)
    return next(label for label, m, _r in _windows(spec) if m == minutes)


def _rate(c: RuleContext, selector: Selector, minutes: int) -> str:
    text = selector.text(Matcher("service", "=", c.service))
    return f"sum by (service) (rate({text}[{c.win(minutes)}]))"


def _error_rate(c: RuleContext, spec: SloSpec, minutes: int) -> str:
    total = _rate(c, spec.selector("total"), minutes)
    if spec.error:
        return f"{_rate(c, spec.selector('error'), minutes)} or 0 * {total}"
    return f"({total} - {_rate(c, spec.selector('good'), minutes)}) or {total}"


def _own(c: RuleContext, spec: SloSpec, record: str) -> str:
    return f'{record}{{slo="{spec.name}",service="{c.service}"}}'


def _records(c: RuleContext, spec: SloSpec) -> list[dict[str, object]]:
    labels = {"slo": spec.name}
    rules: list[dict[str, object]] = []
    for label, minutes, raw in _windows(spec):
        for kind in ("error", "total"):
            if raw:
                expr = (
                    _error_rate(c, spec, minutes)
                    if kind == "error"
                    else _rate(c, spec.selector("total"), minutes)
                )
            else:
                expr = f"avg_over_time({_own(c, spec, f'slo:sli_{kind}:rate5m')}[{c.win(minutes)}])"
            rules.append({"record": f"slo:sli_{kind}:rate{label}", "expr": expr, "labels": labels})
        ratio = f"{_own(c, spec, f'slo:sli_error:rate{label}')} / {_own(c, spec, f'slo:sli_total:rate{label}')}"
        rules.append(
            {"record": f"slo:sli_error:ratio_rate{label}", "expr": ratio, "labels": labels}
        )
    both = {"slo": spec.name, "service": c.service}
    window_ratio = _own(c, spec, f"slo:sli_error:ratio_rate{_window_label(spec)}")
    return [
        *rules,
        {"record": "slo:objective:ratio", "expr": f"vector({fmt(spec.objective)})", "labels": both},
        {"record": "slo:error_budget:ratio", "expr": f"vector({fmt(spec.budget)})", "labels": both},
        {
            "record": "slo:error_budget_remaining:ratio",
            "expr": f"1 - {window_ratio} / {fmt(spec.budget)}",
            "labels": labels,
        },
    ]


def slo_groups(
    c: RuleContext, specs: tuple[SloSpec, ...], alerts: list[AlertRule]
) -> dict[str, object]:
    """slo.yml: one group per SLO, records then its alerts, so alerts read this round's records."""
    groups = []
    for spec in specs:
        own = [rule for rule in alerts if rule.labels.get("slo") == spec.name]
        rules = _records(c, spec) + [render_rule(rule, c) for rule in own]
        groups.append({"name": f"slo-{spec.name}", "rules": rules})
    return {"groups": groups}


def _condition(c: RuleContext, spec: SloSpec, long: str, short: str, burn: Decimal) -> str:
    threshold = fmt(burn * spec.budget)
    minutes = dict((label, m) for label, m, _r in _windows(spec))
    seconds = fmt(c.seconds(minutes[long]))
    return (
        f"(\n  {_own(c, spec, f'slo:sli_error:ratio_rate{long}')} > {threshold}\n"
        f"  and {_own(c, spec, f'slo:sli_error:ratio_rate{short}')} > {threshold}\n"
        f"  and {_own(c, spec, f'slo:sli_total:rate{long}')} * {seconds} >= {spec.min_events}\n)"
    )


def slo_alert_rules(c: RuleContext, specs: tuple[SloSpec, ...]) -> list[AlertRule]:
    """Page and ticket burn-rate alerts for every SLO, each with its test scenario."""
    rules = []
    for spec in specs:
        for name, urgency, severity, for_minutes, pairs in _ALERTS:
            expr = "\nor\n".join(_condition(c, spec, *pair) for pair in pairs) + "\n"
            rules.append(_alert(c, spec, name, urgency, severity, for_minutes, expr, pairs))
    return [_with_overlaps(rule, specs) for rule in rules]


def _with_overlaps(rule: AlertRule, specs: tuple[SloSpec, ...]) -> AlertRule:
    """Set which SLOs' alerts of this name the rule's test inputs trip (see _slo_expect)."""
    pairs = next(p for name, *_rest, p in _ALERTS if name == rule.name)
    step = rule.scenario.true_from + rule.for_minutes
    own = rule.labels["slo"]

    def trips(series: tuple[Series, ...]) -> tuple[tuple[str, str], ...]:
        return tuple(("slo", s.name) for s in specs if tripped(s, series, pairs, step))

    fire, quiet = trips(rule.scenario.fire), trips(rule.scenario.quiet)
    if ("slo", own) not in fire or ("slo", own) in quiet:
        raise ConfigurationError(f"slo {own!r}", rule.name, "selectors a test input can trip")
    others = tuple(pair for pair in fire if pair != ("slo", own))
    return replace(rule, scenario=replace(rule.scenario, also=others, quiet_also=quiet))


def _alert(
    c: RuleContext,
    spec: SloSpec,
    name: str,
    urgency: str,
    severity: str,
    for_minutes: int,
    expr: str,
    pairs: tuple[tuple[str, str, Decimal], ...],
) -> AlertRule:
    rates = " or ".join(f"{fmt(burn)}x over {long}/{short}" for long, short, burn in pairs)
    pct = fmt(spec.objective * 100)
    speed = "fast" if urgency == "page" else "steadily"
    return AlertRule(
        name=name,
        pack="slo",
        severity=severity,
        expr=expr,
        for_minutes=for_minutes,
        labels={"urgency": urgency, "slo": spec.name},
        rule_file="slo.yml",
        summary=f"{{{{ $labels.service }}}}: SLO {{{{ $labels.slo }}}} burns its error budget {speed}",
        description=f"{spec.description or f'SLO {spec.name}.'} Objective {pct}% over {spec.window}; "
        f"errors run at {rates} the allowed rate.",
        scenario=_scenario(spec, quiet_low_traffic=urgency == "page"),
        impact=f"At this rate the {spec.window} error budget of {spec.name} will be spent "
        "before the window ends; users feel it now.",
        diagnosis=(
            (
                "Error ratio by window",
                f'{{__name__=~"slo:sli_error:ratio_rate.*",slo="{spec.name}"}}',
            ),
            ("Budget remaining", _own(c, spec, "slo:error_budget_remaining:ratio")),
            (
                "Bad events" if spec.error else "Good events",
                spec.selector("error" if spec.error else "good").text(),
            ),
            ("All events", spec.total),
        ),
        resolution=(
            "Find what fails with the alerts and dashboards of the SLI's pack.",
            "Freeze risky deploys until the burn stops (error budget policy).",
        ),
    )


def _scenario(spec: SloSpec, *, quiet_low_traffic: bool) -> Scenario:
    ratio = (PAGE_BURN * spec.budget + 1) / 2  # above every alert threshold, below 100%
    bad = math.ceil(ratio * _STEP_EVENTS)
    low = quiet_low_traffic and spec.min_events > 10
    return Scenario(
        fire=_sli_series(spec, bad, _STEP_EVENTS),
        quiet=_sli_series(spec, 1, 1) if low else _sli_series(spec, 0, _STEP_EVENTS),
        labels={"slo": spec.name},
    )


def _sli_series(spec: SloSpec, bad: int, total: int) -> tuple[Series, ...]:
    """Series making ``bad`` of ``total`` events per step bad under the SLO's selectors."""
    part = spec.selector("error" if spec.error else "good")
    whole = spec.selector("total")
    part_count = bad if spec.error else total - bad
    part_labels = _labels_for(
        part.matchers + (whole.matchers if part.metric == whole.metric else ())
    )
    out = [Series(part.metric, part_labels, Decimal(part_count))]
    if part.metric == whole.metric:
        rest = _labels_against(whole.matchers, part.matchers, spec)
        out.append(Series(whole.metric, rest, Decimal(total - part_count)))
    else:
        base = {k: v for k, v in part_labels.items() if k != "le"}
        out.append(Series(whole.metric, {**base, **_labels_for(whole.matchers)}, Decimal(total)))
    return tuple(out)


_CANDIDATES = ("500", "503", "200", "error", "success", "failed", "ok", "x", "0", "1")


def _sample(m: Matcher) -> list[str]:
    guesses = [m.value] if m.op == "=" else []
    guesses += [part.replace(".", "0").strip("^$") for part in m.value.split("|")]
    return [g for g in (*guesses, *_CANDIDATES) if matches((m,), {m.label: g})]


def _labels_for(matchers: tuple[Matcher, ...]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for m in matchers:
        same = tuple(x for x in matchers if x.label == m.label)  # a label may be matched twice
        options = [v for v in _sample(m) if matches(same, {m.label: v})]
        if not options:
            raise ConfigurationError(
                f"selector matcher {m.text()}",
                m.value,
                "a matcher a test series can satisfy (use = or a|b regex)",
            )
        labels[m.label] = options[0]
    return labels


def _labels_against(
    keep: tuple[Matcher, ...], avoid: tuple[Matcher, ...], spec: SloSpec
) -> dict[str, str]:
    """Labels matching ``keep`` but not ``avoid`` (the other events of the same metric)."""
    base = _labels_for(keep)
    for m in avoid:
        numeric = m.value[:1].isdigit()
        for value in ("200", "success", "other") if numeric else ("success", "200", "other"):
            labels = {**base, m.label: value}
            if matches(keep, labels) and not matches(avoid, labels):
                return labels
    raise ConfigurationError(
        f"slo {spec.name!r} selectors",
        (spec.error or spec.good, spec.total),
        "a bad/good selector narrower than the total selector",
    )
