"""Pack files in the operations folder: their dashboard, alert rules and unit-test inputs.

A pack file (``agentwatch._catalog.packfile``) writes queries without the ``service``
matcher; here every selector gets ``service="$service"`` (panels) or
``service="<service>"`` (rules), and rule windows and ``for`` follow the timing profile.
Every metric a query, an expression or a test series names must be declared by the pack
or be in the catalog; otherwise generation stops naming the file and the key.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from .._catalog.packfile import AlertDecl, PackFile, SeriesDecl
from .._exceptions import ConfigurationError
from ._crosscheck import STANDARD_METRICS
from ._dashboards import Board, Panel
from ._promql import parse_selector, selectors, with_matcher
from ._rules import AlertRule, RuleContext, Scenario, Series
from ._slo import series_spec
from ._units import duration, parse_duration

__all__ = ["pack_file_board", "pack_file_rules"]

DASHBOARD_SERVICE = 'service="$service"'


def _known(pack: PackFile, metric: str) -> bool:
    own = {name for spec in pack.metrics for name in spec.series_names}
    return metric in own or metric in STANDARD_METRICS or series_spec(metric) is not None


def _check_metrics(pack: PackFile, expr: str, where: str) -> None:
    try:
        found = [selector.metric for selector in selectors(expr)]
    except ValueError as exc:
        raise ConfigurationError(
            where, expr, f"a PromQL expression ({exc})", source=pack.source
        ) from None
    for metric in found:
        if not _known(pack, metric):
            raise ConfigurationError(
                where,
                metric,
                f"a metric declared in pack {pack.pack!r} or in the catalog "
                "(histograms as _bucket, _sum, _count)",
                source=pack.source,
            )


def pack_file_board(pack: PackFile) -> Board:
    """The pack's dashboard (uid ``aw-pack-<pack>``); every query selects ``$service``."""
    rows = []
    for row in pack.rows:
        panels = []
        for panel in row.panels:
            queries = []
            for query in panel.queries:
                _check_metrics(pack, query.expr, query.where)
                queries.append((with_matcher(query.expr, DASHBOARD_SERVICE), query.legend))
            panels.append(
                Panel(panel.title, pack.pack, tuple(queries), panel.unit, panel.kind, panel.width)
            )
        rows.append((row.title, tuple(panels)))
    return Board(f"aw-pack-{pack.pack}"[:40], pack.title, pack.description, tuple(rows))


def _scaled(ctx: RuleContext, text: str, where: str, source: str) -> str:
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise ConfigurationError(where, text, "a duration such as 5m", source=source) from None
    return duration(seconds * ctx.scale)


def _rule_expr(ctx: RuleContext, pack: PackFile, expr: str, where: str) -> str:
    _check_metrics(pack, expr, where)

    def window(text: str) -> str:
        if ":" in text:  # a subquery [range:resolution]
            whole, _sep, step = text.partition(":")
            step_text = _scaled(ctx, step, where, pack.source) if step else ""
            return f"{_scaled(ctx, whole, where, pack.source)}:{step_text}"
        return _scaled(ctx, text, where, pack.source)

    return with_matcher(expr, f'service="{ctx.service}"', window)


def _for_minutes(alert: AlertDecl, source: str) -> int:
    try:
        seconds = parse_duration(alert.for_text) if alert.for_text != "0m" else Fraction(0)
    except ValueError:
        raise ConfigurationError(
            f"alerts.{alert.name}.for", alert.for_text, "a duration such as 10m", source=source
        ) from None
    if seconds % 60:
        raise ConfigurationError(
            f"alerts.{alert.name}.for", alert.for_text, "whole minutes (5m, 1h)", source=source
        )
    return int(seconds // 60)


def _series(pack: PackFile, decl: SeriesDecl) -> tuple[Series, ...]:
    try:
        selector = parse_selector(decl.series)
    except ValueError as exc:
        raise ConfigurationError(decl.where, decl.series, f"a series selector ({exc})") from None
    labels = {}
    for matcher in selector.matchers:
        if matcher.op != "=" or matcher.label == "service":
            raise ConfigurationError(
                decl.where, matcher.text(), 'label="value" matchers (service is added)'
            )
        labels[matcher.label] = matcher.value
    if decl.buckets:
        metric = f"{selector.metric}_bucket"
        _require_series(pack, metric, decl)
        return tuple(
            Series(metric, {**labels, "le": le}, Decimal(count)) for le, count in decl.buckets
        )
    _require_series(pack, selector.metric, decl)
    return (Series(selector.metric, labels, Decimal(decl.per_step), Decimal(decl.start)),)


def _require_series(pack: PackFile, metric: str, decl: SeriesDecl) -> None:
    if not _known(pack, metric):
        raise ConfigurationError(
            decl.where, metric, f"a series of a metric declared in pack {pack.pack!r}"
        )


def _rule(ctx: RuleContext, pack: PackFile, alert: AlertDecl) -> AlertRule:
    where = f"alerts.{alert.name}"
    test = alert.test
    return AlertRule(
        name=alert.name,
        pack=pack.pack,
        severity=alert.severity,
        expr=_rule_expr(ctx, pack, alert.expr, f"{where}.expr"),
        for_minutes=_for_minutes(alert, pack.source),
        summary=alert.summary,
        description=alert.description,
        scenario=Scenario(
            fire=tuple(s for decl in test.fire for s in _series(pack, decl)),
            quiet=tuple(s for decl in test.quiet for s in _series(pack, decl)),
            labels=dict(test.labels),
            true_from=test.true_from,
        ),
        impact=alert.impact or f"The {pack.pack} part of the service is degraded.",
        diagnosis=tuple(
            (title, _rule_expr(ctx, pack, query, f"{where}.diagnosis"))
            for title, query in alert.diagnosis
        ),
        resolution=alert.resolution or (f"Open the {pack.pack} dashboard and the traces.",),
    )


def pack_file_rules(ctx: RuleContext, pack: PackFile) -> list[AlertRule]:
    """The pack's alert rules, written for ``ctx``'s service and profile."""
    return [_rule(ctx, pack, alert) for alert in pack.alerts]
