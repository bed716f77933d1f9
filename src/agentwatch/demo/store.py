"""The demo service's state: workflow runs, agent steps, approvals, a knowledge base.

SQLAlchemy (async) on SQLite by default, PostgreSQL when ``DATABASE_URL`` is set.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Store", "async_url"]

_ARTICLES = [
    ("shipping-delays", "Orders delayed by the carrier get the shipping fee refunded."),
    ("refund-policy", "Refunds above 100 EUR need a human approval before payment."),
    ("password-reset", "Password resets are done from the account page, never by e-mail."),
    ("invoices", "Invoices are available for download for seven years."),
    ("warranty", "Hardware carries a two-year warranty from the delivery date."),
]


def _now() -> datetime:
    return datetime.now(UTC)


class _Base(DeclarativeBase):
    pass


class WorkflowRunRow(_Base):
    __tablename__ = "workflow_runs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workflow: Mapped[str] = mapped_column(String(64), index=True)
    trigger: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), index=True)
    input: Mapped[str] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AgentStepRow(_Base):
    __tablename__ = "agent_steps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("workflow_runs.id"), index=True)
    agent: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    output: Mapped[str] = mapped_column(Text, default="")


class ApprovalRow(_Base):
    __tablename__ = "approvals"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("workflow_runs.id"), index=True)
    workflow: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ArticleRow(_Base):
    __tablename__ = "articles"
    slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text)


def async_url(url: str) -> str:
    """An async driver URL: postgresql:// → postgresql+asyncpg://, sqlite:// → +aiosqlite."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def _run_dict(row: WorkflowRunRow, steps: list[AgentStepRow]) -> dict[str, Any]:
    return {
        "run_id": row.id,
        "workflow": row.workflow,
        "trigger": row.trigger,
        "status": row.status,
        "result": row.result,
        "error": row.error,
        "steps": [{"agent": s.agent, "status": s.status, "output": s.output} for s in steps],
    }


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL: readers never wait for the writer, and a commit appends to the log instead of
    rewriting pages (synchronous=NORMAL is safe with WAL) — so a burst of writes, as when
    the workflows held up by the incident all finish at once, does not queue every request
    behind the database lock."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Store:
    """Data access for the demo; every method is one short transaction."""

    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        options: dict[str, Any] = {}
        if self.url.startswith("postgresql"):
            options = {"pool_size": 10, "max_overflow": 20}
        elif self.url.startswith("sqlite"):  # writers queue for the lock rather than fail at 5 s
            options = {"connect_args": {"timeout": 30}}
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def create_schema(self) -> None:
        async with self.engine.begin() as connection:
            await connection.run_sync(_Base.metadata.create_all)
        async with self.sessions.begin() as session:
            count = await session.scalar(select(func.count()).select_from(ArticleRow))
            if not count:
                session.add_all(ArticleRow(slug=slug, body=body) for slug, body in _ARTICLES)

    async def close(self) -> None:
        await self.engine.dispose()

    async def create_run(self, workflow: str, trigger: str, text: str) -> str:
        run_id = uuid.uuid4().hex
        async with self.sessions.begin() as session:
            session.add(
                WorkflowRunRow(
                    id=run_id, workflow=workflow, trigger=trigger, status="queued", input=text
                )
            )
        return run_id

    async def set_status(
        self, run_id: str, status: str, *, result: str | None = None, error: str | None = None
    ) -> None:
        done = status in ("succeeded", "failed", "rejected")
        values: dict[str, Any] = {"status": status, "result": result, "error": error}
        if done:
            values["finished_at"] = _now()
        async with self.sessions.begin() as session:
            await session.execute(
                update(WorkflowRunRow).where(WorkflowRunRow.id == run_id).values(**values)
            )

    async def add_step(self, run_id: str, agent: str, status: str, output: str) -> None:
        async with self.sessions.begin() as session:
            session.add(
                AgentStepRow(run_id=run_id, agent=agent, status=status, output=output[:2000])
            )

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        async with self.sessions() as session:
            row = await session.get(WorkflowRunRow, run_id)
            if row is None:
                return None
            steps = await session.scalars(
                select(AgentStepRow).where(AgentStepRow.run_id == run_id).order_by(AgentStepRow.id)
            )
            return _run_dict(row, list(steps))

    async def search_articles(self, words: list[str]) -> list[str]:
        async with self.sessions() as session:
            rows = await session.scalars(select(ArticleRow).order_by(ArticleRow.slug))
            found = [row.body for row in rows if any(word in row.body.lower() for word in words)]
        return found[:3]

    async def create_approval(self, approval_id: str, run_id: str, workflow: str) -> None:
        async with self.sessions.begin() as session:
            session.add(
                ApprovalRow(id=approval_id, run_id=run_id, workflow=workflow, status="pending")
            )

    async def decide_approval(self, approval_id: str, approved: bool) -> str | None:
        """The new status, or None when no pending approval has this id."""
        status = "approved" if approved else "rejected"
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(ApprovalRow)
                .where(ApprovalRow.id == approval_id, ApprovalRow.status == "pending")
                .values(status=status)
            )
        return status if getattr(result, "rowcount", 0) == 1 else None

    async def approvals(self, status: str = "pending") -> list[dict[str, str]]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(ApprovalRow)
                .where(ApprovalRow.status == status)
                .order_by(ApprovalRow.created_at)
            )
            return [
                {
                    "approval_id": row.id,
                    "run_id": row.run_id,
                    "workflow": row.workflow,
                    "status": row.status,
                }
                for row in rows
            ]
