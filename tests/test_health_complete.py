"""Health, completed: the draft's fields on every answer, /live and /ready at the root, the
readiness gates (Alembic migrations, warm-up), the LLM provider and vector store checks."""

from __future__ import annotations

import datetime as dt
import re
import textwrap
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, text
from tests._fake_api import Answer, fake_api
from tests._health_servers import (
    PG_DSN,
    FakeClock,
    free_port,
    get,
    hung_server,
    require_postgres,
)

import agentwatch
from agentwatch import ConfigurationError
from agentwatch._metrics.registry import Metrics
from agentwatch.health import (
    CheckResult,
    HealthEndpoints,
    HealthRegistry,
    LLMProviderCheck,
    MigrationsCheck,
    ReadinessGate,
    VectorStoreCheck,
)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def new_registry(**kwargs: Any) -> HealthRegistry:
    return HealthRegistry(metrics=Metrics(CollectorRegistry()), **kwargs)


async def run_one(check: Any, **register: Any) -> CheckResult:
    health = new_registry(cache_ttl=0.0)
    health.register("component", check, **register)
    return (await health.run_component("component")).result


# --- the fields of every document ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/health/live", 200),
        ("/health", 200),
        ("/health/ready", 200),
        ("/health/full", 200),
        ("/health/database", 200),
        ("/health/nothing-here", 404),
    ],
)
async def test_every_document_carries_identity_uptime_timestamp_environment_and_notes(
    path: str, code: int
) -> None:
    clock = FakeClock(100.0)
    health = new_registry(wall_clock=lambda: 1700000000.25)
    health.register("database", lambda: True)
    app = HealthEndpoints(
        health,
        service_id="agent-api",
        version="2",
        release_id="2.3.1",
        environment="staging",
        notes=["canary: 10% of traffic"],
        clock=clock,
        wall_clock=lambda: 1700000060.5,
    )
    clock.now = 161.2345

    response = await get(app, path)

    body = response.json()
    assert response.status_code == code
    assert (body["serviceId"], body["version"], body["releaseId"]) == ("agent-api", "2", "2.3.1")
    assert (body["environment"], body["notes"]) == ("staging", ["canary: 10% of traffic"])
    assert body["uptime_seconds"] == 61.234
    assert body["timestamp"] == "2023-11-14T22:14:20.500Z"


async def test_timestamp_is_rfc3339_and_notes_may_be_computed() -> None:
    state = {"notes": ["draining: no"]}
    app = HealthEndpoints(new_registry(), notes=lambda: state["notes"])
    first = (await get(app, "/health/live")).json()
    state["notes"] = []
    second = (await get(app, "/health/live")).json()
    assert RFC3339.match(first["timestamp"]), first["timestamp"]
    parsed = dt.datetime.fromisoformat(first["timestamp"])
    assert parsed.tzinfo is not None and parsed.utcoffset() == dt.timedelta(0)
    assert first["uptime_seconds"] >= 0
    assert first["notes"] == ["draining: no"] and "notes" not in second
    assert "environment" not in first  # not configured: not invented


# --- /live and /ready ------------------------------------------------------------------


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/ready-made")
    async def ready_made() -> dict[str, str]:  # a route that only starts like an alias
        return {"route": "app"}

    return app


async def test_init_answers_live_and_ready_at_the_root_like_the_health_endpoints() -> None:
    app = _app()
    handle = agentwatch.init(
        app,
        registry=CollectorRegistry(),
        service_name="agent-api",
        service_version="1.4.2",
        environment="production",
        environ={},
    )
    warmup = ReadinessGate("loading the embedding model")
    assert handle.health is not None
    handle.health.register("warmup", warmup, cache_ttl=0)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            live = await client.get("/live")
            shut = await client.get("/ready")
            nested = await client.get("/health/ready")
            warmup.mark_ready()
            opened = await client.get("/ready")
            route = await client.get("/ready-made")
            livez = await client.get("/livez")
    finally:
        handle.shutdown()
    assert (live.status_code, live.json()["status"]) == (200, "pass")
    assert live.headers["content-type"] == "application/health+json"
    assert (shut.status_code, nested.status_code, opened.status_code) == (503, 503, 200)
    assert shut.json()["checks"].keys() == nested.json()["checks"].keys() == {"warmup:ready"}
    assert shut.json()["output"] == "warmup: loading the embedding model"
    assert (opened.json()["environment"], opened.json()["releaseId"]) == ("production", "1.4.2")
    assert route.json() == {"route": "app"}
    assert livez.status_code == 404  # not an alias unless configured


async def test_kubernetes_style_aliases_are_configurable() -> None:
    app = _app()
    handle = agentwatch.init(
        app,
        registry=CollectorRegistry(),
        health_aliases=("/livez", "/readyz", "/healthz"),
        environ={},
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            answers = {p: await client.get(p) for p in ("/livez", "/readyz", "/healthz", "/live")}
    finally:
        handle.shutdown()
    assert [answers[p].status_code for p in ("/livez", "/readyz", "/healthz")] == [200] * 3
    assert all("uptime_seconds" in answers[p].json() for p in ("/livez", "/readyz", "/healthz"))
    assert answers["/live"].status_code == 404


def test_an_alias_that_names_no_endpoint_is_refused() -> None:
    with pytest.raises(ConfigurationError) as caught:
        agentwatch.init(FastAPI(), registry=CollectorRegistry(), health_aliases="/up", environ={})
    assert caught.value.key == "health_aliases" and "/live, /ready" in str(caught.value)


# --- readiness gates -------------------------------------------------------------------

ENV_PY = """
from alembic import context
from sqlalchemy import create_engine

config = context.config
engine = create_engine(config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(connection=connection, version_table=config.get_main_option("table"))
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
"""

REVISION = """
revision = "{rev}"
down_revision = {down}

from alembic import op


def upgrade():
    op.execute("CREATE TABLE {table}_{rev} (id int)")


def downgrade():
    op.execute("DROP TABLE {table}_{rev}")
"""


def _alembic(tmp_path: Path, table: str) -> Config:
    scripts = tmp_path / "migrations"
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text(ENV_PY)
    (scripts / "script.py.mako").write_text("")
    for rev, down in (("a1", "None"), ("b2", '"a1"')):
        body = REVISION.format(rev=rev, down=down, table=table)
        (scripts / "versions" / f"{rev}.py").write_text(textwrap.dedent(body))
    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.set_main_option("sqlalchemy.url", PG_DSN.replace("postgresql:", "postgresql+psycopg:"))
    config.set_main_option("table", table)
    return config


async def test_alembic_migrations_gate_opens_at_head_on_real_postgres(tmp_path: Path) -> None:
    require_postgres()
    table = f"aw_version_{uuid.uuid4().hex[:8]}"
    config = _alembic(tmp_path, table)
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    gate = MigrationsCheck.alembic(engine, str(tmp_path / "migrations"), version_table=table)
    try:
        before = await run_one(gate)
        command.upgrade(config, "a1")
        halfway = await run_one(gate)
        command.upgrade(config, "head")
        done = await run_one(gate)
    finally:
        with engine.begin() as connection:
            for name in (table, f"{table}_a1", f"{table}_b2"):
                connection.execute(text(f"DROP TABLE IF EXISTS {name}"))
        engine.dispose()
    assert (before.status, before.output) == ("fail", "schema at none, head is b2")
    assert (halfway.status, halfway.output) == ("fail", "schema at a1, head is b2")
    assert (done.status, done.observed_value, done.details) == (
        "pass",
        "b2",
        {"current": "b2", "head": "b2"},
    )
    assert gate.critical


async def test_warm_up_opens_the_gate_when_it_returns_and_says_why_when_it_fails() -> None:
    loaded: list[str] = []
    gate = ReadinessGate()
    assert (await run_one(gate)).status == "fail"
    await gate.run(lambda: loaded.append("model"))
    assert loaded == ["model"] and (await run_one(gate)).status == "pass"

    async def broken() -> None:
        raise RuntimeError("model file missing")

    failed = ReadinessGate()
    with pytest.raises(RuntimeError):
        await failed.run(broken)
    result = await run_one(failed)
    assert (result.status, result.output) == (
        "fail",
        "warm-up failed: RuntimeError: model file missing",
    )


# --- the LLM provider check ------------------------------------------------------------

OPENAI_MODELS = {"object": "list", "data": [{"id": "gpt-4o-mini"}, {"id": "gpt-4o"}]}
GEMINI_MODELS = {"models": [{"name": "models/gemini-2.0-flash"}]}
OLLAMA_MODELS = {"models": [{"name": "llama3:latest"}]}


@pytest.mark.parametrize(
    ("provider", "path", "body", "model", "sent"),
    [
        ("openai", "/v1/models", OPENAI_MODELS, "gpt-4o", {"authorization": "Bearer sk-test"}),
        (
            "anthropic",
            "/v1/models",
            {"data": [{"id": "claude-sonnet-4-5"}]},
            "claude-sonnet-4-5",
            {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"},
        ),
        (
            "gemini",
            "/v1beta/models",
            GEMINI_MODELS,
            "gemini-2.0-flash",
            {"x-goog-api-key": "sk-test"},
        ),
        ("ollama", "/api/tags", OLLAMA_MODELS, "llama3:latest", {}),
        ("azure", "/openai/models", OPENAI_MODELS, "gpt-4o", {"api-key": "sk-test"}),
    ],
)
async def test_llm_provider_lists_models_with_the_providers_key_header(
    provider: str, path: str, body: Any, model: str, sent: dict[str, str]
) -> None:
    with fake_api({path: Answer(200, body)}) as api:
        base = api.url + path.rsplit("/", 1)[0]
        check = LLMProviderCheck(provider, base_url=base, api_key="sk-test", model=model)
        result = await run_one(check)
    headers = api.headers()
    assert (result.status, result.observed_unit) == ("pass", "ms")
    assert {key: headers.get(key) for key in sent} == sent
    if provider == "ollama":
        assert "authorization" not in headers
    assert result.details["model_listed"] is True and result.details["models"] >= 1


@pytest.mark.parametrize(
    ("answer", "model", "status", "output"),
    [
        (Answer(401, {"error": "bad key"}), None, "fail", "credentials refused (HTTP 401)"),
        (Answer(403, {"error": "forbidden"}), None, "fail", "credentials refused (HTTP 403)"),
        (Answer(429, {"error": "slow down"}), None, "warn", "rate limited (HTTP 429)"),
        (Answer(503, {"error": "down"}), None, "fail", "HTTP 503 from {url}/v1/models"),
        (Answer(529, {"error": "overloaded"}), None, "fail", "HTTP 529 from {url}/v1/models"),
        (Answer(200, OPENAI_MODELS), "gpt-9", "warn", "model 'gpt-9' is not offered"),
        (Answer(200, OPENAI_MODELS, 0.3), None, "warn", "slow: "),
    ],
    ids=["401", "403", "429", "503", "529-overloaded", "model-missing", "slow"],
)
async def test_llm_provider_outcomes(
    answer: Answer, model: str | None, status: str, output: str
) -> None:
    with fake_api({"/v1/models": answer}) as api:
        check = LLMProviderCheck(
            base_url=api.url + "/v1",
            api_key="sk-secret-value-123",
            model=model,
            warn_latency_seconds=0.25,
        )
        result = await run_one(check)
    assert result.status == status
    assert result.output.startswith(output.format(url=api.url))
    assert "sk-secret-value-123" not in repr(result)


async def test_llm_provider_answers_are_cached_failures_briefly() -> None:
    clock = FakeClock(0.0)
    with fake_api({"/v1/models": Answer(200, OPENAI_MODELS)}) as api:
        check = LLMProviderCheck(base_url=api.url + "/v1", environ={}, clock=clock)
        first = await run_one(check)
        clock.now = 59.0
        second = await run_one(check)
        clock.now = 61.0
        api.answers["/v1/models"] = Answer(503, {})
        third = await run_one(check)
        clock.now = 70.0
        fourth = await run_one(check)
        clock.now = 71.5
        api.answers["/v1/models"] = Answer(200, OPENAI_MODELS)
        fifth = await run_one(check)
    assert [r.status for r in (first, second, third, fourth, fifth)] == [
        "pass",
        "pass",
        "fail",
        "fail",
        "pass",
    ]
    assert (second.details["cached"], second.details["age_seconds"]) == (True, 59.0)
    assert check.calls == 3 and len(api.received) == 3
    assert "authorization" not in api.headers()  # no key in the environment: none sent


async def test_llm_provider_key_comes_from_the_environment_variable() -> None:
    with fake_api({"/v1/models": Answer(200, OPENAI_MODELS)}) as api:
        environ = {"MY_GATEWAY_KEY": "gw-key"}
        check = LLMProviderCheck(
            base_url=api.url + "/v1", api_key_env="MY_GATEWAY_KEY", environ=environ
        )
        await run_one(check)
    assert api.headers()["authorization"] == "Bearer gw-key"


async def test_llm_provider_timeout_and_refused_connection_fail() -> None:
    with hung_server() as port:
        slow = LLMProviderCheck(base_url=f"http://127.0.0.1:{port}/v1", timeout_seconds=0.3)
        health = new_registry(timeout=0.1)
        health.register("llm_provider", slow)
        timed_out = (await health.run_component("llm_provider")).result
    refused = await run_one(LLMProviderCheck(base_url=f"http://127.0.0.1:{free_port()}/v1"))
    assert timed_out.status == "fail" and timed_out.output.startswith(
        "openai models list: timeout"
    )  # the check's own timeout answered, not the registry's 0.1 s
    assert refused.status == "fail" and "ConnectError" in refused.output


def test_an_unknown_provider_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="one of openai, anthropic, gemini, azure, ollama"):
        LLMProviderCheck("cohere")
    with pytest.raises(ConfigurationError, match="the azure endpoint URL"):
        LLMProviderCheck("azure")


async def test_a_gateways_own_headers_are_sent() -> None:
    with fake_api({"/v1/models": Answer(200, OPENAI_MODELS)}) as api:
        check = LLMProviderCheck(
            base_url=api.url + "/v1", api_key="k", headers={"x-gateway-tenant": "team-a"}
        )
        await run_one(check)
    assert api.headers()["x-gateway-tenant"] == "team-a"


# --- the vector store check ------------------------------------------------------------


def _collection(status: str, points: int) -> dict[str, Any]:
    return {"result": {"status": status, "points_count": points}, "status": "ok"}


QDRANT = {
    "/healthz": Answer(200, "healthz check passed"),
    "/collections/docs": Answer(200, _collection("green", 42)),
    "/collections/indexing": Answer(200, _collection("yellow", 7)),
    "/collections/broken": Answer(200, _collection("red", 7)),
    "/collections/missing": Answer(404, {"status": {"error": "Not found"}}),
}


@pytest.mark.parametrize(
    ("collection", "min_vectors", "status", "observed", "output"),
    [
        (None, None, "pass", None, ""),
        ("docs", None, "pass", 42, ""),
        ("docs", 100, "fail", 42, "42 vectors, fewer than 100"),
        ("indexing", None, "warn", 7, "collection 'indexing' is yellow"),
        ("broken", None, "fail", 7, "collection 'broken' is red"),
        ("missing", None, "fail", None, "collection 'missing' not found"),
    ],
)
async def test_qdrant_collection_state_and_size(
    collection: str | None, min_vectors: int | None, status: str, observed: int | None, output: str
) -> None:
    with fake_api(QDRANT) as api:
        check = VectorStoreCheck.qdrant(
            api.url, collection=collection, api_key="qd-key", min_vectors=min_vectors
        )
        result = await run_one(check)
    assert (result.status, result.output, result.component_type) == (status, output, "datastore")
    if observed is None:
        assert result.observed_unit == "ms"
    else:
        assert (result.observed_value, result.observed_unit, result.measurement) == (
            observed,
            "vectors",
            "vectors",
        )
    assert api.headers()["api-key"] == "qd-key"


@pytest.mark.parametrize(
    ("preset", "path"),
    [
        (VectorStoreCheck.chroma, "/api/v2/heartbeat"),
        (VectorStoreCheck.weaviate, "/v1/.well-known/ready"),
        (VectorStoreCheck.milvus, "/healthz"),
    ],
)
async def test_other_stores_answer_their_readiness_path(preset: Any, path: str) -> None:
    with fake_api({path: Answer(200, {"nanosecond heartbeat": 1})}) as api:
        up = await run_one(preset(api.url))
        api.answers[path] = Answer(503, {})
        down = await run_one(preset(api.url))
    assert up.status == "pass" and api.paths() == [path, path]
    assert (down.status, down.output) == ("fail", f"HTTP 503 from {api.url}{path}")


async def test_any_store_through_a_count_callable() -> None:
    vectors = {"n": 0}
    check = VectorStoreCheck(lambda: vectors["n"], min_vectors=1)
    empty = await run_one(check)
    vectors["n"] = 1500
    filled = await run_one(check)
    assert (empty.status, empty.output) == ("fail", "0 vectors, fewer than 1")
    assert (filled.status, filled.observed_value) == ("pass", 1500)
    down = await run_one(VectorStoreCheck(lambda: 1 / 0))
    assert down.status == "fail" and "ZeroDivisionError" in down.output
