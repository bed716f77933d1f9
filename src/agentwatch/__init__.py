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
from ._init import Agentwatch, init
from ._logs import JsonFormatter
from ._sampling import ErrorPriorityProcessor
from ._sampling import HeadSampler as ErrorPrioritySampler
from ._state import get_tracer, metric

__all__ = [
    "Agentwatch",
    "AgentwatchError",
    "BudgetExceededError",
    "ConfigurationError",
    "ErrorPriorityProcessor",
    "ErrorPrioritySampler",
    "JsonFormatter",
    "MetricSpec",
    "OpsError",
    "ValidationFailedError",
    "define_pack",
    "get_tracer",
    "init",
    "metric",
]
