"""The hub as one ASGI app: the parts' routes, their lifecycle, reload, and the core routes.

>>> hub = Hub(load_config("hub.yaml"))         # doctest: +SKIP
>>> app = hub.asgi()                           # serve with uvicorn; lifespan starts the parts

Core routes: ``/health/live`` (the process answers), ``/health/ready`` (the database
answers and is migrated), ``/metrics`` (the hub's own Prometheus registry),
``/openapi.json``, ``POST /api/v1/reload`` and ``/login``. Start migrates the database,
then starts each part in order; stop goes in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    ProcessCollector,
    generate_latest,
)
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .configfile import HubConfig, load_config
from .events import Events
from .parts import HubContext, Part, PartSpec, load_parts
from .store import Database, state_dir
from .web import ApiError, Auth, Templates
from .web.errors import api_error_response, database_error_response, http_error_response
from .web.openapi import openapi_document

__all__ = ["Hub"]

_log = logging.getLogger("agentwatch.hub")


class Hub:
    """The hub process: its context, its parts and their lifecycle."""

    def __init__(
        self,
        config: HubConfig,
        *,
        database: Database | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
        specs: list[PartSpec] | None = None,
    ) -> None:
        import os

        self.config = config
        self.environ = dict(os.environ if environ is None else environ)
        self.specs = load_parts() if specs is None else specs
        self.started_at = clock()
        self.ready = False
        nav = [link for spec in self.specs for link in spec.nav]
        self.context = HubContext(
            db=database or Database.open(config.server.database, environ=self.environ),
            events=Events(),
            registry=CollectorRegistry(),
            http=http or httpx.AsyncClient(timeout=10.0, follow_redirects=False),
            auth=Auth(config.api_token, clock=clock),
            templates=Templates([spec.name for spec in self.specs], nav=nav, clock=clock),
            public_url=config.server.base_url,
            state_dir=state_dir(self.environ),
            config_file=config.file,
            api_token=config.api_token,
            clock=clock,
            environ=self.environ,
        )
        ProcessCollector(registry=self.context.registry)
        Gauge(
            "agentwatch_hub_start_time_seconds",
            "When this hub process started (unix seconds).",
            registry=self.context.registry,
        ).set(self.started_at)
        self.parts: dict[str, Part] = {
            spec.name: spec.build(self.context, config.parts.get(spec.name)) for spec in self.specs
        }
        self._reload_lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        applied = await self.context.db.migrate()
        _log.info("hub database %s at revisions %s", self.context.db.url, ", ".join(applied) or "-")
        for name, part in self.parts.items():
            await part.start()
            _log.debug("hub part %s started", name)
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        for name, part in reversed(list(self.parts.items())):
            try:
                await part.stop()
            except Exception:  # one part failing to stop must not keep the others running
                _log.exception("hub part %s failed to stop", name)
        await self.context.http.aclose()
        await self.context.db.close()

    async def reload(self, config: HubConfig | None = None) -> dict[str, Any]:
        """Re-read the config file (or apply ``config``); history is kept (a monitor is its name)."""
        async with self._reload_lock:
            if config is None:
                config = load_config(self.config.file, environ=self.environ)
            self._check_token(config)
            for spec in self.specs:
                await self.parts[spec.name].reload(config.parts.get(spec.name))
            self.config = config
            self.context.auth.replace(config.api_token)
            self.context.api_token = config.api_token
            _log.info("hub configuration reloaded from %s", config.file or "(none)")
            return {"reloaded": True, "file": str(config.file) if config.file else None}

    def _check_token(self, config: HubConfig) -> None:
        """A reload may rotate the API token, not remove it: the hub may be listening on a
        non-loopback address (the bind is checked at start only)."""
        from .config import HubConfigError, Problem

        if config.api_token is None and self.context.api_token is not None:
            where = str(config.file or "")
            raise HubConfigError(
                [Problem(where, "api.token_file", "removing the API token needs a restart")]
            )

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    # -- the ASGI app ----------------------------------------------------------------------

    def asgi(self) -> Starlette:
        routes: list[BaseRoute] = [
            Route("/health/live", self._live),
            Route("/health/ready", self._ready),
            Route("/metrics", self._metrics),
            Route("/openapi.json", self._openapi, include_in_schema=False),
            Route("/api/v1/reload", self._reload, methods=["POST"]),
            Route("/login", self._login, methods=["GET", "POST"], include_in_schema=False),
        ]
        for part in self.parts.values():
            routes.extend(part.routes())
        app = Starlette(
            routes=routes,
            lifespan=self.lifespan,
            exception_handlers={
                ApiError: api_error_response,
                HTTPException: http_error_response,
                OperationalError: database_error_response,
            },
        )
        self._routes = routes
        return app

    async def _live(self, _request: Request) -> Response:
        """The hub process answers.
        ---
        responses: {200: {description: the process is alive}}
        """
        return JSONResponse({"status": "pass"}, media_type="application/health+json")

    async def _ready(self, _request: Request) -> Response:
        """The database answers and every part has started.
        ---
        responses: {200: {description: ready}, 503: {description: not ready}}
        """
        ok, output = self.ready, "" if self.ready else "starting"
        if ok:
            try:
                async with self.context.db.read() as conn:
                    await asyncio.wait_for(conn.execute(text("SELECT 1")), 5.0)
            except Exception as exc:  # reported, not raised: this is a health check
                ok, output = False, f"database: {type(exc).__name__}: {exc}"
        body = {"status": "pass" if ok else "fail", **({"output": output} if output else {})}
        return JSONResponse(
            body, status_code=200 if ok else 503, media_type="application/health+json"
        )

    async def _metrics(self, _request: Request) -> Response:
        """The hub's own metrics in the Prometheus text format.
        ---
        responses: {200: {description: "agentwatch_monitor_*, agentwatch_notifications_total, agentwatch_hub_*, process_*", content: {text/plain: {}}}}
        """
        # 1,000 monitors are ~19,000 lines, a third of a second to write: in a thread, so a
        # scrape slows the checks and pages a little rather than stopping them meanwhile
        body = await asyncio.to_thread(generate_latest, self.context.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def _openapi(self, request: Request) -> Response:
        return JSONResponse(
            openapi_document(self._routes, title="agentwatch hub", version=_version())
        )

    async def _reload(self, request: Request) -> Response:
        """Re-read hub.yaml; monitors keep their history (a monitor is its name).
        ---
        responses: {200: {description: reloaded}, 400: {description: the file is invalid}, 401: {description: token required}}
        """
        self.context.auth.require(request)
        from .config import HubConfigError

        try:
            return JSONResponse(await self.reload())
        except HubConfigError as exc:
            raise ApiError(
                400, str(exc), field=(exc.problems[0].path or None) if exc.problems else None
            ) from None

    async def _login(self, request: Request) -> Response:
        templates = self.context.templates
        if request.method == "GET":
            nxt = request.query_params.get("next", "/")
            return templates.render(request, "web/login.html", {"next": nxt, "failed": False})
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0]
        nxt = (form.get("next") or ["/"])[0]
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"
        if not self.context.auth.enabled or not self.context.auth.check(token):
            return templates.render(
                request, "web/login.html", {"next": nxt, "failed": True}, status_code=401
            )
        response = RedirectResponse(nxt, status_code=303)
        self.context.auth.start_session(request, response)
        return response


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agentwatch")
    except PackageNotFoundError:
        return "unknown"


def default_config_path() -> Path | None:
    """``./hub.yaml`` when it exists."""
    path = Path("hub.yaml")
    return path if path.is_file() else None
