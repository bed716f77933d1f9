"""The trace store: its own engine, its schema, one write transaction per batch, eviction.

Everything here is synchronous and runs on the store's writer thread (writes) or in worker
threads (reads), never on the hub's event loop, and never takes the hub database's write
lock: by default the store is a SQLite file of its own (WAL, ``synchronous=NORMAL``: a
committed batch survives a crash of the hub; a power cut may lose the last second, which
the senders' spool resends), or tables in the hub's Postgres.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, func, select, text
from sqlalchemy.engine import make_url

from . import tables
from .otlp import Batch

__all__ = ["Evicted", "TraceStore", "store_url"]

SCHEMA_LOCK = 0x61677474  # the Postgres advisory lock held while making the tables
_log = logging.getLogger("agentwatch.hub.traces")
_CHUNK = 500  # trace ids per statement

_SUMMARY_SQL = """
INSERT INTO trace_summaries (trace_id, service, root_name, route, start_ns, end_ns,
    duration_ns, span_count, error_count, is_error, tokens_in, tokens_out, cost_usd,
    error_message, size)
SELECT s.trace_id,
    COALESCE((SELECT r.service FROM trace_spans r WHERE r.trace_id = s.trace_id
              AND r.parent_span_id = '' ORDER BY r.start_ns LIMIT 1), MIN(s.service)),
    COALESCE((SELECT r.name FROM trace_spans r WHERE r.trace_id = s.trace_id
              AND r.parent_span_id = '' ORDER BY r.start_ns LIMIT 1),
             (SELECT r.name FROM trace_spans r WHERE r.trace_id = s.trace_id
              ORDER BY r.start_ns LIMIT 1)),
    (SELECT r.route FROM trace_spans r WHERE r.trace_id = s.trace_id
     AND r.route IS NOT NULL ORDER BY r.parent_span_id <> '', r.start_ns LIMIT 1),
    MIN(s.start_ns), MAX(s.end_ns), MAX(s.end_ns) - MIN(s.start_ns), COUNT(*),
    SUM(CASE WHEN s.is_error THEN 1 ELSE 0 END),
    MAX(CASE WHEN s.is_error THEN 1 ELSE 0 END) = 1,
    COALESCE(SUM(s.tokens_in), 0), COALESCE(SUM(s.tokens_out), 0),
    COALESCE(SUM(s.cost_usd), 0.0),
    (SELECT e.error_message FROM trace_spans e WHERE e.trace_id = s.trace_id
     AND e.is_error ORDER BY e.error_message LIKE 'HTTP %', e.start_ns LIMIT 1),
    SUM(s.size)
FROM trace_spans s WHERE s.trace_id IN ({ids}) GROUP BY s.trace_id
ON CONFLICT (trace_id) DO UPDATE SET service = excluded.service,
    root_name = excluded.root_name, route = excluded.route, start_ns = excluded.start_ns,
    end_ns = excluded.end_ns, duration_ns = excluded.duration_ns,
    span_count = excluded.span_count, error_count = excluded.error_count,
    is_error = excluded.is_error, tokens_in = excluded.tokens_in,
    tokens_out = excluded.tokens_out, cost_usd = excluded.cost_usd,
    error_message = excluded.error_message, size = excluded.size
"""


@dataclass
class Evicted:
    """What one maintenance pass removed."""

    ok_traces: int = 0
    error_traces: int = 0
    logs: int = 0

    def __bool__(self) -> bool:
        return bool(self.ok_traces or self.error_traces or self.logs)


def store_url(hub_url: str | None, override: str | None, default_dir: Path) -> str:
    """Where the store lives: ``override``; else beside a SQLite hub database; else in the
    hub's Postgres; else ``default_dir/traces.db``."""
    if override:
        return override
    if hub_url:
        url = make_url(hub_url)
        if url.get_backend_name() == "postgresql":
            return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        if url.database and url.database != ":memory:":
            return f"sqlite:///{Path(url.database).expanduser().parent / 'traces.db'}"
    return f"sqlite:///{default_dir / 'traces.db'}"


class TraceStore:
    """Two engines on one store: the writer's (one connection) and the readers'."""

    def __init__(self, url: str) -> None:
        self._inserts: dict[str, str] = {}
        self.last_stored_bytes = 0
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            path = Path(parsed.database or "traces.db").expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            self.path: Path | None = path
            base = f"sqlite+pysqlite:///{path}"
            self.write_engine = _sqlite_engine(base, immediate=True, pool_size=1)
            self.read_engine = _sqlite_engine(base, immediate=False, pool_size=4)
        elif self.dialect == "postgresql":
            self.path = None
            pg = parsed.set(drivername="postgresql+psycopg")
            self.write_engine = create_engine(pg, pool_size=1, max_overflow=0, pool_pre_ping=True)
            self.read_engine = create_engine(pg, pool_size=4, max_overflow=4, pool_pre_ping=True)
        else:
            raise ValueError(f"trace store {parsed.drivername!r}: expected sqlite or postgresql")

    @property
    def url(self) -> str:
        return self.write_engine.url.render_as_string(hide_password=True)

    # -- schema ----------------------------------------------------------------------------

    def ensure_schema(self) -> int:
        """Create the tables; an older schema is rebuilt (returns the traces dropped)."""
        with self.write_engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # hubs starting together: one at a time
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
            dropped = 0
            if conn.dialect.has_table(conn, "trace_store_version"):
                found = conn.execute(select(func.max(tables.version.c.version))).scalar()
                if found is not None and found > tables.SCHEMA_VERSION:
                    raise RuntimeError(
                        f"the trace store at {self.url} has schema version {found}, newer than "
                        f"this agentwatch's {tables.SCHEMA_VERSION}: upgrade agentwatch or "
                        "point traces.database elsewhere"
                    )
                if found is not None and found < tables.SCHEMA_VERSION:
                    dropped = self._count(conn)
                    tables.metadata.drop_all(conn)
                    _log.warning("trace store schema %s rebuilt: %d traces dropped", found, dropped)
            tables.metadata.create_all(conn)
            if conn.execute(select(tables.version.c.version)).first() is None:
                conn.execute(tables.version.insert().values(version=tables.SCHEMA_VERSION))
        return dropped

    @staticmethod
    def _count(conn: Connection) -> int:
        if not conn.dialect.has_table(conn, "trace_summaries"):
            return 0
        return int(conn.execute(text("SELECT COUNT(*) FROM trace_summaries")).scalar() or 0)

    # -- writes ----------------------------------------------------------------------------

    def write(self, batches: Sequence[Batch]) -> None:
        """Every batch in one transaction: rows (a repeat is ignored), then summaries."""
        resources = {rid: r for batch in batches for rid, r in batch.resources.items()}
        span_rows = [row for batch in batches for row in batch.spans]
        log_rows = [row for batch in batches for row in batch.logs]
        trace_ids = sorted({row.trace_id for row in span_rows})
        with self.write_engine.begin() as conn:
            if resources:
                self._insert_ignore(conn, tables.resources, list(resources.values()))
            if span_rows:
                self._insert_ignore(conn, tables.spans, span_rows)
            if log_rows:
                self._insert_ignore(conn, tables.logs, log_rows)
            for chunk in _chunks(trace_ids, _CHUNK):
                self._summarize(conn, chunk)

    def _insert_ignore(
        self, conn: Connection, table: Table, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Rows as tuples in the table's column order, straight to the driver's executemany
        (the rows are NamedTuples whose fields are the columns: nothing is converted)."""
        sql = self._inserts.get(table.name)
        if sql is None:
            mark = "?" if self.dialect == "sqlite" else "%s"
            columns = ", ".join(c.name for c in table.columns)
            marks = ", ".join(mark for _ in table.columns)
            sql = f"INSERT INTO {table.name} ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"
            self._inserts[table.name] = sql
        conn.exec_driver_sql(sql, list(rows))

    @staticmethod
    def _summarize(conn: Connection, trace_ids: Sequence[str]) -> None:
        names = [f"t{i}" for i in range(len(trace_ids))]
        sql = _SUMMARY_SQL.format(ids=", ".join(f":{n}" for n in names))
        conn.execute(text(sql), dict(zip(names, trace_ids, strict=True)))

    # -- eviction --------------------------------------------------------------------------

    def stored_bytes(self) -> int:
        """Bytes of traces and logs kept, counted now; also kept in ``last_stored_bytes``."""
        with self.read_engine.connect() as conn:
            traces = conn.execute(
                text("SELECT COALESCE(SUM(size), 0) FROM trace_summaries")
            ).scalar()
            logs = conn.execute(
                text("SELECT COALESCE(SUM(size), 0) FROM trace_logs WHERE trace_id = ''")
            ).scalar()
        self.last_stored_bytes = int(traces or 0) + int(logs or 0)
        return self.last_stored_bytes

    def maintain(self, now_ns: int, retention_ns: int, max_bytes: int) -> Evicted:
        """Drop what is past retention, then the oldest successful traces (then errors)
        until the store is under 90% of ``max_bytes``."""
        evicted = Evicted()
        cutoff = now_ns - retention_ns
        with self.write_engine.begin() as conn:
            for is_error in (False, True):
                old = (
                    conn.execute(
                        select(tables.summaries.c.trace_id).where(
                            tables.summaries.c.end_ns < cutoff,
                            tables.summaries.c.is_error == is_error,
                        )
                    )
                    .scalars()
                    .all()
                )
                self._drop_traces(conn, old, is_error, evicted)
            result = conn.execute(
                tables.logs.delete().where(
                    tables.logs.c.trace_id == "", tables.logs.c.time_ns < cutoff
                )
            )
            evicted.logs += result.rowcount or 0
        self._evict_for_size(max_bytes, evicted)
        if evicted and self.dialect == "sqlite":
            with self.write_engine.begin() as conn:
                conn.exec_driver_sql("PRAGMA incremental_vacuum")
        return evicted

    def _evict_for_size(self, max_bytes: int, evicted: Evicted) -> None:
        stored = self.stored_bytes()
        if stored <= max_bytes:
            return
        excess = stored - int(max_bytes * 0.9)
        with self.write_engine.begin() as conn:
            for is_error in (False, True):
                while excess > 0:
                    rows = conn.execute(
                        select(tables.summaries.c.trace_id, tables.summaries.c.size)
                        .where(tables.summaries.c.is_error == is_error)
                        .order_by(tables.summaries.c.start_ns)
                        .limit(1000)
                    ).all()
                    if not rows:
                        break
                    victims = []
                    for row in rows:
                        victims.append(row.trace_id)
                        excess -= row.size
                        if excess <= 0:
                            break
                    self._drop_traces(conn, victims, is_error, evicted)

    @staticmethod
    def _drop_traces(
        conn: Connection, trace_ids: Iterable[str], is_error: bool, evicted: Evicted
    ) -> None:
        ids = list(trace_ids)
        for chunk in _chunks(ids, _CHUNK):
            for table in (tables.spans, tables.logs, tables.summaries):
                conn.execute(table.delete().where(table.c.trace_id.in_(chunk)))
        if is_error:
            evicted.error_traces += len(ids)
        else:
            evicted.ok_traces += len(ids)

    def close(self) -> None:
        self.write_engine.dispose()
        self.read_engine.dispose()


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Set by the writer only: they take the file's write lock, which a reader must never wait for
# (a page or a /metrics scrape would hang while another writer holds the file).
FILE_PRAGMAS = (
    "auto_vacuum=INCREMENTAL",  # takes effect on a new file: deletes give space back
    "journal_mode=WAL",
)
CONNECTION_PRAGMAS = (
    "synchronous=NORMAL",
    "busy_timeout=30000",
    "cache_size=-32000",
    "temp_store=MEMORY",
)


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int) -> Engine:
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        connect_args={"check_same_thread": False, "timeout": 30},
    )
    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (FILE_PRAGMAS if immediate else ()) + CONNECTION_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)
    return engine


def now_ns() -> int:
    return time.time_ns()
