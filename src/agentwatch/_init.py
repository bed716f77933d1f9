"""``agentwatch.init()`` and the handle it returns.

>>> aw = agentwatch.init(app, service_name="agent-api")     # doctest: +SKIP
>>> aw.shutdown()                                           # doctest: +SKIP

``init()`` is idempotent: while a handle is active, calling it again returns that handle
(instrumenting a new app if one is given) and registers nothing twice. After
``shutdown()`` a new ``init()`` starts afresh.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import REGISTRY, CollectorRegistry

from ._asgi.middleware import AgentwatchMiddleware, ASGIApp, RequestScope, route_template
from ._asgi.serverspan import ServerSpanFactory
from ._catalog.packfile import catalog_specs, load_packs
from ._exceptions import ConfigurationError
from ._logs.formatter import LogSetup
from ._logs.otlp import LogExport
from ._metrics import registry as _metrics
from ._metrics.exposition import MetricsEndpoint
from ._metrics.registry import Metrics
from ._metrics.runtime import LoopLagProbe, register_runtime_collectors
from ._metrics.window import RequestWindow
from ._redact import Redactor
from ._settings import Settings, load_settings
from ._state import Telemetry, activate, deactivate, report_internal_error
from ._tracing.provider import Tracing, build_resource, setup_tracing
from .propagation._propagators import scan_asgi_headers

__all__ = ["Agentwatch", "init"]

_log = logging.getLogger("agentwatch")
# Subsystems wired by init(): each module has attach(handle); a missing optional one is skipped.
ATTACHERS: tuple[str, ...] = (
    "agentwatch.propagation._wiring",
    "agentwatch.health._wiring",
    "agentwatch._sentry.reporter",
    "agentwatch._integrations.wiring",
)
_lock = threading.RLock()  # init() holds it while a failing handle shuts itself down
_active: Agentwatch | None = None


class Agentwatch:
    """What ``init()`` returns: the wired telemetry and its lifecycle."""

    def __init__(
        self,
        settings: Settings,
        *,
        registry: CollectorRegistry | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        exporter: SpanExporter | None = None,
        health: Any = None,
    ) -> None:
        self.settings = settings
        self.closed = False
        self._shutdown_callbacks: list[Callable[[], None]] = []
        self._flush_callbacks: list[Callable[[float], bool]] = []
        if settings.multiprocess_dir:
            _metrics.enable_multiprocess(settings.multiprocess_dir)
        self.registry = registry if registry is not None else REGISTRY
        packs = load_packs([*settings.packs, *(["rag"] if settings.instrument_qdrant else [])])
        self.metrics = Metrics(self.registry, catalog_specs(packs))
        self._collectors = register_runtime_collectors(self.registry)
        try:
            self._wire(tracer_provider, exporter, health)
        except BaseException:  # a bad setting found late: leave nothing half-registered
            self.shutdown(0.0)
            raise
        atexit.register(self._at_exit)  # kept spans still go out when nobody calls shutdown()

    def _wire(
        self,
        tracer_provider: trace.TracerProvider | None,
        exporter: SpanExporter | None,
        health: Any,
    ) -> None:
        settings = self.settings
        self.metrics["agentwatch_build_info"].labels(
            settings.service_name, settings.service_version, settings.environment
        ).set(1)
        self.tracing: Tracing = setup_tracing(
            settings, self.metrics, tracer_provider=tracer_provider, exporter=exporter
        )
        self.server_spans = ServerSpanFactory(self.tracing)
        self.redactor = Redactor(settings.redact_patterns)
        self.telemetry = Telemetry(settings, self.metrics, self.tracing.tracer, self.redactor)
        self.request_window = RequestWindow()
        self.loop_lag = LoopLagProbe(self.metrics, settings.loop_lag_interval_seconds)
        self.health = health
        self.endpoints: dict[str, ASGIApp] = {
            settings.metrics_path: MetricsEndpoint(
                self._scrape_registry,
                bearer_token=settings.metrics_bearer_token,
                basic_auth=settings.metrics_basic_auth,
            )
        }
        self.on_exception: Callable[[BaseException], None] | None = None
        # entered around each request (Sentry's per-request isolation scope, when attached)
        self.request_isolation: RequestScope | None = None
        self.route_of = route_template
        self.logs = LogSetup(
            settings.service_name, self.redactor, settings.log_level, settings.log_format
        )
        self.logs.apply()
        resource = getattr(self.tracing.provider, "resource", None) or build_resource(settings)
        queue = self.tracing.queue
        spool = queue.redelivery.spool if queue and queue.redelivery else None
        self.log_export = LogExport(settings, self.metrics, self.redactor, resource, spool)
        self.log_export.apply()
        activate(self.telemetry)
        self._attach_subsystems()

    @property
    def tracer_provider(self) -> trace.TracerProvider:
        return self.tracing.provider

    @property
    def tracer(self) -> trace.Tracer:
        return self.tracing.tracer

    def _scrape_registry(self) -> CollectorRegistry:
        if self.settings.multiprocess_dir:
            return _metrics.multiprocess_registry(self.settings.multiprocess_dir)
        return self.registry

    def _attach_subsystems(self) -> None:
        for module_name in ATTACHERS:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name and module_name.startswith(exc.name):  # the part is not built yet
                    continue
                raise
            module.attach(self)

    def add_shutdown_callback(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (most recent first) when the handle shuts down."""
        self._shutdown_callbacks.append(callback)

    def wrap(self, app: ASGIApp) -> AgentwatchMiddleware:
        """The instrumenting middleware around any ASGI app (for non-Starlette apps)."""
        return AgentwatchMiddleware(
            app,
            metrics=self.metrics,
            start_span=self.server_spans.start,
            endpoints=self.endpoints,
            exclude_paths=self.settings.exclude_paths,
            window=self.request_window,
            extract=scan_asgi_headers,
            on_exception=self._report_exception,
            on_lifespan=self._lifespan,
            isolation=self.request_isolation,
        )

    def instrument(self, app: Any) -> None:
        """Instrument a Starlette or FastAPI app (outermost); a second call does nothing."""
        if getattr(app, "_agentwatch_handle", None) is self:
            return
        build = getattr(app, "build_middleware_stack", None)
        if build is None:
            raise ConfigurationError(
                "app",
                type(app).__name__,
                "a Starlette or FastAPI app (wrap others: app = handle.wrap(app))",
            )
        original = getattr(app, "_agentwatch_original_build", build)

        def build_middleware_stack() -> ASGIApp:
            return self.wrap(original())

        native = getattr(app, "_telemetry", None)
        if isinstance(native, dict) and "tracing" in native:
            native["tracing"] = False  # FastAPI's own server span would duplicate ours
        app._agentwatch_original_build = original
        app.build_middleware_stack = build_middleware_stack
        app.middleware_stack = None
        app._agentwatch_handle = self

    def _report_exception(self, exc: BaseException) -> None:
        hook = self.on_exception
        if hook is not None:
            try:
                hook(exc)
            except Exception as error:
                report_internal_error("on_exception", error)

    async def _lifespan(self, message_type: str) -> None:
        try:
            if message_type == "lifespan.startup":
                self.logs.apply()  # the server may have configured its loggers after init()
                self.log_export.apply()
                self.loop_lag.start()
            elif message_type == "lifespan.shutdown":
                await self.loop_lag.stop()
                # every request has ended: send what was kept, spool what does not fit
                await asyncio.to_thread(self._drain, self.settings.shutdown_timeout_seconds)
                if self.settings.multiprocess_dir:
                    _metrics.mark_process_dead(self.settings.multiprocess_dir)
        except Exception as exc:
            report_internal_error("lifespan", exc)

    def add_flush_callback(self, callback: Callable[[float], bool]) -> None:
        """Run ``callback(timeout_seconds)`` on :meth:`force_flush` (e.g. queued errors)."""
        self._flush_callbacks.append(callback)

    def force_flush(self, timeout_seconds: float = 10.0) -> bool:
        """Hand every kept span, log record and queued error to its exporter; True when done
        in time."""
        deadline = time.monotonic() + timeout_seconds
        done = self.tracing.force_flush(timeout_seconds)
        done = self.log_export.flush(max(0.0, deadline - time.monotonic())) and done
        for callback in self._flush_callbacks:
            try:
                done = callback(max(0.0, deadline - time.monotonic())) and done
            except Exception as exc:
                report_internal_error("flush", exc)
                done = False
        return done

    def shutdown(self, timeout_seconds: float | None = None) -> None:
        """Flush and stop: export queue, subsystems, logging, metrics registration.

        Kept spans get ``timeout_seconds`` (default ``AGENTWATCH_SHUTDOWN_TIMEOUT``, 5 s) to
        reach the receiver; what is left goes to the spool, sent by the next process.
        """
        global _active
        if self.closed:
            return
        self.closed = True
        atexit.unregister(self._at_exit)
        if timeout_seconds is None:
            timeout_seconds = self.settings.shutdown_timeout_seconds
        for callback in reversed(self._shutdown_callbacks):
            try:
                callback()
            except Exception as exc:
                report_internal_error("shutdown", exc)
        self._stop_parts(timeout_seconds)
        with _lock:
            if _active is self:
                _active = None

    def _drain(self, timeout_seconds: float) -> None:
        """Kept spans, then log records, sent within ``timeout_seconds``; the rest spooled."""
        deadline = time.monotonic() + timeout_seconds
        self.tracing.drain(timeout_seconds)
        self.log_export.drain(max(0.0, deadline - time.monotonic()))

    def _at_exit(self) -> None:
        try:
            self.shutdown()
        except Exception as exc:  # never raise at interpreter exit
            report_internal_error("shutdown", exc)

    def _stop_parts(self, timeout_seconds: float) -> None:
        """Stop what was wired (all of it, or what a failing init() got to)."""
        deadline = time.monotonic() + timeout_seconds
        if hasattr(self, "tracing"):
            self.tracing.shutdown(timeout_seconds)
        if hasattr(self, "log_export"):
            self.log_export.shutdown(max(0.0, deadline - time.monotonic()))
        if hasattr(self, "logs"):
            self.logs.undo()
        self.metrics.unregister()
        for collector in self._collectors:
            self.registry.unregister(collector)  # type: ignore[arg-type]
        if hasattr(self, "telemetry"):
            deactivate(self.telemetry)


def init(
    app: Any = None,
    *,
    registry: CollectorRegistry | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    exporter: SpanExporter | None = None,
    health: Any = None,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> Agentwatch:
    """Wire metrics, traces, propagation, logs and health into ``app``; return the handle.

    Options are the rows of the settings table (``docs/configuration.md``); each falls back
    to its environment variable, then its default. ``registry``, ``tracer_provider`` and
    ``exporter`` inject your own objects (tests use a fresh ``CollectorRegistry`` and
    :class:`agentwatch.testing.InMemorySpanExporter`).

    >>> aw = agentwatch.init(app, service_name="agent-api", success_sample_ratio=0.2)  # doctest: +SKIP
    """
    global _active
    with _lock:
        if _active is not None:
            if options or registry is not None or exporter is not None:
                _log.info("agentwatch.init() called again: keeping the active configuration")
            if app is not None:
                _active.instrument(app)
            return _active
        settings = load_settings(options, os.environ if environ is None else environ)
        handle = Agentwatch(
            settings,
            registry=registry,
            tracer_provider=tracer_provider,
            exporter=exporter,
            health=health,
        )
        _active = handle
    if app is not None:
        handle.instrument(app)
    return handle


def active_handle() -> Agentwatch | None:
    return _active
