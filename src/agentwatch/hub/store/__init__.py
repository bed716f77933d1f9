"""The hub's database: engine, write discipline and migrations.

Owns: :class:`Database` (an async SQLAlchemy engine; one writer at a time on SQLite, WAL
and ``synchronous=FULL``), the Alembic environment that applies every part's migrations on
start and refuses a schema newer than the code, and the state folder's default path.

Each part keeps its tables in ``hub/<part>/tables.py`` (SQLAlchemy Core, table names
prefixed with the part) and its migrations in ``hub/<part>/migrations/`` as an Alembic
branch labelled with the part's name; :data:`MIGRATION_LOCATIONS` lists them.

May import: the standard library, SQLAlchemy, Alembic, ``agentwatch.hub.config``.
"""

from .database import Database, DatabaseInUseError, default_database_url, state_dir
from .migrate import MIGRATION_LOCATIONS, SchemaTooNewError

__all__ = [
    "MIGRATION_LOCATIONS",
    "Database",
    "DatabaseInUseError",
    "SchemaTooNewError",
    "default_database_url",
    "state_dir",
]
