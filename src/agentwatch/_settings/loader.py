"""The settings loader: :class:`Settings` resolved from the table, one way for every option.

Every option is resolved the same way: the explicit argument to ``init()``, then the
environment (``AGENTWATCH_*`` first, then the standard ``OTEL_*`` / ``SENTRY_*`` name), then
the default. The environment is an injectable mapping and nothing is read at import time.
A bad value raises :class:`~agentwatch.ConfigurationError` naming the key, the value and
what would be accepted.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._exceptions import ConfigurationError
from .options import OPTIONS
from .values import Option

__all__ = ["Settings", "load_settings", "settings_fields"]

_BY_NAME = {option.name: option for option in OPTIONS}


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :func:`load_settings`, not directly."""

    service_name: str
    service_version: str
    environment: str
    resource_attributes: dict[str, str]
    sdk_disabled: bool
    traces_exporter: str | None
    traces_file: str | None
    otlp_endpoint: str | None
    otlp_traces_endpoint: str | None
    otlp_protocol: str
    otlp_headers: dict[str, str]
    otlp_compression: str
    otlp_timeout_ms: int
    otlp_certificate: str | None
    logs_exporter: str
    otlp_logs_endpoint: str | None
    otlp_logs_headers: dict[str, str] | None
    otlp_logs_compression: str | None
    otlp_logs_timeout_ms: int | None
    otlp_logs_certificate: str | None
    logs_queue_size: int
    success_sample_ratio: float
    slow_threshold_seconds: float
    max_spans_per_trace: int
    max_pending_traces: int
    export_queue_size: int
    export_batch_size: int
    export_interval_seconds: float
    export_spool_dir: str | None
    export_spool_max_bytes: int
    shutdown_timeout_seconds: float
    existing_tracer_provider: str
    metrics_path: str
    metrics_bearer_token: str | None
    metrics_basic_auth: str | None
    multiprocess_dir: str | None
    exclude_paths: tuple[str, ...]
    log_format: str
    log_level: str
    redact_patterns: tuple[str, ...]
    loop_lag_interval_seconds: float
    sentry_dsn: str | None
    health_prefix: str
    health_aliases: tuple[str, ...]
    health_details_token: str | None
    health_check_timeout_seconds: float
    health_cache_seconds: float
    health_warn_score: float
    sentry_error_sample_rate: float
    sentry_warning_sample_rate: float
    sentry_info_sample_rate: float
    sentry_event_level: str
    sentry_max_events_per_second: float
    sentry_repeat_seconds: float
    capture_content: bool
    pricing_file: str | None
    packs: tuple[str, ...]
    instrument_sqlalchemy: bool
    instrument_redis: bool
    instrument_qdrant: bool
    instrument_http_clients: bool

    @property
    def effective_traces_exporter(self) -> str:
        if self.sdk_disabled:
            return "none"
        if self.traces_exporter is not None:
            return self.traces_exporter
        return "otlp" if self.otlp_endpoint or self.otlp_traces_endpoint else "none"


def _resolve(option: Option, explicit: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    if option.name in explicit and explicit[option.name] is not None:
        value = explicit[option.name]
        if isinstance(value, str):
            return _parse(option, value, f"argument {option.name}")
        return _check_explicit(option, value)
    for env_name in option.env:
        raw = environ.get(env_name)
        if raw is not None and raw.strip() != "":
            return _parse(option, raw, f"environment {env_name}", key=env_name)
    return option.default


def _parse(option: Option, raw: str, source: str, key: str | None = None) -> Any:
    try:
        return option.parse(raw)
    except ValueError as exc:
        accepted = option.accepted or str(exc) or "a valid value"
        raise ConfigurationError(key or option.name, raw, accepted, source=source) from None


def _check_explicit(option: Option, value: Any) -> Any:
    """Explicit non-string values still obey the same rules as their text form."""
    if isinstance(value, (bool, dict, tuple, list)):
        return tuple(value) if isinstance(value, list) else value
    if isinstance(value, (int, float)):
        return _parse(option, str(value), f"argument {option.name}")
    return value


def load_settings(
    explicit: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Resolve every option: explicit argument, then environment, then default.

    >>> load_settings({"service_name": "api"}, environ={}).service_name
    'api'
    """
    explicit = dict(explicit or {})
    unknown = sorted(set(explicit) - set(_BY_NAME))
    if unknown:
        raise ConfigurationError(
            unknown[0], explicit[unknown[0]], "one of " + ", ".join(sorted(_BY_NAME))
        )
    env = os.environ if environ is None else environ
    values = {option.name: _resolve(option, explicit, env) for option in OPTIONS}
    if (
        values["service_name"] == "unknown_service"
        and "service.name" in values["resource_attributes"]
    ):
        values["service_name"] = values["resource_attributes"]["service.name"]
    settings = Settings(**values)
    if settings.effective_traces_exporter == "file" and not settings.traces_file:
        raise ConfigurationError("AGENTWATCH_TRACES_FILE", None, "a path when traces_exporter=file")
    return settings


def settings_fields() -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(Settings))
