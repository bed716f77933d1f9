"""monitors: current state, raw results, hourly and daily rollups, maintenance windows

Revision ID: monitors_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "monitors_0001"
down_revision = None
branch_labels = ("monitors",)
depends_on = None

Time = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "monitors_state",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("owner", sa.String(8), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
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
    op.create_table(
        "monitors_results",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("monitor", sa.String(100), nullable=False),
        sa.Column("at", Time, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("latency_ms", sa.Float),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("trace_id", sa.String(32)),
    )
    op.create_index("ix_monitors_results_monitor_at", "monitors_results", ["monitor", "at"])
    op.create_index("ix_monitors_results_at", "monitors_results", ["at"])
    op.create_table(
        "monitors_rollups",
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
    )
    op.create_table(
        "monitors_maintenance",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("monitors", sa.JSON, nullable=False),
        sa.Column("starts_at", Time, nullable=False),
        sa.Column("ends_at", Time, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_index("ix_monitors_maintenance_ends_at", "monitors_maintenance", ["ends_at"])


def downgrade() -> None:
    for table in ("monitors_maintenance", "monitors_rollups", "monitors_results", "monitors_state"):
        op.drop_table(table)
