"""Health checks, their registry and the ``/health`` endpoints.

>>> from agentwatch.health import HealthRegistry, SQLAlchemyCheck, RedisCheck, ReadinessGate
>>> health = HealthRegistry()
>>> health.register("database", SQLAlchemyCheck(engine), critical=True, weight=3)
>>> health.register("redis", RedisCheck("redis://127.0.0.1:6379/0"))
>>> warmup = ReadinessGate()
>>> health.register("warmup", warmup)
>>> aw = agentwatch.init(app, health=health)     # doctest: +SKIP
>>> warmup.mark_ready()                          # /health/ready (and /ready) turn 200
>>> health.register("llm_provider", LLMProviderCheck("openai", model="gpt-4o-mini"))
>>> health.register("vectors", VectorStoreCheck.qdrant("http://qdrant:6333", collection="docs"))

A check is any object with ``async check() -> CheckResult`` (see :mod:`.base`).

Owns the checks (one file per kind beside ``base.py``), the registry (weights,
criticality, timeouts, caching), the endpoints and ``_wiring.py`` (what ``init()``
attaches). May import ``_logs``, the core (``_metrics``, ``_state``) and the foundation.
"""

from __future__ import annotations

from .._exceptions import CircuitOpenError
from ._callable import CallableCheck, DependenciesGate, MigrationsCheck, ReadinessGate
from ._circuit import CircuitBreaker, CircuitBreakerCheck
from ._endpoints import CONTENT_TYPE, HealthAlias, HealthEndpoints, SummarySource
from ._http import HTTPCheck
from ._llm import LLMProviderCheck
from ._queue import QueueDepthCheck
from ._redis import RedisCheck, RedisQueueDepthCheck
from ._registry import ComponentResult, HealthRegistry, HealthReport, aggregate
from ._sql import PostgresCheck, SQLAlchemyCheck
from ._system import DiskCheck, ProcessMemoryCheck, TCPCheck
from ._vector import VectorReading, VectorStoreCheck
from .base import BaseCheck, CheckResult, HealthCheck, Status

__all__ = [
    "CONTENT_TYPE",
    "BaseCheck",
    "CallableCheck",
    "CheckResult",
    "CircuitBreaker",
    "CircuitBreakerCheck",
    "CircuitOpenError",
    "ComponentResult",
    "DependenciesGate",
    "DiskCheck",
    "HTTPCheck",
    "HealthAlias",
    "HealthCheck",
    "HealthEndpoints",
    "HealthRegistry",
    "HealthReport",
    "LLMProviderCheck",
    "MigrationsCheck",
    "PostgresCheck",
    "ProcessMemoryCheck",
    "QueueDepthCheck",
    "ReadinessGate",
    "RedisCheck",
    "RedisQueueDepthCheck",
    "SQLAlchemyCheck",
    "Status",
    "SummarySource",
    "TCPCheck",
    "VectorReading",
    "VectorStoreCheck",
    "aggregate",
]
