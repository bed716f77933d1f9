"""The health registry: named checks with weights, criticality, timeouts and a result cache.

>>> health = HealthRegistry()
>>> health.register("database", SQLAlchemyCheck(engine), critical=True, weight=3)
>>> health.register("redis", RedisCheck("redis://127.0.0.1:6379/0"))
>>> report = await health.run()          # doctest: +SKIP
>>> report.status, report.score         # doctest: +SKIP
('pass', 100.0)

Checks run concurrently, each under its own timeout (a timeout is a ``fail`` saying so), so
a hung dependency costs one timeout, never the sum. A result is reused for ``cache_ttl``
seconds and concurrent callers share one run in flight (single flight): a burst of probes
runs each check at most once per cache period.

Score = 100 x sum(weight x s) / sum(weight), s = 1 pass, 0.5 warn, 0 fail. Status: ``fail``
if a critical check fails; ``warn`` if a check warns or the score is under ``warn_score``;
else ``pass``. Each run records ``health_check_status{component}`` and
``health_check_duration_seconds{component}``; a run over every check records
``health_score``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .._exceptions import ConfigurationError
from .._metrics.registry import Metrics
from .._redact import Redactor
from .._state import report_internal_error, telemetry
from ._callable import CallableCheck
from .base import STATUS_VALUES, CheckResult, HealthCheck, Status

__all__ = ["RESERVED_NAMES", "ComponentResult", "HealthRegistry", "HealthReport", "aggregate"]

RESERVED_NAMES = frozenset({"live", "ready", "full"})
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class ComponentResult:
    """One component's latest reading: the check's result plus how and when it was taken."""

    name: str
    result: CheckResult
    duration_seconds: float
    time: float
    weight: float
    critical: bool
    cached: bool = False

    @property
    def status(self) -> Status:
        return self.result.status


@dataclass(frozen=True)
class HealthReport:
    """The aggregate over a set of components."""

    status: Status
    score: float
    components: tuple[ComponentResult, ...]


@dataclass
class _Entry:
    name: str
    check: HealthCheck
    weight: float
    critical: bool
    timeout: float
    cache_ttl: float
    groups: frozenset[str]
    cached: ComponentResult | None = None
    expires: float = 0.0
    inflight: asyncio.Task[ComponentResult] | None = None


def aggregate(components: Sequence[ComponentResult], warn_score: float) -> tuple[Status, float]:
    """(status, score) of ``components`` by the rules in the module docstring."""
    total = sum(c.weight for c in components)
    earned = sum(c.weight * STATUS_VALUES[c.status] for c in components)
    score = round(100.0 * earned / total, 2) if total > 0 else 100.0
    if any(c.critical and c.status == "fail" for c in components):
        return "fail", score
    if any(c.status == "warn" for c in components) or score < warn_score:
        return "warn", score
    return "pass", score


class HealthRegistry:
    """Named health checks and how to run them; see the module docstring."""

    def __init__(
        self,
        *,
        timeout: float = 2.0,
        cache_ttl: float = 5.0,
        warn_score: float = 80.0,
        metrics: Metrics | None = None,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.timeout = timeout
        self.cache_ttl = cache_ttl
        self.warn_score = warn_score
        self._metrics = metrics
        self._redactor = redactor
        self._clock = clock
        self._wall_clock = wall_clock
        self._entries: dict[str, _Entry] = {}

    def register(
        self,
        name: str,
        check: HealthCheck | Callable[[], Any],
        *,
        weight: float = 1.0,
        critical: bool | None = None,
        timeout: float | None = None,
        cache_ttl: float | None = None,
        groups: Iterable[str] = ("ready",),
    ) -> None:
        """Add (or replace) the check called ``name``.

        ``check``: a :class:`~agentwatch.health.HealthCheck`, or any sync or async callable
        (wrapped in :class:`~agentwatch.health.CallableCheck`). ``critical=None`` takes the
        check's own default (False; True for readiness gates). ``timeout`` and
        ``cache_ttl`` default to the registry's (the timeout is raised above a check's own
        ``timeout_seconds``). ``groups``: ``"ready"`` puts the check
        in ``/health/ready``; every check is in ``/health`` and ``/health/full``.
        """
        _validate(name, weight, timeout, cache_ttl)
        if not callable(getattr(check, "check", None)):
            if not callable(check):
                raise ConfigurationError(
                    f"health check {name}", check, "a HealthCheck or a callable"
                )
            check = CallableCheck(check)
        is_critical = bool(getattr(check, "critical", False)) if critical is None else critical
        self._entries[name] = _Entry(
            name=name,
            check=check,  # type: ignore[arg-type]
            weight=float(weight),
            critical=is_critical,
            timeout=self._timeout_for(check) if timeout is None else timeout,
            cache_ttl=self.cache_ttl if cache_ttl is None else cache_ttl,
            groups=frozenset(groups),
        )

    def _timeout_for(self, check: object) -> float:
        """The registry's timeout, or a little over the check's own ``timeout_seconds``
        (a check that bounds its call itself, as the LLM provider check does, reports that)."""
        own = getattr(check, "timeout_seconds", None)
        if isinstance(own, int | float) and own > 0:
            return max(self.timeout, float(own) + 0.5)
        return self.timeout

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def names(self, group: str | None = None) -> list[str]:
        """Registered names, all or those in ``group``."""
        return [e.name for e in self._entries.values() if group is None or group in e.groups]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def max_timeout(self, group: str | None = None) -> float:
        """The longest timeout among the checks a run would wait for."""
        return max((self._entries[n].timeout for n in self.names(group)), default=0.0)

    async def run(self, group: str | None = None) -> HealthReport:
        """Run (or reuse) every check, or those in ``group``, concurrently."""
        entries = [self._entries[n] for n in self.names(group)]
        results = await asyncio.gather(*(self._result(entry) for entry in entries))
        status, score = aggregate(results, self.warn_score)
        if group is None:
            self._record_score(score)
        return HealthReport(status, score, tuple(results))

    async def run_component(self, name: str) -> ComponentResult:
        """Run (or reuse) the check called ``name``; KeyError when there is none."""
        return await self._result(self._entries[name])

    async def _result(self, entry: _Entry) -> ComponentResult:
        cached = entry.cached
        if cached is not None and self._clock() < entry.expires:
            return replace(cached, cached=True)
        loop = asyncio.get_running_loop()
        task = entry.inflight
        if task is None or task.done() or task.get_loop() is not loop:
            task = loop.create_task(self._execute(entry))
            entry.inflight = task
        # shield: a probe that goes away must not cancel the run other callers share
        return await asyncio.shield(task)

    async def _execute(self, entry: _Entry) -> ComponentResult:
        start = time.perf_counter()
        try:
            result = await self._bounded(entry)
        except Exception as exc:
            result = self._failure(entry, f"{type(exc).__name__}: {exc}")
        duration = time.perf_counter() - start
        component = ComponentResult(
            name=entry.name,
            result=self._sanitised(result),
            duration_seconds=duration,
            time=self._wall_clock(),
            weight=entry.weight,
            critical=entry.critical,
        )
        entry.cached = component
        entry.expires = self._clock() + entry.cache_ttl
        self._record(component)
        return component

    async def _bounded(self, entry: _Entry) -> CheckResult:
        task = asyncio.ensure_future(entry.check.check())
        done, _ = await asyncio.wait({task}, timeout=entry.timeout)
        if not done:
            task.cancel()
            task.add_done_callback(_consume)
            return self._failure(entry, f"timeout: no answer within {entry.timeout:g}s")
        result = task.result()
        if not isinstance(result, CheckResult):
            raise TypeError(f"check() returned {type(result).__name__}, not CheckResult")
        return result

    def _failure(self, entry: _Entry, output: str) -> CheckResult:
        kind = str(getattr(entry.check, "component_type", "component"))
        return CheckResult("fail", component_type=kind, output=output)

    def _sanitised(self, result: CheckResult) -> CheckResult:
        redactor = self._redactor or telemetry().redactor
        return replace(
            result,
            output=redactor.redact(result.output),
            details=redactor.redact_value(dict(result.details)),
        )

    def _metrics_now(self) -> Metrics:
        return self._metrics if self._metrics is not None else telemetry().metrics

    def _record(self, component: ComponentResult) -> None:
        try:
            metrics = self._metrics_now()
            metrics["health_check_status"].labels(component.name).set(
                STATUS_VALUES[component.status]
            )
            metrics["health_check_duration_seconds"].labels(component.name).observe(
                component.duration_seconds
            )
        except Exception as exc:
            report_internal_error("health", exc)

    def _record_score(self, score: float) -> None:
        try:
            self._metrics_now()["health_score"].labels().set(score)
        except Exception as exc:
            report_internal_error("health", exc)


def _consume(task: asyncio.Task[Any]) -> None:
    """Retrieve a cancelled check's outcome so asyncio does not log it as unhandled."""
    if not task.cancelled():
        task.exception()


def _validate(name: str, weight: float, timeout: float | None, cache_ttl: float | None) -> None:
    if not _NAME.match(name) or name in RESERVED_NAMES:
        raise ConfigurationError(
            "health check name", name, "letters, digits, '_', '.', '-' and not live/ready/full"
        )
    if weight < 0:
        raise ConfigurationError(f"health check {name} weight", weight, "a number >= 0")
    if timeout is not None and timeout <= 0:
        raise ConfigurationError(f"health check {name} timeout", timeout, "a positive number")
    if cache_ttl is not None and cache_ttl < 0:
        raise ConfigurationError(f"health check {name} cache_ttl", cache_ttl, "a number >= 0")
