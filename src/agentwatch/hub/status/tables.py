"""The status part's tables (SQLAlchemy Core); ``migrations/`` creates them.

An incident is a row of ``status_incidents``; its timeline is ``status_incident_updates``
(oldest first); the monitors it covers are ``status_incident_monitors``, each with whether
it is still down, so an automatic incident resolves when the last of them recovers.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["incident_monitors", "incident_updates", "incidents", "metadata"]

metadata = sa.MetaData()
Time = sa.Float(precision=53)  # unix seconds

incidents = sa.Table(
    "status_incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column(
        "status", sa.String(16), nullable=False
    ),  # investigating|identified|monitoring|resolved
    sa.Column("impact", sa.String(16), nullable=False),  # none|minor|major|critical
    sa.Column("pages", sa.JSON, nullable=False),  # slugs named when it was opened (may be [])
    sa.Column("automatic", sa.Boolean, nullable=False),  # opened by a monitor going down
    sa.Column("taken_over_by", sa.String(200), nullable=True),  # a person wrote to it
    sa.Column("opened_by", sa.String(200), nullable=False),
    sa.Column("opened_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("resolved_at", Time, nullable=True, index=True),
)

incident_updates = sa.Table(
    "status_incident_updates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("status_incidents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("at", Time, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("by", sa.String(200), nullable=False),  # a person, or "monitor:<name>"
)

incident_monitors = sa.Table(
    "status_incident_monitors",
    metadata,
    sa.Column(
        "incident_id",
        sa.Integer,
        sa.ForeignKey("status_incidents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("monitor", sa.String(200), primary_key=True, index=True),
    sa.Column("down", sa.Boolean, nullable=False),  # still down (or degraded)
    sa.Column("since", Time, nullable=False),  # when it last changed
)
