"""The alerts part's tables (SQLAlchemy Core); the migrations in ``migrations/`` create them.

Every timer is a row: a group's next flush is ``alerts_groups.next_flush_at``, a
notification's next attempt ``alerts_outbox.next_attempt_at``, a channel's next free send
slot ``alerts_channel_slots.next_send_at``. A restarted hub (or another hub on the same
Postgres) picks up exactly where the last one stopped.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "alerts",
    "channel_slots",
    "deliveries",
    "group_alerts",
    "groups",
    "metadata",
    "outbox",
    "silences",
]

metadata = sa.MetaData()
Time = sa.Float(precision=53)  # unix seconds

alerts = sa.Table(
    "alerts_alerts",
    metadata,
    sa.Column("fingerprint", sa.String(16), primary_key=True),
    sa.Column("alertname", sa.String(200), nullable=False, index=True),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("annotations", sa.JSON, nullable=False),
    sa.Column("links", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("starts_at", Time, nullable=False),
    sa.Column("ends_at", Time, nullable=True),
    sa.Column("first_seen", Time, nullable=False),
    sa.Column("last_seen", Time, nullable=False),
    sa.Column("resolved_at", Time, nullable=True),
    sa.Column("generator_url", sa.Text, nullable=False),
    sa.Column("trace_id", sa.String(32), nullable=True),
    sa.Column("monitor", sa.String(200), nullable=True, index=True),  # a monitor's own alert
    sa.Column("cause", sa.String(200), nullable=True, index=True),  # its depends_on parent
    sa.Column("acked_at", Time, nullable=True),
    sa.Column("acked_by", sa.String(200), nullable=True),
    sa.Column("ack_comment", sa.Text, nullable=True),
)

groups = sa.Table(
    "alerts_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("route", sa.String(64), nullable=False),
    sa.Column("fingerprint", sa.String(16), nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("next_flush_at", Time, nullable=True, index=True),
    sa.Column("active_since", Time, nullable=True),
    sa.Column("last_flush_at", Time, nullable=True),
    sa.UniqueConstraint("route", "fingerprint", name="uq_alerts_groups_route_fingerprint"),
)

group_alerts = sa.Table(
    "alerts_group_alerts",
    metadata,
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
        index=True,
    ),
)

# what each channel of a group was last told (Alertmanager's notification log, as rows)
deliveries = sa.Table(
    "alerts_deliveries",
    metadata,
    sa.Column(
        "group_id",
        sa.Integer,
        sa.ForeignKey("alerts_groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("firing", sa.JSON, nullable=False),  # ["<fingerprint>@<revision>", ...]
    sa.Column("resolved", sa.JSON, nullable=False),
    sa.Column("notified_at", Time, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),  # the group epoch for this channel
)

outbox = sa.Table(
    "alerts_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # firing|resolved|acknowledged|summary
    sa.Column("state", sa.String(16), nullable=False),  # pending|sending|sent|dead|coalesced
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
    sa.Column("group_id", sa.Integer, nullable=True),  # rows of one group go out in order
    sa.Index("ix_alerts_outbox_state_next", "state", "next_attempt_at"),
    sa.Index("ix_alerts_outbox_group", "group_id", "channel", "state"),
    sa.Index("ix_alerts_outbox_channel_state", "channel", "state"),
)

channel_slots = sa.Table(
    "alerts_channel_slots",
    metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("next_send_at", Time, nullable=False),
)

silences = sa.Table(
    "alerts_silences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("matchers", sa.JSON, nullable=False),  # ['alertname="X"', ...]
    sa.Column("starts_at", Time, nullable=False),
    sa.Column("ends_at", Time, nullable=False, index=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_at", Time, nullable=False),
)
