"""redis: the cache pack for every client, and spans from the contrib instrumentation.

``cache_operations_total{cache,operation,result}`` counts each command with result
``hit`` / ``miss`` for reads (GET, MGET, HGET, HGETALL, EXISTS…: an empty answer is a
miss), ``ok`` for other commands and ``error`` when the command raised;
``cache_operation_duration_seconds`` times them. Sync and asyncio clients are covered,
existing and future (the class method is wrapped). Pipelines are not counted.

Spans come from ``opentelemetry-instrumentation-redis`` when it is installed.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from .._state import report_internal_error, telemetry

__all__ = ["instrument_redis", "set_enabled"]

CACHE = "redis"
_READS = frozenset(
    {
        "GET",
        "GETEX",
        "GETDEL",
        "MGET",
        "HGET",
        "HMGET",
        "HGETALL",
        "EXISTS",
        "HEXISTS",
        "LRANGE",
        "SMEMBERS",
        "ZRANGE",
        "GETRANGE",
        "JSON.GET",
    }
)
_ORIGINAL = "__agentwatch_original__"
_enabled = False


def set_enabled(enabled: bool) -> None:
    global _enabled
    _enabled = enabled


def result_of(command: str, response: Any) -> str:
    """``hit`` / ``miss`` for a read, ``ok`` otherwise."""
    if command not in _READS:
        return "ok"
    if response is None or response == 0 or response == {} or response == []:
        return "miss"
    if isinstance(response, list) and all(item is None for item in response):
        return "miss"
    return "hit"


def _record(command: str, result: str, started: float) -> None:
    if not _enabled:
        return
    try:
        metrics = telemetry().metrics
        operation = command.lower()
        metrics["cache_operations_total"].labels(CACHE, operation, result).inc()
        metrics["cache_operation_duration_seconds"].labels(CACHE, operation).observe(
            time.perf_counter() - started
        )
    except Exception as exc:
        report_internal_error("redis", exc)


def _command(args: tuple[Any, ...]) -> str:
    if not args:
        return "UNKNOWN"
    name = args[0]
    return (name.decode() if isinstance(name, bytes) else str(name)).upper()


def _wrap_sync(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def execute_command(client: Any, *args: Any, **options: Any) -> Any:
        started, command = time.perf_counter(), _command(args)
        try:
            response = original(client, *args, **options)
        except Exception:
            _record(command, "error", started)
            raise
        _record(command, result_of(command, response), started)
        return response

    return execute_command


def _wrap_async(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def execute_command(client: Any, *args: Any, **options: Any) -> Any:
        started, command = time.perf_counter(), _command(args)
        try:
            response = await original(client, *args, **options)
        except Exception:
            _record(command, "error", started)
            raise
        _record(command, result_of(command, response), started)
        return response

    return execute_command


def _patch(owner: type, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    current = owner.__dict__["execute_command"]
    if getattr(current, _ORIGINAL, None) is not None:
        return
    wrapper = wrap(current)
    setattr(wrapper, _ORIGINAL, current)
    owner.execute_command = wrapper  # type: ignore[attr-defined]


def instrument_redis(tracer_provider: Any = None) -> Callable[[], None]:
    """Count cache operations on every redis client; spans through the contrib package.

    Returns a function that stops the contrib spans (the counting wrapper stays, idle).
    """
    import redis
    import redis.asyncio

    set_enabled(True)
    _patch(redis.Redis, _wrap_sync)
    _patch(redis.asyncio.Redis, _wrap_async)
    try:
        from opentelemetry.instrumentation.redis import RedisInstrumentor
    except ImportError:
        return lambda: set_enabled(False)
    instrumentor = RedisInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=tracer_provider)

    def stop() -> None:
        set_enabled(False)
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()

    return stop
