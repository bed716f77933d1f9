"""The small PromQL reader behind the cross-check, and exact numbers and durations."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from agentwatch.ops._promql import parse_selector, selectors
from agentwatch.ops._units import duration, fmt, parse_duration


@pytest.mark.parametrize(
    ("expr", "metrics"),
    [
        ("up == 0", ["up"]),
        ('sum by (service, le) (rate(x_bucket{service="a",le="0.5"}[5m]))', ["x_bucket"]),
        ("histogram_quantile(0.95, sum(rate(a_bucket[$__rate_interval])) by (le))", ["a_bucket"]),
        ("a / on (slo, service) group_left b offset 5m", ["a", "b"]),
        (
            'slo:sli_error:ratio_rate1h{slo="x"} > 0.0144 and slo:sli_total:rate1h * 3600 >= 100',
            ["slo:sli_error:ratio_rate1h", "slo:sli_total:rate1h"],
        ),
        ('topk(10, max without (instance) (g{route=~"/a|/b",job!="x"}))', ["g"]),
        ('count(c{s="by (x) sum(y)"}) or vector(0)', ["c"]),
        ('1 - avg by (instance) (rate(n{mode="idle"}[5m])) > bool Inf', ["n"]),
    ],
)
def test_selectors_name_exactly_the_metrics_read(expr: str, metrics: list[str]) -> None:
    assert [s.metric for s in selectors(expr)] == metrics


def test_selector_matchers_are_parsed_with_their_operators() -> None:
    selector = parse_selector('http_requests_total{status=~"5..", route!="/health"}')
    assert [(m.label, m.op, m.value) for m in selector.matchers] == [
        ("status", "=~", "5.."),
        ("route", "!=", "/health"),
    ]
    with pytest.raises(ValueError, match="bad label matcher"):
        parse_selector("x{status=5}")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("14.4") * Decimal("0.001"), "0.0144"),
        (Decimal("0.999"), "0.999"),
        (1 - Decimal("0.999"), "0.001"),
        (Decimal("100"), "100"),
        (Fraction(1, 4), "0.25"),
        (Decimal("6") * (1 - Decimal("0.9995")), "0.003"),
    ],
)
def test_numbers_are_written_exactly(value: Decimal | Fraction, text: str) -> None:
    assert fmt(value) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (300, "5m"),
        (5400, "1h30m"),
        (2592000, "30d"),
        (Fraction(1, 2), "500ms"),
        (Fraction(300, 60), "5s"),
        (Fraction(43200), "12h"),
    ],
)
def test_durations_round_trip(seconds: Fraction | int, text: str) -> None:
    assert duration(seconds) == text
    assert parse_duration(text) == seconds
