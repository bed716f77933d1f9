"""agentwatch: observability and operations for Python services that run AI agents.

>>> import agentwatch
>>> aw = agentwatch.init(app, service_name="agent-api")  # doctest: +SKIP
"""

from __future__ import annotations

from ._autollm import instrument_anthropic, instrument_openai
from ._budget import Budget, budget
from ._catalog import MetricSpec, define_pack
from ._exceptions import (
    AgentwatchError,
    BudgetExceededError,
    ConfigurationError,
    OpsError,
    ValidationFailedError,
)
from ._genai import (
    agent_run,
    approval_wait,
    current_llm_call,
    current_operation,
    llm_call,
    mark_error,
    record_usage,
    tool_call,
    workflow_run,
)
from ._init import Agentwatch, init
from ._logs import JsonFormatter
from ._mcp import instrument_mcp
from ._pricing import get_price, load_prices, set_prices
from ._sampling import ErrorPriorityProcessor
from ._sampling import HeadSampler as ErrorPrioritySampler
from ._state import get_tracer, metric

__all__ = [
    "Agentwatch",
    "AgentwatchError",
    "Budget",
    "BudgetExceededError",
    "ConfigurationError",
    "ErrorPriorityProcessor",
    "ErrorPrioritySampler",
    "JsonFormatter",
    "MetricSpec",
    "OpsError",
    "ValidationFailedError",
    "agent_run",
    "approval_wait",
    "budget",
    "current_llm_call",
    "current_operation",
    "define_pack",
    "get_price",
    "get_tracer",
    "init",
    "instrument_anthropic",
    "instrument_mcp",
    "instrument_openai",
    "llm_call",
    "load_prices",
    "mark_error",
    "metric",
    "record_usage",
    "set_prices",
    "tool_call",
    "workflow_run",
]
