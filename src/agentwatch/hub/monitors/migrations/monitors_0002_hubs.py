"""monitors: the hubs sharing one database (each beats its row; the live ones split the leases)

Revision ID: monitors_0002
Revises: monitors_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "monitors_0002"
down_revision = "monitors_0001"
branch_labels = None
depends_on = None

Time = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "monitors_hubs",
        sa.Column("hub_id", sa.String(64), primary_key=True),
        sa.Column("started_at", Time, nullable=False),
        sa.Column("seen_until", Time, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("monitors_hubs")
