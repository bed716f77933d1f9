"""Alembic, driven from code: every part's migrations applied on start.

The version table is ``hub_alembic_version``; each part is an Alembic branch (its label is
the part's name) whose scripts live in ``hub/<part>/migrations/``. A revision in the database
that no script knows was written by a newer agentwatch: the hub refuses to start rather than
run on a schema it does not understand.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection

from ..config import HubConfigError, Problem

__all__ = ["MIGRATION_LOCATIONS", "VERSION_TABLE", "SchemaTooNewError", "alembic_config", "upgrade"]

VERSION_TABLE = "hub_alembic_version"
_HUB = Path(str(resources.files("agentwatch.hub")))
# one folder per part that has tables; a part adds its own line
MIGRATION_LOCATIONS: tuple[Path, ...] = tuple(
    path
    for path in (_HUB / part / "migrations" for part in ("monitors", "status", "alerts", "traces"))
    if path.is_dir()
)


class SchemaTooNewError(HubConfigError):
    """The database carries a schema revision this version of agentwatch does not know."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", ":".join(str(p) for p in MIGRATION_LOCATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection) -> list[str]:
    """Apply pending revisions of every branch; returns the revisions now current."""
    config = alembic_config(connection)
    script = ScriptDirectory.from_config(config)
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    current = context.get_current_heads()
    unknown = []
    for revision in current:
        try:
            script.get_revision(revision)
        except CommandError:
            unknown.append(revision)
    if unknown:
        raise SchemaTooNewError(
            [
                Problem(
                    "",
                    "database",
                    f"schema revision {', '.join(unknown)} is newer than this "
                    "agentwatch knows; upgrade agentwatch (pip install -U 'agentwatch[hub]') "
                    "or point the hub at another database",
                )
            ]
        )
    if MIGRATION_LOCATIONS:
        command.upgrade(config, "heads")
    return list(
        MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE}
        ).get_current_heads()
    )
