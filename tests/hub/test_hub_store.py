"""The hub's database on SQLite and on the machine's Postgres."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from agentwatch.hub.store import (
    Database,
    DatabaseInUseError,
    SchemaTooNewError,
    default_database_url,
)


def test_default_database_is_in_the_state_folder(tmp_path: Path) -> None:
    url = default_database_url({"XDG_STATE_HOME": str(tmp_path)})
    assert url == f"sqlite:///{tmp_path}/agentwatch/hub/hub.db"


async def test_sqlite_is_wal_and_owned_by_one_hub(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hub.db"
    db = Database.open(url)
    try:
        await db.migrate()
        async with db.read() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA synchronous"))).scalar() == 2  # FULL
        with pytest.raises(DatabaseInUseError, match="is in use by hub pid"):
            Database.open(url)
    finally:
        await db.close()
    again = Database.open(url)  # free again once closed
    await again.close()


async def _future_revision(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS hub_alembic_version (version_num VARCHAR(32) PRIMARY KEY)"
            )
        )
        await conn.execute(text("INSERT INTO hub_alembic_version VALUES ('from_the_future')"))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_schema_newer_than_the_code_refuses_to_start(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/hub.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    )
    db = Database.open(url)
    try:
        await db.migrate()
        await _future_revision(db)
        with pytest.raises(
            SchemaTooNewError, match="from_the_future is newer than this agentwatch knows"
        ):
            await db.migrate()
    finally:
        await db.close()


async def test_bad_url_names_what_is_accepted() -> None:
    from agentwatch.hub.config import HubConfigError

    with pytest.raises(
        HubConfigError, match="'mysql' is not supported: expected sqlite or postgresql"
    ):
        Database.open("mysql://root@127.0.0.1/x")


MIGRATE = """
import asyncio, sys
from agentwatch.hub.store import Database

async def main() -> None:
    db = Database.open(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()  # every process starts its migration at the same moment
    try:
        print(len(await db.migrate()))
    finally:
        await db.close()

asyncio.run(main())
"""


def _error_line(stderr: str) -> str:
    return next((line for line in reversed(stderr.splitlines()) if "Error" in line), stderr[-300:])


def test_hubs_started_together_on_a_new_postgres_migrate_one_after_another(pg_url: str) -> None:
    """Replicas start at once: without the migration lock all but one failed on CREATE TABLE."""
    import subprocess
    import sys

    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, pg_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [p.communicate(timeout=60) for p in procs]
    done = [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]
    failed = [_error_line(err) for code, _out, err in done if code]
    assert not failed, failed
    assert len({out for _code, out, _err in done}) == 1  # every hub sees the same heads
