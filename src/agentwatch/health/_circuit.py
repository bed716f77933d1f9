"""A small circuit breaker that records its state, and the health check reading it.

>>> llm_breaker = CircuitBreaker("openai", failure_threshold=5, reset_timeout=30)
>>> reply = await llm_breaker.call_async(client.chat.completions.create, **request)  # doctest: +SKIP
>>> health.register("openai_circuit", CircuitBreakerCheck(llm_breaker))

closed -> open after ``failure_threshold`` consecutive failures; open -> half-open once
``reset_timeout`` has passed (one trial call at a time); half-open -> closed on a success,
back to open on a failure. Every change sets ``circuit_breaker_state{breaker}`` (0 closed,
1 half-open, 2 open) and counts ``circuit_breaker_transitions_total{breaker,state}``.
The check reports closed as pass, half-open as warn, open as fail. It reads any object
with a ``state`` (or pybreaker's ``current_state``) of closed / half-open / open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .._exceptions import CircuitOpenError
from .._metrics.registry import Metrics
from .._state import report_internal_error, telemetry
from .base import CheckResult, Status

__all__ = ["CircuitBreaker", "CircuitBreakerCheck"]

T = TypeVar("T")
CLOSED, HALF_OPEN, OPEN = "closed", "half_open", "open"
_STATE_VALUE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
_CHECK_STATUS: dict[str, Status] = {CLOSED: "pass", HALF_OPEN: "warn", OPEN: "fail"}


class CircuitBreaker:
    """Stops calling a failing dependency for a while; see the module docstring."""

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._metrics = metrics
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False
        self._publish(CLOSED, transition=False)

    @property
    def state(self) -> str:
        """closed, half_open or open (open turns half-open once the reset timeout passed)."""
        with self._lock:
            return self._current()

    def _current(self) -> str:
        if self._state == OPEN and self._clock() - self._opened_at >= self.reset_timeout:
            self._move(HALF_OPEN)
        return self._state

    def allow(self) -> bool:
        """Whether a call may go ahead now (in half-open, one trial at a time)."""
        with self._lock:
            state = self._current()
            if state == CLOSED:
                return True
            if state == HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._trial_running = False
            if self._state != CLOSED:
                self._move(CLOSED)

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            self._trial_running = False
            if self._state == HALF_OPEN or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
                if self._state != OPEN:
                    self._move(OPEN)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` through the breaker; CircuitOpenError when open."""
        self._admit()
        try:
            result = fn(*args, **kwargs)
        except Exception:
            self.record_failure()
            raise
        self.record_success()
        return result

    async def call_async(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """``await fn(*args, **kwargs)`` through the breaker; CircuitOpenError when open."""
        self._admit()
        try:
            result = await fn(*args, **kwargs)
        except Exception:
            self.record_failure()
            raise
        self.record_success()
        return result

    def _admit(self) -> None:
        if not self.allow():
            retry_in = max(0.0, self.reset_timeout - (self._clock() - self._opened_at))
            raise CircuitOpenError(self.name, retry_in)

    def _move(self, state: str) -> None:
        self._state = state
        self._publish(state, transition=True)

    def _publish(self, state: str, *, transition: bool) -> None:
        try:
            metrics = self._metrics if self._metrics is not None else telemetry().metrics
            metrics["circuit_breaker_state"].labels(self.name).set(_STATE_VALUE[state])
            if transition:
                metrics["circuit_breaker_transitions_total"].labels(self.name, state).inc()
        except Exception as exc:
            report_internal_error("circuit_breaker", exc)


class CircuitBreakerCheck:
    """closed: pass, half-open: warn, open: fail; observed value: the state (``name:state``)."""

    component_type = "component"
    critical = False

    def __init__(self, breaker: Any) -> None:
        self.breaker = breaker

    async def check(self) -> CheckResult:
        raw = getattr(self.breaker, "state", None)
        if raw is None or not isinstance(raw, str):
            raw = getattr(self.breaker, "current_state", raw)  # pybreaker
        state = str(raw).lower().replace("-", "_")
        status = _CHECK_STATUS.get(state)
        if status is None:
            return CheckResult(
                "fail", state, None, output=f"unknown circuit state {raw!r}", measurement="state"
            )
        output = "" if status == "pass" else f"circuit {state.replace('_', '-')}"
        return CheckResult(
            status, state.replace("_", "-"), None, output=output, measurement="state"
        )
