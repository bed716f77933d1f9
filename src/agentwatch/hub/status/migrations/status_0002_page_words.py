"""status: the monitors' updates already written say what is down, not the check's message

Before this revision an automatic incident's update read "api is down: HTTP 500 from
http://10.0.0.5:8000/": the probe's target, on a public page, its JSON and its feed, for
as long as the incident is listed. Those updates (written by ``monitor:<name>``) keep the
words of the page, "api is down." (the check's message stays with the monitor's results,
for the operator). A person's updates are left as they are.

Revision ID: status_0002
Revises: status_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "status_0002"
down_revision = "status_0001"
branch_labels = None
depends_on = None

_BY_MONITOR = "monitor:"
_PARENT = ", which it depends on, is down"


def page_words(by: str, message: str) -> str | None:
    """The update without the check's message, or None when it has none to drop.

    >>> page_words("monitor:api", "api is down again: HTTP 500 from http://10.0.0.5/")
    'api is down again.'
    >>> page_words("monitor:api", "api is down because pg, which it depends on, is down: x")
    'api is down because pg, which it depends on, is down.'
    >>> page_words("ana", "api is down: we are on it") is None
    True
    """
    if not by.startswith(_BY_MONITOR):
        return None
    head = f"{by.removeprefix(_BY_MONITOR)} is down"
    if not message.startswith(head):
        return None
    parent = message.find(_PARENT)
    if parent >= 0:
        end = parent + len(_PARENT)
    else:
        end = len(head) + (len(" again") if message.startswith(f"{head} again") else 0)
    return f"{message[:end]}." if message[end : end + 2] == ": " else None


def upgrade() -> None:
    updates = sa.table(
        "status_incident_updates",
        sa.column("id", sa.Integer),
        sa.column("message", sa.Text),
        sa.column("by", sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(updates.c.id, updates.c.by, updates.c.message).where(
            updates.c.by.startswith(_BY_MONITOR)
        )
    ).all()
    for row in rows:
        words = page_words(row.by, row.message)
        if words is not None:
            conn.execute(updates.update().where(updates.c.id == row.id).values(message=words))


def downgrade() -> None:
    """The check's messages dropped are not kept: nothing to put back."""
