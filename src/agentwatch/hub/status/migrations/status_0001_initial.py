"""status: incidents, their timeline and the monitors they cover

Revision ID: status_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "status_0001"
down_revision = None
branch_labels = ("status",)
depends_on = None

Time = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "status_incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("impact", sa.String(16), nullable=False),
        sa.Column("pages", sa.JSON, nullable=False),
        sa.Column("automatic", sa.Boolean, nullable=False),
        sa.Column("taken_over_by", sa.String(200), nullable=True),
        sa.Column("opened_by", sa.String(200), nullable=False),
        sa.Column("opened_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("resolved_at", Time, nullable=True),
    )
    op.create_index("ix_status_incidents_resolved_at", "status_incidents", ["resolved_at"])
    op.create_table(
        "status_incident_updates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id",
            sa.Integer,
            sa.ForeignKey("status_incidents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", Time, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
    )
    op.create_index(
        "ix_status_incident_updates_incident_id", "status_incident_updates", ["incident_id"]
    )
    op.create_table(
        "status_incident_monitors",
        sa.Column(
            "incident_id",
            sa.Integer,
            sa.ForeignKey("status_incidents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("monitor", sa.String(200), primary_key=True),
        sa.Column("down", sa.Boolean, nullable=False),
        sa.Column("since", Time, nullable=False),
    )
    op.create_index("ix_status_incident_monitors_monitor", "status_incident_monitors", ["monitor"])


def downgrade() -> None:
    for table in ("status_incident_monitors", "status_incident_updates", "status_incidents"):
        op.drop_table(table)
