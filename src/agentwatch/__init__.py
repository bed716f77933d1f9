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
from ._genai.api import (
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
from ._genai.budget import Budget, budget
from ._genai.pricing import get_price, load_prices, set_prices
from ._init import Agentwatch, init
from ._integrations.llm_clients import instrument_anthropic, instrument_openai
from ._integrations.mcp import instrument_mcp
from ._logs.formatter import JsonFormatter
from ._state import get_tracer, metric
from ._tracing.sampling import ErrorPriorityProcessor
from ._tracing.sampling import HeadSampler as ErrorPrioritySampler

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
