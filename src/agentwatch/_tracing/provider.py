"""TracerProvider set-up: resource, head sampler, error-priority processor, export queue.

If the application already set a global SDK ``TracerProvider``, agentwatch does not
replace it. With ``existing_tracer_provider="reuse"`` (the default) it adds its processor to
that provider — the provider's own sampler still decides which spans are recorded, so use
an always-on or parent-based always-on sampler there to keep every error. With
``"refuse"`` it raises :class:`~agentwatch.ConfigurationError`. A global provider that is
not the SDK's cannot take processors and is always refused.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.version import __version__ as otel_sdk_version

from .._compat import remove_span_processor
from .._exceptions import ConfigurationError
from .._export.exporters import build_exporter, build_spool
from .._export.queue import ExportQueue, can_spool
from .._metrics.registry import Metrics
from .._settings import Settings
from .sampling import ErrorPriorityProcessor, HeadSampler

__all__ = ["Tracing", "build_resource", "setup_tracing"]


@dataclass
class Tracing:
    """What tracing set-up produced; ``shutdown()`` stops only agentwatch's own parts."""

    provider: trace.TracerProvider
    tracer: trace.Tracer
    processor: ErrorPriorityProcessor | None
    queue: ExportQueue | None
    owns_provider: bool

    def force_flush(self, timeout_seconds: float = 10.0) -> bool:
        return self.queue.flush(timeout_seconds) if self.queue else True

    def drain(self, timeout_seconds: float = 5.0) -> bool:
        """Flush until the deadline, then spool what is left (the queue keeps running)."""
        return self.queue.drain(timeout_seconds) if self.queue else True

    def shutdown(self, timeout_seconds: float = 10.0) -> None:
        if self.processor is not None:
            self.processor.shutdown()
            # a provider outliving the handle (the global one, or the application's) is left
            # as it was found, and a later init() finds its own processor alone on it; where
            # that cannot be done the processor stays, switched off
            remove_span_processor(self.provider, self.processor)
        if self.queue is not None:
            self.queue.shutdown(timeout_seconds)


def build_resource(settings: Settings) -> Resource:
    attributes: dict[str, str] = {
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": otel_sdk_version,
        "host.name": socket.gethostname(),
    }
    attributes.update(settings.resource_attributes)
    attributes.update(
        {
            "service.name": settings.service_name,
            "service.version": settings.service_version,
            "deployment.environment": settings.environment,
            "deployment.environment.name": settings.environment,
        }
    )
    return Resource(attributes)


def _provider_for(
    settings: Settings, given: trace.TracerProvider | None
) -> tuple[TracerProvider, bool]:
    if given is not None:
        if not isinstance(given, TracerProvider):
            raise ConfigurationError(
                "tracer_provider", type(given).__name__, "an opentelemetry.sdk TracerProvider"
            )
        return given, False
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        if settings.existing_tracer_provider == "refuse" and not getattr(
            current, "_agentwatch_owned", False
        ):
            raise ConfigurationError(
                "existing_tracer_provider",
                "refuse",
                "no global TracerProvider set before init(), or existing_tracer_provider='reuse' "
                "to add agentwatch's processor to the one the application set",
            )
        return current, False
    if not isinstance(current, trace.ProxyTracerProvider):
        raise ConfigurationError(
            "global TracerProvider",
            type(current).__name__,
            "an opentelemetry.sdk TracerProvider (agentwatch can only add processors to the SDK's)",
        )
    provider = TracerProvider(
        resource=build_resource(settings), sampler=HeadSampler(settings.success_sample_ratio)
    )
    provider._agentwatch_owned = True  # type: ignore[attr-defined]
    trace.set_tracer_provider(provider)
    return provider, True


def setup_tracing(
    settings: Settings,
    metrics: Metrics,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    exporter: SpanExporter | None = None,
) -> Tracing:
    """Wire the error-priority pipeline into a provider (given, global, or new)."""
    if settings.sdk_disabled:
        return Tracing(trace.NoOpTracerProvider(), trace.NoOpTracer(), None, None, False)
    provider, owns = _provider_for(settings, tracer_provider)
    tracer = provider.get_tracer("agentwatch")
    exporter = exporter if exporter is not None else build_exporter(settings)
    if exporter is None:
        return Tracing(provider, tracer, None, None, owns)
    queue = ExportQueue(
        exporter,
        metrics,
        max_size=settings.export_queue_size,
        batch_size=settings.export_batch_size,
        interval_seconds=settings.export_interval_seconds,
        spool=build_spool(settings, metrics) if can_spool(exporter) else None,
    )
    processor = ErrorPriorityProcessor(
        queue.put_many,
        metrics,
        error_sink=queue.put_error_trace,
        ratio=settings.success_sample_ratio,
        slow_threshold_seconds=settings.slow_threshold_seconds,
        max_spans_per_trace=settings.max_spans_per_trace,
        max_pending_traces=settings.max_pending_traces,
    )
    provider.add_span_processor(processor)
    return Tracing(provider, tracer, processor, queue, owns)
