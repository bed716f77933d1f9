"""Database checks: a SQLAlchemy engine (sync or async) and PostgreSQL by DSN.

>>> health.register("database", SQLAlchemyCheck(engine), critical=True)
>>> health.register("postgres", PostgresCheck("postgresql://app@db:5432/app"))

Both make a real round trip (``SELECT 1``). The SQLAlchemy check reports the pool's
checked-out connections as observed value (``database:connections``) with the pool sizes as
details; the PostgreSQL check reports the server's connections against ``max_connections``.
"""

from __future__ import annotations

import time
from typing import Any

from .base import BaseCheck, CheckResult, Status

__all__ = ["PostgresCheck", "SQLAlchemyCheck"]

_PG_QUERY = (
    "SELECT 1, current_setting('server_version'), current_setting('max_connections')::int, "
    "(SELECT count(*) FROM pg_stat_activity)"
)


def _pool_result(pool: Any, round_trip_ms: float) -> CheckResult:
    details: dict[str, Any] = {
        "round_trip_ms": round(round_trip_ms, 3),
        "pool": type(pool).__name__,
    }
    size, checked_out = getattr(pool, "size", None), getattr(pool, "checkedout", None)
    if not (callable(size) and callable(checked_out)):  # NullPool, StaticPool: no counts
        return CheckResult("pass", round(round_trip_ms, 3), "ms", "datastore", details=details)
    in_use, capacity = int(checked_out()), int(size())
    details.update(
        pool_size=capacity,
        checked_out=in_use,
        checked_in=int(pool.checkedin()) if callable(getattr(pool, "checkedin", None)) else None,
        utilization_percent=round(100.0 * in_use / capacity, 1) if capacity else None,
    )
    return CheckResult(
        "pass", in_use, "connections", "datastore", details=details, measurement="connections"
    )


class SQLAlchemyCheck(BaseCheck):
    """``SELECT 1`` through a SQLAlchemy ``Engine`` or ``AsyncEngine``; pool usage observed.

    A sync engine runs in a worker thread (one at a time: a hung database holds one thread).
    """

    component_type = "datastore"

    def __init__(self, engine: Any, query: str = "SELECT 1") -> None:
        super().__init__()
        self.engine = engine
        self.query = query

    async def check(self) -> CheckResult:
        from sqlalchemy import text

        start = time.perf_counter()
        if hasattr(self.engine, "sync_engine"):  # AsyncEngine
            async with self.engine.connect() as connection:
                await connection.execute(text(self.query))
        else:
            await self.in_thread(self._round_trip)
        return _pool_result(self.engine.pool, (time.perf_counter() - start) * 1000.0)

    def _round_trip(self) -> None:
        from sqlalchemy import text

        with self.engine.connect() as connection:
            connection.execute(text(self.query))


class PostgresCheck(BaseCheck):
    """A fresh PostgreSQL connection (psycopg, async), ``SELECT 1`` and server connections.

    Observed value: backends connected (``postgres:connections``); details: server version,
    ``max_connections`` and utilisation. Needs ``pip install 'agentwatch[postgres]'``.
    """

    component_type = "datastore"

    def __init__(
        self, dsn: str, *, connect_timeout: float = 5.0, warn_utilization: float = 90.0
    ) -> None:
        super().__init__()
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self.warn_utilization = warn_utilization

    async def check(self) -> CheckResult:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - the extra is installed in dev
            raise RuntimeError("PostgresCheck needs pip install 'agentwatch[postgres]'") from exc
        start = time.perf_counter()
        timeout = max(1, round(self.connect_timeout))
        async with await psycopg.AsyncConnection.connect(self.dsn, connect_timeout=timeout) as conn:
            cursor = await conn.execute(_PG_QUERY)
            row = await cursor.fetchone()
        assert row is not None
        _, version, max_connections, connected = row
        utilization = round(100.0 * connected / max_connections, 1) if max_connections else 0.0
        details = {
            "round_trip_ms": round((time.perf_counter() - start) * 1000.0, 3),
            "server_version": version,
            "max_connections": max_connections,
            "utilization_percent": utilization,
        }
        status: Status = "warn" if utilization >= self.warn_utilization else "pass"
        output = f"{utilization}% of max_connections in use" if status == "warn" else ""
        return CheckResult(
            status, connected, "connections", "datastore", output, details, "connections"
        )
