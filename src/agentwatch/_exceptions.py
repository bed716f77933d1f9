"""The exceptions agentwatch raises.

One root, so ``except AgentwatchError`` catches everything the kit raises::

    AgentwatchError
    ├── ConfigurationError (also a ValueError) — a setting, file or argument is invalid
    ├── BudgetExceededError — a hard LLM budget is exhausted (raised before the call)
    ├── CircuitOpenError — a CircuitBreaker refused a call while open
    └── OpsError — generating or validating the operations folder failed
        └── ValidationFailedError — a real tool (promtool, amtool) or a cross-check said no

The SDK never raises into the host application from instrumentation paths: recording a
metric, ending a span or formatting a log line logs and counts its own failures instead
(see ``agentwatch_internal_errors_total``). Only calls the user makes on purpose —
``init()`` with a bad setting, a hard budget — raise.
"""

from __future__ import annotations

__all__ = [
    "AgentwatchError",
    "BudgetExceededError",
    "CircuitOpenError",
    "ConfigurationError",
    "OpsError",
    "ValidationFailedError",
]


class AgentwatchError(Exception):
    """Root of every exception agentwatch raises."""


class ConfigurationError(AgentwatchError, ValueError):
    """A setting has a bad value. The message names the key, the value and what is accepted."""

    def __init__(self, key: str, value: object, accepted: str, *, source: str = "") -> None:
        self.key = key
        self.value = value
        self.accepted = accepted
        self.source = source
        where = f" (from {source})" if source else ""
        super().__init__(f"{key}={value!r}{where} is not valid: expected {accepted}")


class BudgetExceededError(AgentwatchError):
    """A hard LLM budget is exhausted; raised before the call is made."""

    def __init__(self, budget: str, spent_usd: float, limit_usd: float) -> None:
        self.budget = budget
        self.spent_usd = spent_usd
        self.limit_usd = limit_usd
        super().__init__(
            f"LLM budget {budget!r} is exhausted: spent ${spent_usd:.4f} of ${limit_usd:.4f}"
        )


class CircuitOpenError(AgentwatchError):
    """A :class:`~agentwatch.health.CircuitBreaker` is open: the call was not attempted."""

    def __init__(self, breaker: str, retry_in_seconds: float) -> None:
        self.breaker = breaker
        self.retry_in_seconds = retry_in_seconds
        super().__init__(f"circuit {breaker!r} is open; next trial in {retry_in_seconds:.1f}s")


class OpsError(AgentwatchError):
    """Generating or validating the operations folder failed."""


class ValidationFailedError(OpsError):
    """A generated file was rejected by a real tool or by the catalog cross-check."""
