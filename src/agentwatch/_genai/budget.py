"""LLM spend budgets: spend per period from the same costs as ``llm_cost_usd_total``.

>>> agentwatch.budget("monthly", 500.0)                                  # every LLM call
>>> agentwatch.budget("support", 20.0, period="day", hard=True, workflow="support")

A budget covers the LLM calls matching its filters (``provider``, ``model``, ``workflow``,
``agent_type``; None matches anything; workflow and agent type come from the enclosing
``workflow_run`` / ``agent_run``). Each finished call adds its cost to every budget it
matches, and the gauges ``llm_budget_limit_usd``, ``llm_budget_remaining_usd`` and
``llm_budget_utilization_ratio`` follow. A **hard** budget that is spent makes the next
matching ``llm_call`` raise :class:`~agentwatch.BudgetExceededError` before the provider is
called. Periods are calendar periods in UTC (hour, day, week from Monday, month) or
``total``; spend is kept in this process — pass ``spent_usd`` to start from a figure you
already know (your provider's billing API, a database).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from .._exceptions import BudgetExceededError, ConfigurationError
from .._state import report_internal_error, telemetry

__all__ = ["PERIODS", "Budget", "budget", "budgets", "remove_budget"]

PERIODS = ("hour", "day", "week", "month", "total")
Clock = Callable[[], float]


def period_start(period: str, now: float) -> float:
    """Start (epoch seconds) of the UTC calendar period containing ``now``."""
    if period == "total":
        return 0.0
    moment = datetime.fromtimestamp(now, UTC)
    if period == "hour":
        start = moment.replace(minute=0, second=0, microsecond=0)
    elif period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    elif period == "week":
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        start = day - timedelta(days=day.weekday())
    else:
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start.timestamp()


class Budget:
    """A spend limit over a period for the LLM calls matching its filters."""

    def __init__(
        self,
        name: str,
        limit_usd: float,
        period: str = "month",
        *,
        hard: bool = False,
        filters: Mapping[str, str | None] | None = None,
        spent_usd: float = 0.0,
        clock: Clock = time.time,
    ) -> None:
        if period not in PERIODS:
            raise ConfigurationError("period", period, "one of " + ", ".join(PERIODS))
        if isinstance(limit_usd, bool) or not limit_usd > 0:
            raise ConfigurationError("limit_usd", limit_usd, "a positive number of US dollars")
        self.name = name
        self.limit_usd = float(limit_usd)
        self.period = period
        self.hard = hard
        self.filters = {key: value for key, value in (filters or {}).items() if value is not None}
        self._clock = clock
        self._lock = threading.Lock()
        self._period_start = period_start(period, clock())
        self._spent = float(spent_usd)

    def _roll(self) -> None:
        start = period_start(self.period, self._clock())
        if start != self._period_start:
            self._period_start, self._spent = start, 0.0

    @property
    def spent_usd(self) -> float:
        """Spend in the current period."""
        with self._lock:
            self._roll()
            return self._spent

    @property
    def remaining_usd(self) -> float:
        return max(self.limit_usd - self.spent_usd, 0.0)

    @property
    def utilization(self) -> float:
        return self.spent_usd / self.limit_usd

    @property
    def exhausted(self) -> bool:
        return self.spent_usd >= self.limit_usd

    def matches(self, scope: Mapping[str, str | None]) -> bool:
        return all(scope.get(key) == value for key, value in self.filters.items())

    def add(self, cost_usd: float) -> None:
        """Add spend (the LLM instrumentation calls this; use it for spend it cannot see)."""
        with self._lock:
            self._roll()
            self._spent += cost_usd
        self.publish()

    def check(self) -> None:
        """Raise :class:`BudgetExceededError` when this is a hard budget and it is spent."""
        if self.hard:
            spent = self.spent_usd
            if spent >= self.limit_usd:
                raise BudgetExceededError(self.name, spent, self.limit_usd)

    def publish(self) -> None:
        """Set the three gauges on the active telemetry."""
        try:
            metrics = telemetry().metrics
            spent = self.spent_usd
            metrics["llm_budget_limit_usd"].labels(self.name).set(self.limit_usd)
            metrics["llm_budget_remaining_usd"].labels(self.name).set(
                max(self.limit_usd - spent, 0.0)
            )
            metrics["llm_budget_utilization_ratio"].labels(self.name).set(spent / self.limit_usd)
        except Exception as exc:
            report_internal_error("budget", exc)

    def __repr__(self) -> str:
        return (
            f"Budget({self.name!r}, limit_usd={self.limit_usd}, period={self.period!r}, "
            f"hard={self.hard}, spent_usd={self.spent_usd:.6f})"
        )


_registry: dict[str, Budget] = {}
_registry_lock = threading.Lock()


def budget(
    name: str,
    limit_usd: float,
    period: str = "month",
    *,
    hard: bool = False,
    provider: str | None = None,
    model: str | None = None,
    workflow: str | None = None,
    agent_type: str | None = None,
    spent_usd: float | None = None,
    clock: Clock = time.time,
) -> Budget:
    """Register (or redefine) a budget and return it.

    Redefining a budget of the same name and period keeps what it has spent so far.

    >>> agentwatch.budget("research", 50.0, period="week", agent_type="researcher", hard=True)
    """
    filters = {"provider": provider, "model": model, "workflow": workflow, "agent_type": agent_type}
    with _registry_lock:
        previous = _registry.get(name)
        if spent_usd is None:
            keep = previous is not None and previous.period == period
            spent_usd = previous.spent_usd if keep and previous is not None else 0.0
        created = Budget(
            name, limit_usd, period, hard=hard, filters=filters, spent_usd=spent_usd, clock=clock
        )
        _registry[name] = created
    created.publish()
    return created


def budgets() -> list[Budget]:
    """Every registered budget."""
    with _registry_lock:
        return list(_registry.values())


def remove_budget(name: str) -> None:
    with _registry_lock:
        _registry.pop(name, None)


def matching(scope: Mapping[str, str | None]) -> list[Budget]:
    """Budgets covering a call with this scope (provider, model, workflow, agent_type)."""
    if not _registry:
        return []
    return [item for item in budgets() if item.matches(scope)]


def publish_all() -> None:
    """Set every budget's gauges on the active telemetry (``init()`` calls this)."""
    for item in budgets():
        item.publish()
