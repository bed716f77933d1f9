"""The trace store's tables (SQLAlchemy Core), on their own SQLite file or the hub's Postgres.

``trace_summaries`` has a row per trace, recomputed from its spans whenever a batch adds
to it, so the list (errors first, then newest) is an index scan and never an aggregate
over a million spans. Spans and log records are keyed by their ids (a log record by a
digest of itself), so a batch sent twice is stored once.

The store keeps its own schema version (``trace_store_version``) instead of the hub's
Alembic chain: it lives in a file of its own by default and holds hours of data, so a
schema this code does not know is refused, and an older one is rebuilt (its traces are
dropped, and the rebuild says how many).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

__all__ = ["SCHEMA_VERSION", "logs", "metadata", "resources", "spans", "summaries", "version"]

SCHEMA_VERSION = 1
metadata = MetaData()

spans = Table(
    "trace_spans",
    metadata,
    Column("trace_id", String(32), primary_key=True),
    Column("span_id", String(16), primary_key=True),
    Column("parent_span_id", String(16), nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("service", Text, nullable=False),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    Column("status_code", SmallInteger, nullable=False),
    Column("status_message", Text, nullable=False),
    Column("is_error", Boolean, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("events", Text, nullable=False),
    Column("links", Text, nullable=False),
    Column("resource_id", String(40), nullable=False),
    Column("scope", Text, nullable=False),
    Column("route", Text),
    Column("tokens_in", BigInteger),
    Column("tokens_out", BigInteger),
    Column("cost_usd", Float),
    Column("error_message", Text),
    Column("size", Integer, nullable=False),
    Index("trace_spans_operations", "service", "name", "kind"),
)

summaries = Table(
    "trace_summaries",
    metadata,
    Column("trace_id", String(32), primary_key=True),
    Column("service", Text, nullable=False),
    Column("root_name", Text),  # None until the root span arrives
    Column("route", Text),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    Column("duration_ns", BigInteger, nullable=False),
    Column("span_count", Integer, nullable=False),
    Column("error_count", Integer, nullable=False),
    Column("is_error", Boolean, nullable=False),
    Column("tokens_in", BigInteger, nullable=False),
    Column("tokens_out", BigInteger, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("error_message", Text),
    Column("size", BigInteger, nullable=False),
    Index("trace_summaries_list", "is_error", "start_ns", "trace_id"),
    Index("trace_summaries_service", "service", "is_error", "start_ns"),
    Index("trace_summaries_end", "end_ns"),
)

logs = Table(
    "trace_logs",
    metadata,
    Column("log_id", String(32), primary_key=True),
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("time_ns", BigInteger, nullable=False),
    Column("severity_number", SmallInteger, nullable=False),
    Column("severity_text", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("resource_id", String(40), nullable=False),
    Column("size", Integer, nullable=False),
    Index("trace_logs_trace", "trace_id", "time_ns"),
    Index("trace_logs_time", "time_ns"),
)

resources = Table(
    "trace_resources",
    metadata,
    Column("resource_id", String(40), primary_key=True),
    Column("attributes", Text, nullable=False),
)

version = Table(
    "trace_store_version",
    metadata,
    Column("version", Integer, primary_key=True),
)
