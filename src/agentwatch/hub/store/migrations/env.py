"""Alembic environment of the hub: runs on the connection the hub hands it."""

from __future__ import annotations

from alembic import context

from agentwatch.hub.store.migrate import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
