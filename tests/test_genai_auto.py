"""init() switches: SQLAlchemy (SQLite, real PostgreSQL) and redis (real server)."""

from __future__ import annotations

import uuid

import pytest
import redis
import redis.asyncio
import sqlalchemy
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy.ext.asyncio import create_async_engine
from tests._genai_support import parent_of, recording, span_id

import agentwatch

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_url() -> str:
    try:
        with redis.Redis.from_url(REDIS, socket_connect_timeout=2) as client:
            client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"these tests need Redis on 127.0.0.1:6379 (start redis-server): {exc}")
    return REDIS


def test_engines_created_before_init_are_traced_and_measured(tmp_path: object) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path}/early.db")  # before init()
    with recording(instrument_sqlalchemy=True) as rec:
        with agentwatch.agent_run("archivist"), engine.begin() as connection:
            connection.execute(sqlalchemy.text("CREATE TABLE notes (id INTEGER, body TEXT)"))
            connection.execute(
                sqlalchemy.text("INSERT INTO notes VALUES (:id, :body)"),
                {"id": 1, "body": "secret"},
            )
            connection.execute(sqlalchemy.text("SELECT body FROM notes WHERE id = :id"), {"id": 1})
        agent = rec.span("invoke_agent archivist")
        select = rec.span("SELECT notes")
        assert select.kind is SpanKind.CLIENT
        assert parent_of(select) == span_id(agent)
        assert dict(select.attributes or {}) == {
            "db.system.name": "sqlite",
            "db.namespace": f"{tmp_path}/early.db",
            "db.operation.name": "SELECT",
            "db.collection.name": "notes",
            "db.query.text": "SELECT body FROM notes WHERE id = ?",
        }
        assert "secret" not in str(
            rec.span("INSERT notes").attributes
        )  # bound values never recorded
        assert (
            rec.value("db_operation_duration_seconds_count", system="sqlite", operation="INSERT")
            == 1
        )
        with pytest.raises(sqlalchemy.exc.OperationalError), engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT * FROM missing_table"))
        failed = rec.span("SELECT missing_table")
        assert failed.status.status_code is StatusCode.ERROR
        assert rec.value("db_errors_total", system="sqlite", error_type="OperationalError") == 1
    engine.dispose()


async def test_postgres_statements_and_pool_connections() -> None:
    engine = create_async_engine(POSTGRES, pool_size=4, max_overflow=2)
    with recording(instrument_sqlalchemy=True) as rec:
        try:
            async with agentwatch.workflow_run("report"), engine.connect() as connection:
                await connection.execute(sqlalchemy.text("SELECT 1"))
                used = rec.value("db_pool_connections", pool="postgresql/test", state="used")
        except OSError as exc:
            pytest.fail(
                f"this test needs PostgreSQL on 127.0.0.1:5432 (db test, user postgres): {exc}"
            )
        workflow = rec.span("invoke_workflow report")
        select = rec.span("SELECT")
        assert parent_of(select) == span_id(workflow)
        assert (select.attributes or {})["server.address"] == "127.0.0.1"
        assert (select.attributes or {})["db.system.name"] == "postgresql"
        assert used == 1
        assert rec.value("db_pool_connections", pool="postgresql/test", state="used") == 0
        assert rec.value("db_pool_connections", pool="postgresql/test", state="idle") == 1
        assert rec.value("db_pool_connections", pool="postgresql/test", state="max") == 6
    await engine.dispose()


def test_sqlalchemy_is_left_alone_when_not_switched_on(tmp_path: object) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path}/quiet.db")
    with recording() as rec:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
        assert rec.spans() == []
        assert (
            rec.value("db_operation_duration_seconds_count", system="sqlite", operation="SELECT")
            == 0
        )
    engine.dispose()


async def test_redis_hits_misses_and_spans(redis_url: str) -> None:
    key = f"agentwatch-test:{uuid.uuid4().hex}"
    client = redis.asyncio.Redis.from_url(redis_url)  # created before init()
    with recording(instrument_redis=True) as rec:
        try:
            async with agentwatch.tool_call("kb_search"):
                assert await client.get(key) is None
                await client.set(key, "cached", ex=30)
                assert await client.get(key) == b"cached"
                with pytest.raises(redis.ResponseError):
                    await client.execute_command("NO_SUCH_COMMAND")
        finally:
            await client.delete(key)
            await client.aclose()
        labels = {"cache": "redis", "operation": "get"}
        assert rec.value("cache_operations_total", **labels, result="miss") == 1
        assert rec.value("cache_operations_total", **labels, result="hit") == 1
        assert rec.value("cache_operations_total", cache="redis", operation="set", result="ok") == 1
        assert (
            rec.value(
                "cache_operations_total", cache="redis", operation="no_such_command", result="error"
            )
            == 1
        )
        assert rec.value("cache_operation_duration_seconds_count", **labels) == 2
        tool = rec.span("execute_tool kb_search")
        gets = [span for span in rec.spans() if span.name == "GET"]
        assert len(gets) == 2 and all(parent_of(span) == span_id(tool) for span in gets)


def test_sync_redis_is_counted(redis_url: str) -> None:
    key = f"agentwatch-test:{uuid.uuid4().hex}"
    with recording(instrument_redis=True) as rec, redis.Redis.from_url(redis_url) as client:
        client.set(key, "1", ex=30)
        assert client.exists(key) == 1
        client.delete(key)
        assert client.exists(key) == 0
        assert (
            rec.value("cache_operations_total", cache="redis", operation="exists", result="hit")
            == 1
        )
        assert (
            rec.value("cache_operations_total", cache="redis", operation="exists", result="miss")
            == 1
        )


def test_redis_stops_counting_after_shutdown(redis_url: str) -> None:
    with recording(instrument_redis=True):
        pass
    with recording() as rec, redis.Redis.from_url(redis_url) as client:
        client.get("agentwatch-test:absent")
        assert (
            rec.value("cache_operations_total", cache="redis", operation="get", result="miss") == 0
        )
        assert rec.spans() == []
