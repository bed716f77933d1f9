"""alerts: alerts, groups and their members, deliveries, the outbox, channel slots, silences

Revision ID: alerts_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "alerts_0001"
down_revision = None
branch_labels = ("alerts",)
depends_on = None

Time = sa.Float(precision=53)


def upgrade() -> None:
    _alerts()
    _groups()
    _outbox()
    op.create_table(
        "alerts_channel_slots",
        sa.Column("channel", sa.String(100), primary_key=True),
        sa.Column("next_send_at", Time, nullable=False),
    )
    op.create_table(
        "alerts_silences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("matchers", sa.JSON, nullable=False),
        sa.Column("starts_at", Time, nullable=False),
        sa.Column("ends_at", Time, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_index("ix_alerts_silences_ends_at", "alerts_silences", ["ends_at"])


def _alerts() -> None:
    op.create_table(
        "alerts_alerts",
        sa.Column("fingerprint", sa.String(16), primary_key=True),
        sa.Column("alertname", sa.String(200), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("annotations", sa.JSON, nullable=False),
        sa.Column("links", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("starts_at", Time, nullable=False),
        sa.Column("ends_at", Time, nullable=True),
        sa.Column("first_seen", Time, nullable=False),
        sa.Column("last_seen", Time, nullable=False),
        sa.Column("resolved_at", Time, nullable=True),
        sa.Column("generator_url", sa.Text, nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.Column("monitor", sa.String(200), nullable=True),
        sa.Column("cause", sa.String(200), nullable=True),
        sa.Column("acked_at", Time, nullable=True),
        sa.Column("acked_by", sa.String(200), nullable=True),
        sa.Column("ack_comment", sa.Text, nullable=True),
    )
    for column in ("alertname", "status", "monitor", "cause"):
        op.create_index(f"ix_alerts_alerts_{column}", "alerts_alerts", [column])


def _groups() -> None:
    op.create_table(
        "alerts_groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("next_flush_at", Time, nullable=True),
        sa.Column("active_since", Time, nullable=True),
        sa.Column("last_flush_at", Time, nullable=True),
        sa.UniqueConstraint("route", "fingerprint", name="uq_alerts_groups_route_fingerprint"),
    )
    op.create_index("ix_alerts_groups_next_flush_at", "alerts_groups", ["next_flush_at"])
    op.create_table(
        "alerts_group_alerts",
        sa.Column(
            "group_id",
            sa.Integer,
            sa.ForeignKey("alerts_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "fingerprint",
            sa.String(16),
            sa.ForeignKey("alerts_alerts.fingerprint", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_alerts_group_alerts_fingerprint", "alerts_group_alerts", ["fingerprint"])
    op.create_table(
        "alerts_deliveries",
        sa.Column(
            "group_id",
            sa.Integer,
            sa.ForeignKey("alerts_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("channel", sa.String(100), primary_key=True),
        sa.Column("firing", sa.JSON, nullable=False),
        sa.Column("resolved", sa.JSON, nullable=False),
        sa.Column("notified_at", Time, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
    )


def _outbox() -> None:
    op.create_table(
        "alerts_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("deadline_at", Time, nullable=False),
        sa.Column("next_attempt_at", Time, nullable=False),
        sa.Column("lease_until", Time, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("sent_at", Time, nullable=True),
        sa.Column("dead_at", Time, nullable=True),
        sa.Column("summary_id", sa.Integer, nullable=True),
        sa.Column("group_id", sa.Integer, nullable=True),
    )
    op.create_index("ix_alerts_outbox_state_next", "alerts_outbox", ["state", "next_attempt_at"])
    op.create_index("ix_alerts_outbox_channel_state", "alerts_outbox", ["channel", "state"])
    op.create_index("ix_alerts_outbox_group", "alerts_outbox", ["group_id", "channel", "state"])


def downgrade() -> None:
    for table in (
        "alerts_silences",
        "alerts_channel_slots",
        "alerts_outbox",
        "alerts_deliveries",
        "alerts_group_alerts",
        "alerts_groups",
        "alerts_alerts",
    ):
        op.drop_table(table)
