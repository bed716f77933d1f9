"""agentwatch: observability and operations for Python services that run AI agents.

>>> import agentwatch
>>> aw = agentwatch.init(app, service_name="agent-api")  # doctest: +SKIP
"""

from __future__ import annotations

from ._catalog import MetricSpec, define_pack
from ._exceptions import (
    AgentwatchError,
    BudgetExceededError,
    ConfigurationError,
    OpsError,
    ValidationFailedError,
)

__all__ = [
    "AgentwatchError",
    "BudgetExceededError",
    "ConfigurationError",
    "MetricSpec",
    "OpsError",
    "ValidationFailedError",
    "define_pack",
]
