"""monitors: results and rollups clustered on their key (SQLite WITHOUT ROWID, no extra index)

A result row was stored three times on SQLite (the row, the (monitor, at) index, the at
index): 139 bytes a check with its trace id, 1.4 GB for 1,000 monitors at 60 s over 7 days.
Clustered on (monitor, at) it is one b-tree, about 54 bytes a check; rollups likewise.

Revision ID: monitors_0003
Revises: monitors_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "monitors_0003"
down_revision = "monitors_0002"
branch_labels = None
depends_on = None

Time = sa.Float(precision=53)
RESULT_COLUMNS = "monitor, at, status, latency_ms, message, trace_id"
ROLLUP_COLUMNS = (
    "monitor, period, start, checks, up, degraded, down, maintenance, latency_total, "
    "seconds_down, seconds_maintenance"
)


def _results(name: str) -> None:
    op.create_table(
        name,
        sa.Column("monitor", sa.String(100), primary_key=True),
        sa.Column("at", Time, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("latency_ms", sa.Float),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("trace_id", sa.String(32)),
        sqlite_with_rowid=False,
    )


def _rollups(name: str) -> None:
    op.create_table(
        name,
        sa.Column("monitor", sa.String(100), primary_key=True),
        sa.Column("period", sa.String(4), primary_key=True),
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


def _copy(old: str, new: str, columns: str) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    ignore = "OR IGNORE " if sqlite else ""
    conflict = "" if sqlite else " ON CONFLICT DO NOTHING"
    op.execute(f"INSERT {ignore}INTO {new} ({columns}) SELECT {columns} FROM {old}{conflict}")
    op.drop_table(old)
    op.rename_table(new, old)


def upgrade() -> None:
    _results("monitors_results_compact")
    _copy("monitors_results", "monitors_results_compact", RESULT_COLUMNS)
    _rollups("monitors_rollups_compact")
    _copy("monitors_rollups", "monitors_rollups_compact", ROLLUP_COLUMNS)


def downgrade() -> None:
    raise NotImplementedError("monitors_0003 is not undone: restore a backup instead")
