"""The few statements that differ between SQLite and Postgres.

``FOR UPDATE [SKIP LOCKED]`` is written with SQLAlchemy's ``with_for_update``, which the
SQLite dialect leaves out (there one writer holds the whole database anyway); an insert
that may meet an existing row is ``ON CONFLICT DO NOTHING`` on both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["insert_ignore"]


async def insert_ignore(
    conn: AsyncConnection, table: sa.Table, values: Mapping[str, Any] | list[dict[str, Any]]
) -> int:
    """Insert unless the primary or a unique key exists; returns the rows inserted."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = module.insert(table).on_conflict_do_nothing()
    result = await conn.execute(statement, values)
    return int(result.rowcount or 0)
