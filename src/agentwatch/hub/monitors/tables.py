"""The monitors part's tables (created by ``migrations/monitors_000*.py``)."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["hubs", "maintenance", "metadata", "results", "rollups", "state"]

metadata = sa.MetaData()
Time = sa.Float(precision=53)

state = sa.Table(
    "monitors_state",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("owner", sa.String(8), nullable=False),  # yaml | api
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),  # the monitor as written (API monitors)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("since", Time, nullable=False),
    sa.Column("last_check", Time),
    sa.Column("latency_ms", sa.Float),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("trace_id", sa.String(32)),
    sa.Column("cause", sa.String(100)),
    sa.Column("fails", sa.Integer, nullable=False),
    sa.Column("oks", sa.Integer, nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("components", sa.JSON, nullable=False),
    sa.Column("last_push", Time),
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_until", Time),
    sa.Column("created_at", Time, nullable=False),
)

results = sa.Table(  # one b-tree on SQLite: about 54 bytes a check
    "monitors_results",
    metadata,
    sa.Column("monitor", sa.String(100), primary_key=True),
    sa.Column("at", Time, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("latency_ms", sa.Float),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("trace_id", sa.String(32)),  # failed checks only: the trace they caused
    sqlite_with_rowid=False,
)

rollups = sa.Table(
    "monitors_rollups",
    metadata,
    sa.Column("monitor", sa.String(100), primary_key=True),
    sa.Column("period", sa.String(4), primary_key=True),  # hour | day
    sa.Column("start", Time, primary_key=True),
    sa.Column("checks", sa.Integer, nullable=False),
    sa.Column("up", sa.Integer, nullable=False),
    sa.Column("degraded", sa.Integer, nullable=False),
    sa.Column("down", sa.Integer, nullable=False),
    sa.Column("maintenance", sa.Integer, nullable=False),
    sa.Column("latency_total", sa.Float, nullable=False),
    sa.Column("seconds_down", sa.Float, nullable=False),
    sa.Column("seconds_maintenance", sa.Float, nullable=False),
    sqlite_with_rowid=False,
)

maintenance = sa.Table(
    "monitors_maintenance",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("monitors", sa.JSON, nullable=False),  # [] = every monitor
    sa.Column("starts_at", Time, nullable=False),
    sa.Column("ends_at", Time, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Index("ix_monitors_maintenance_ends_at", "ends_at"),
)

hubs = sa.Table(  # the hubs sharing a Postgres database, each beating its row
    "monitors_hubs",
    metadata,
    sa.Column("hub_id", sa.String(64), primary_key=True),
    sa.Column("started_at", Time, nullable=False),
    sa.Column("seen_until", Time, nullable=False),
)
