"""The hub's database: an async SQLAlchemy engine, one writer at a time on SQLite.

>>> db = Database.open(None)            # SQLite in the user's state folder   # doctest: +SKIP
>>> db = Database.open("postgresql+psycopg://127.0.0.1/hub")                  # doctest: +SKIP
>>> async with db.write() as conn:      # a transaction, committed on exit    # doctest: +SKIP
...     await conn.execute(table.insert(), rows)

SQLite runs in WAL mode with ``synchronous=FULL`` (a committed row survives a crash or a
power cut) and a busy timeout; the hub takes one in-process lock around every write
transaction, so writers queue instead of failing with "database is locked", and readers
never wait for them. One hub process owns a SQLite file (a lock file says so); several hubs
share work only on Postgres.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from ..config import HubConfigError, Problem

__all__ = [
    "Database",
    "DatabaseInUseError",
    "DatabaseUnreachableError",
    "default_database_url",
    "state_dir",
]

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg2": "postgresql+psycopg",
}


MIGRATE_LOCK = 0x61677477  # the Postgres advisory lock held while migrating ("agtw")


class DatabaseInUseError(HubConfigError):
    """Another hub process holds the SQLite database."""


class DatabaseUnreachableError(HubConfigError):
    """The database refused the hub's first connection (down, no such database, a bad
    password): said in one line, not a driver's traceback."""


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/agentwatch`` (default ``~/.local/state/agentwatch``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "agentwatch"


def default_database_url(environ: Mapping[str, str] | None = None) -> str:
    """SQLite file ``hub/hub.db`` in the state folder."""
    return f"sqlite:///{state_dir(environ) / 'hub' / 'hub.db'}"


def async_url(url: str) -> URL:
    """The URL with an async driver (``sqlite://`` → aiosqlite, ``postgresql://`` → psycopg)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise HubConfigError(
            [
                Problem(
                    "",
                    "database",
                    f"{_masked(url)!r} is not a database URL: expected "
                    "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
                )
            ]
        ) from None
    driver = _ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    if driver.split("+")[0] not in ("sqlite", "postgresql"):
        raise HubConfigError(
            [
                Problem(
                    "",
                    "database",
                    f"{parsed.drivername!r} is not supported: expected sqlite or postgresql",
                )
            ]
        )
    return parsed.set(drivername=driver)


def _masked(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


class Database:
    """An async engine and the write discipline of its dialect."""

    def __init__(self, engine: AsyncEngine, *, lock_file: IO[str] | None = None) -> None:
        self.engine = engine
        self.dialect: str = engine.dialect.name  # "sqlite" | "postgresql"
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self._lock_file = lock_file

    @classmethod
    def open(cls, url: str | None, *, environ: Mapping[str, str] | None = None) -> Database:
        """Open ``url`` (None: SQLite in the state folder), creating the SQLite folder."""
        parsed = async_url(url or default_database_url(environ))
        if parsed.drivername.startswith("sqlite"):
            return cls._open_sqlite(parsed)
        return cls(create_async_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=10))

    @classmethod
    def _open_sqlite(cls, url: URL) -> Database:
        lock_file = None
        if url.database and url.database != ":memory:":
            path = Path(url.database).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            lock_file = _lock_sqlite(path)
            url = url.set(database=str(path))
        memory = not url.database or url.database == ":memory:"
        # an in-memory database lives in one connection, shared by every user of the engine
        engine = (
            create_async_engine(url, poolclass=StaticPool) if memory else create_async_engine(url)
        )
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        return cls(engine, lock_file=lock_file)

    @property
    def url(self) -> str:
        """The URL without its password (safe to print)."""
        return self.engine.url.render_as_string(hide_password=True)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed when the block ends without an exception."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading (its implicit transaction is rolled back on exit)."""
        async with self.engine.connect() as conn:
            yield conn

    async def migrate(self) -> list[str]:
        """Apply every pending migration; refuse a schema newer than this code."""
        from .migrate import upgrade

        await self._reachable()
        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":  # hubs starting together migrate one at a time
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATE_LOCK}
                )
            applied: list[str] = await conn.run_sync(upgrade)
        return applied

    async def _reachable(self) -> None:
        try:
            async with self.engine.connect():
                pass
        except OperationalError as exc:
            reason = str(exc.orig or exc).strip().splitlines()[0]
            password = self.engine.url.password
            if password:
                reason = reason.replace(str(password), "***")
            problem = Problem("", "database", f"cannot connect to {self.url}: {reason}")
            raise DatabaseUnreachableError([problem]) from None

    async def close(self) -> None:
        await self.engine.dispose()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def _lock_sqlite(path: Path) -> IO[str]:
    lock = open(f"{path}.lock", "a+", encoding="utf-8")  # noqa: SIM115 -- held while open
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        owner = lock.read().strip() or "another process"
        lock.close()
        raise DatabaseInUseError(
            [
                Problem(
                    "",
                    "database",
                    f"{path} is in use by {owner}; one hub owns a SQLite "
                    "database (use Postgres to run several hubs)",
                )
            ]
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"hub pid {os.getpid()}\n")
    lock.flush()
    return lock


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see below)
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        "busy_timeout=10000",
        "foreign_keys=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")
