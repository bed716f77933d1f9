"""The demo agent orchestration service (FastAPI), instrumented with ``agentwatch.init``.

Endpoints:

- ``POST /api/workflows/{name}/trigger`` ``{"input": ..., "wait": false}`` — 202 and a
  run id (the run goes through the background job queue), or with ``wait`` the finished
  run (one trace: request → workflow → agents → LLM calls and tools → queries);
- ``GET /api/workflows`` and ``GET /api/workflows/runs/{run_id}``;
- ``POST /api/chat`` ``{"message": ..., "stream": false, "max_words": null}`` — an
  assistant reply through the auto-instrumented ``openai`` client (a stream read only up
  to ``max_words`` is abandoned half way, as a UI that stops early would);
- ``GET /api/approvals`` and ``POST /api/approvals/{approval_id}/decision``
  ``{"approve": true}``;
- ``POST /webhooks/alerts`` — alerts (from the hub's webhook channel) run the
  ``alert_notifier`` workflow (see :mod:`agentwatch.demo.notifier`).

State lives in SQLAlchemy (SQLite file, or PostgreSQL from ``DATABASE_URL``), the cache
in Redis when ``REDIS_URL`` is set, and ``/metrics`` and ``/health/*`` come from init().
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import openai
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import agentwatch
from agentwatch.health import HTTPCheck, QueueDepthCheck, SQLAlchemyCheck

from .cache import open_cache
from .jobs import JobQueue
from .llm import LLMClient
from .notifier import add_notifier_route, signed_by
from .store import Store
from .workflows import WORKFLOWS, WorkflowEngine

__all__ = ["DemoConfig", "create_app"]


@dataclass
class DemoConfig:
    """How the demo service is wired; :meth:`from_env` reads DATABASE_URL, REDIS_URL and
    DEMO_NOTIFIER_SECRET_FILE (the secret the hub signs its notifier webhooks with)."""

    llm_url: str
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: str = field(
        default_factory=lambda: os.path.join(tempfile.gettempdir(), "agentwatch-demo")
    )
    workers: int = 64
    tool_failure_rate: float = 0.03
    seed: int | None = None
    notifier_secret_file: str | None = None
    init_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, llm_url: str, environ: Mapping[str, str], **options: Any) -> DemoConfig:
        return cls(
            llm_url,
            database_url=environ.get("DATABASE_URL") or None,
            redis_url=environ.get("REDIS_URL") or None,
            notifier_secret_file=environ.get("DEMO_NOTIFIER_SECRET_FILE") or None,
            **options,
        )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        os.makedirs(self.data_dir, exist_ok=True)
        return "sqlite:///" + os.path.join(self.data_dir, "demo.db")


class TriggerBody(BaseModel):
    input: str = ""
    wait: bool = False
    trigger: Literal["api", "schedule", "webhook", "manual"] = "api"


class ChatBody(BaseModel):
    message: str
    stream: bool = False
    max_words: int | None = None


class DecisionBody(BaseModel):
    approve: bool


def define_budgets() -> None:
    """The demo's budgets: a monthly total, a hard one for chat, one already well used."""
    agentwatch.budget("demo-monthly", 25.0, period="month")
    agentwatch.budget("assistant-daily", 2.0, period="day", hard=True, agent_type="assistant")
    agentwatch.budget("research-weekly", 1.0, period="week", agent_type="researcher", spent_usd=0.3)


class Service:
    """The parts of the running service, built by :func:`create_app`."""

    def __init__(self, config: DemoConfig) -> None:
        self.store = Store(config.effective_database_url)
        self.cache = open_cache(config.redis_url)
        self.llm = LLMClient(config.llm_url)
        self.engine = WorkflowEngine(
            self.store,
            self.cache,
            self.llm,
            tool_failure_rate=config.tool_failure_rate,
            seed=config.seed,
        )
        self.jobs = JobQueue("workflows", self._run_job, workers=config.workers)

    async def _run_job(self, payload: dict[str, Any]) -> None:
        await self.engine.run(
            payload["run_id"], payload["workflow"], payload["input"], payload["trigger"]
        )

    async def submit_webhook_run(self, workflow: str, text: str) -> str:
        """Queue a run of ``workflow`` triggered by a webhook; returns its run id."""
        run_id = await self.store.create_run(workflow, "webhook", text)
        self.jobs.submit(
            {"run_id": run_id, "workflow": workflow, "input": text, "trigger": "webhook"}
        )
        return run_id

    async def start(self) -> None:
        with agentwatch.get_tracer().start_as_current_span("demo startup"):
            await self.store.create_schema()
        self.jobs.start()

    async def stop(self) -> None:
        await self.jobs.stop()
        await self.llm.close()
        await self.cache.close()
        await self.store.close()

    async def chat(self, body: ChatBody) -> dict[str, Any]:
        messages: Any = [{"role": "user", "content": body.message}]
        async with agentwatch.agent_run("assistant", "chat"):
            if not body.stream:
                response = await self.llm.openai.chat.completions.create(
                    model="gpt-4o-mini", messages=messages, max_tokens=200
                )
                return {"reply": response.choices[0].message.content, "streamed": False}
            stream = await self.llm.openai.chat.completions.create(
                model="gpt-4o-mini",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
            words: list[str] = []
            async for chunk in stream:
                text = chunk.choices[0].delta.content if chunk.choices else None
                words.extend((text or "").split())
                if body.max_words is not None and len(words) >= body.max_words:
                    break  # the reader stops early: the stream is abandoned half way
            await stream.close()
            return {"reply": " ".join(words), "streamed": True}


def _routes(app: FastAPI, service: Service) -> None:
    @app.get("/api/workflows")
    async def workflows() -> dict[str, Any]:
        return {"workflows": sorted(WORKFLOWS)}

    @app.post("/api/workflows/{name}/trigger", status_code=202)
    async def trigger(name: str, body: TriggerBody) -> Any:
        if name not in WORKFLOWS:
            raise HTTPException(404, f"unknown workflow {name!r}")
        run_id = await service.store.create_run(name, body.trigger, body.input)
        if body.wait:
            await service.engine.run(run_id, name, body.input, body.trigger)
            return JSONResponse(await service.store.get_run(run_id), status_code=200)
        service.jobs.submit(
            {"run_id": run_id, "workflow": name, "input": body.input, "trigger": body.trigger}
        )
        return {"run_id": run_id, "status": "queued"}

    @app.get("/api/workflows/runs/{run_id}")
    async def get_run(run_id: str) -> dict[str, Any]:
        run = await service.store.get_run(run_id)
        if run is None:
            raise HTTPException(404, "no such run")
        return run

    @app.post("/api/chat")
    async def chat(body: ChatBody) -> dict[str, Any]:
        try:
            return await service.chat(body)
        except agentwatch.BudgetExceededError as exc:
            raise HTTPException(429, str(exc)) from exc
        except openai.OpenAIError as exc:
            raise HTTPException(502, f"LLM provider error: {type(exc).__name__}") from exc

    @app.get("/api/approvals")
    async def approvals(
        status: Literal["pending", "approved", "rejected"] = "pending",
    ) -> dict[str, Any]:
        return {"approvals": await service.store.approvals(status)}

    @app.post("/api/approvals/{approval_id}/decision")
    async def decide(approval_id: str, body: DecisionBody) -> dict[str, str]:
        status = await service.engine.decide(approval_id, body.approve)
        if status is None:
            raise HTTPException(404, "no pending approval with this id")
        return {"approval_id": approval_id, "status": status}


def create_app(config: DemoConfig) -> FastAPI:
    """The demo service, instrumented: ``agentwatch.init(app, service_name="agent-demo")``."""
    service: Service | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert service is not None
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title="agentwatch demo agent service", lifespan=lifespan)
    options: dict[str, Any] = {"service_name": "agent-demo", "instrument_sqlalchemy": True}
    options["instrument_redis"] = bool(config.redis_url)
    handle = agentwatch.init(app, **{**options, **config.init_options})
    agentwatch.instrument_openai()
    define_budgets()
    service = Service(config)
    health = handle.health
    if health is not None:
        health.register("database", SQLAlchemyCheck(service.store.engine), critical=True, weight=3)
        health.register("llm", HTTPCheck(f"{config.llm_url}/v1/models"), weight=2)
        health.register("queue", QueueDepthCheck(service.jobs.depth, warn_at=200, fail_at=1000))
    app.state.agentwatch = handle
    app.state.service = service
    _routes(app, service)
    add_notifier_route(app, service.submit_webhook_run, signed_by(config.notifier_secret_file))
    return app
