"""The alerts part's migrations make exactly the tables of ``tables.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from agentwatch.hub.alerts.tables import metadata
from agentwatch.hub.store import Database


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_migrated_schema_matches_the_tables(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/hub.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    )
    db = Database.open(url)
    try:
        applied = await db.migrate()
        assert "alerts_0001" in applied

        def diff(connection: object) -> list[object]:
            context = MigrationContext.configure(connection)  # type: ignore[arg-type]
            ours = [d for d in compare_metadata(context, metadata) if _ours(d)]
            return ours

        async with db.engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await db.close()


def _ours(item: object) -> bool:
    """Differences about the alerts part's tables (other parts have their own test)."""
    text = repr(item)
    return "alerts_" in text and "hub_alembic_version" not in text
