"""SQLAlchemy: a client span per statement and the db pack, for every engine.

Listeners sit on the ``Engine`` and pool classes, so engines created before ``init()``
are covered too (the OpenTelemetry contrib instrumentation only sees engines created after
it, or those passed to it). Async engines are covered through their sync engine.

Spans follow the database conventions: ``{db.operation.name} {db.collection.name}`` (or
the operation alone), kind CLIENT, with ``db.system.name``, ``db.namespace``, ``db.operation.name``,
``db.collection.name``, ``db.query.text`` (the statement with its placeholders — bound
values are never recorded), ``server.address`` / ``server.port`` and ``error.type``.
Metrics: ``db_operation_duration_seconds{system,operation}``, ``db_errors_total``, and
``db_pool_connections{pool,state}`` (idle, used, overflow, max) for queue pools, read
from the pool at scrape time (not in multi-process mode, where gauges are files).
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import SpanKind

from .._genai.operation import mark_span
from .._state import report_internal_error, telemetry
from .._tracing.events import record_exception

__all__ = ["instrument_sqlalchemy", "set_enabled"]

_OPERATION = re.compile(r"^\s*(?:/\*.*?\*/\s*)?([A-Za-z]+)", re.DOTALL)
_COLLECTION = re.compile(
    r"\b(?:FROM|INTO|UPDATE|TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?)\s+[\"`\[]?([A-Za-z_][\w.]*)",
    re.IGNORECASE,
)
_KEY = "_agentwatch_db"
_enabled = False
_installed = False
_pools: weakref.WeakKeyDictionary[Any, object] = weakref.WeakKeyDictionary()


def set_enabled(enabled: bool) -> None:
    global _enabled
    _enabled = enabled


def describe(statement: str) -> tuple[str, str]:
    """(operation, collection) of a SQL statement, e.g. ("SELECT", "workflow_runs")."""
    match = _OPERATION.match(statement)
    operation = match.group(1).upper() if match else "QUERY"
    found = _COLLECTION.search(statement)
    return operation, found.group(1) if found else ""


def _engine_attributes(engine: Any) -> dict[str, Any]:
    url = engine.url
    attributes: dict[str, Any] = {"db.system.name": engine.dialect.name}
    if url.database:
        attributes["db.namespace"] = str(url.database)
    if url.host:
        attributes["server.address"] = url.host
        if url.port:
            attributes["server.port"] = url.port
    return attributes


def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
    if not _enabled or context is None:
        return
    try:
        engine = conn.engine
        _watch_pool(engine)
        operation, collection = describe(statement)
        attributes = _engine_attributes(engine)
        attributes["db.operation.name"] = operation
        attributes["db.query.text"] = statement
        if collection:
            attributes["db.collection.name"] = collection
        name = f"{operation} {collection}" if collection else operation
        span = telemetry().tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        setattr(context, _KEY, (span, time.perf_counter(), engine.dialect.name, operation))
    except Exception as exc:
        report_internal_error("sqlalchemy", exc)


def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
    _finish(context, None)


def _error(exception_context: Any) -> None:
    _finish(exception_context.execution_context, exception_context.original_exception)


def _finish(context: Any, error: BaseException | None) -> None:
    started = getattr(context, _KEY, None) if context is not None else None
    if started is None:
        return
    try:
        delattr(context, _KEY)
        span, start, system, operation = started
        metrics = telemetry().metrics
        metrics["db_operation_duration_seconds"].labels(system, operation).observe(
            time.perf_counter() - start
        )
        if error is not None:
            error_type = type(error).__qualname__
            mark_span(span, error_type)
            record_exception(span, error)
            metrics["db_errors_total"].labels(system, error_type).inc()
        span.end()
    except Exception as exc:
        report_internal_error("sqlalchemy", exc)


def _pool_label(engine: Any) -> str:
    url = engine.url
    database = str(url.database or "").rsplit("/", 1)[-1]
    return f"{url.get_backend_name()}/{database}" if database else url.get_backend_name()


def _reader(pool_ref: weakref.ref[Any], state: str) -> Callable[[], float]:
    def read() -> float:
        pool = pool_ref()
        if pool is None:
            return 0.0
        if state == "idle":
            return float(pool.checkedin())
        if state == "used":
            return float(pool.checkedout())
        if state == "overflow":
            return float(max(pool.overflow(), 0))
        return float(pool.size() + max(getattr(pool, "_max_overflow", 0), 0))

    return read


def _watch_pool(engine: Any) -> None:
    """Read ``db_pool_connections`` from the pool at scrape time (queue pools only)."""
    pool = engine.pool
    metrics = telemetry().metrics
    if _pools.get(pool) is metrics or not hasattr(pool, "checkedout"):
        return
    _pools[pool] = metrics
    gauge, label, pool_ref = metrics["db_pool_connections"], _pool_label(engine), weakref.ref(pool)
    for state in ("idle", "used", "overflow", "max"):
        gauge.labels(label, state).set_function(_reader(pool_ref, state))


def instrument_sqlalchemy() -> None:
    """Listen on every SQLAlchemy engine (idempotent); ``init(instrument_sqlalchemy=True)``."""
    global _installed
    set_enabled(True)
    if _installed:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", _before)
    event.listen(Engine, "after_cursor_execute", _after)
    event.listen(Engine, "handle_error", _error)
    _installed = True
