"""Which SLO alerts a unit-test input trips, worked out exactly.

SLOs may overlap (``checkout`` errors are also ``api-availability`` errors), and promtool
compares every alert of a name, so each SLO test must expect the other SLOs its input
trips. Test inputs are counters rising by a constant amount per step from zero, so every
window's error ratio is bad/total per step, and the events a long window holds at step F
are known: raw windows (up to 6h) hold ``total * min(F, window)``; the averaged windows
(1d, 3d, the SLO window) hold ``total * mean(min(k, 5) for k in 1..F) * window / 5``.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from ._promql import matches
from ._rules import Series
from ._slo import SloSpec

__all__ = ["tripped"]

RAW_MINUTES = {"5m": 5, "30m": 30, "1h": 60, "2h": 120, "6h": 360}
AVERAGED_MINUTES = {"1d": 1440, "3d": 4320}


def _per_step(series: tuple[Series, ...], spec: SloSpec, which: str) -> Fraction:
    selector = spec.selector(which)
    total = Fraction(0)
    for s in series:
        if s.metric == selector.metric and matches(selector.matchers, dict(s.labels)):
            total += Fraction(s.per_step)
    return total


def _counts(spec: SloSpec, series: tuple[Series, ...]) -> tuple[Fraction, Fraction]:
    total = _per_step(series, spec, "total")
    if spec.error:
        return _per_step(series, spec, "error"), total
    return total - _per_step(series, spec, "good"), total


def _events(window: str, total: Fraction, step: int) -> Fraction:
    if window in RAW_MINUTES:
        return total * min(step, RAW_MINUTES[window])
    mean = Fraction(sum(min(k, 5) for k in range(1, step + 1)), step)
    return total * mean * AVERAGED_MINUTES[window] / 5


def tripped(
    spec: SloSpec,
    series: tuple[Series, ...],
    pairs: tuple[tuple[str, str, Decimal], ...],
    step: int,
) -> bool:
    """Whether the SLO's alert with these (long, short, burn) pairs fires at ``step``."""
    bad, total = _counts(spec, series)
    if total <= 0:
        return False
    ratio = bad / total
    for long, _short, burn in pairs:
        threshold = Fraction(burn * spec.budget)
        if ratio > threshold and _events(long, total, step) >= spec.min_events:
            return True
    return False
