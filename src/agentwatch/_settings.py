"""One declarative table of settings and one loader.

Every option is resolved the same way: the explicit argument to ``init()``, then the
environment (``AGENTWATCH_*`` first, then the standard ``OTEL_*`` / ``SENTRY_*`` name), then
the default. The environment is an injectable mapping and nothing is read at import time.

A bad value raises :class:`~agentwatch.ConfigurationError` naming the key, the value and
what would be accepted. The table below is the documentation of every environment
variable; ``docs/configuration.md`` is generated from it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._exceptions import ConfigurationError

__all__ = ["OPTIONS", "Option", "Settings", "load_settings"]

Parser = Callable[[str], Any]


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("true or false")


def _parse_ratio(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError("a number between 0 and 1")
    return value


def _parse_non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("a number >= 0")
    return value


def _parse_percent(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 100.0:
        raise ValueError("a number between 0 and 100")
    return value


def _parse_positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("a positive number")
    return value


def _parse_positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("a positive integer")
    return value


def _parse_pairs(text: str) -> dict[str, str]:
    """``key=value,key2=value2`` as in OTEL_RESOURCE_ATTRIBUTES (values percent-decoded)."""
    from urllib.parse import unquote

    pairs: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError("comma-separated key=value pairs")
        pairs[unquote(key.strip())] = unquote(value.strip())
    return pairs


def _parse_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _choice(*choices: str) -> Parser:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError("one of " + ", ".join(choices))
        return value

    parse.__doc__ = "one of " + ", ".join(choices)
    return parse


def _text(text: str) -> str:
    return text.strip()


def _optional_text(text: str) -> str | None:
    return text.strip() or None


@dataclass(frozen=True)
class Option:
    """One row of the settings table."""

    name: str
    parse: Parser
    default: Any
    env: tuple[str, ...]
    doc: str
    accepted: str = ""


def _opt(
    name: str, parse: Parser, default: Any, env: tuple[str, ...], doc: str, accepted: str = ""
) -> Option:
    return Option(name, parse, default, env, doc, accepted)


OPTIONS: tuple[Option, ...] = (
    _opt(
        "service_name",
        _text,
        "unknown_service",
        ("AGENTWATCH_SERVICE_NAME", "OTEL_SERVICE_NAME"),
        "Logical service name: resource service.name, log field service, build info label.",
        "a name",
    ),
    _opt(
        "service_version",
        _text,
        "0.0.0",
        ("AGENTWATCH_SERVICE_VERSION",),
        "Service version: resource service.version and health releaseId.",
        "a version string",
    ),
    _opt(
        "environment",
        _text,
        "development",
        ("AGENTWATCH_ENVIRONMENT",),
        "Deployment environment: resource deployment.environment.",
        "a name",
    ),
    _opt(
        "resource_attributes",
        _parse_pairs,
        {},
        ("OTEL_RESOURCE_ATTRIBUTES",),
        "Extra resource attributes.",
        "comma-separated key=value pairs",
    ),
    _opt(
        "sdk_disabled",
        _parse_bool,
        False,
        ("AGENTWATCH_DISABLED", "OTEL_SDK_DISABLED"),
        "Turn tracing off entirely (metrics and logs keep working).",
        "true or false",
    ),
    _opt(
        "traces_exporter",
        _choice("otlp", "console", "file", "memory", "none"),
        None,
        ("AGENTWATCH_TRACES_EXPORTER",),
        "Where kept traces go. Default: otlp when an OTLP endpoint is set, else none.",
        "one of otlp, console, file, memory, none",
    ),
    _opt(
        "traces_file",
        _optional_text,
        None,
        ("AGENTWATCH_TRACES_FILE",),
        "Path of the JSON-lines file for traces_exporter=file.",
        "a path",
    ),
    _opt(
        "otlp_endpoint",
        _optional_text,
        None,
        ("AGENTWATCH_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        "OTLP base endpoint (http://host:4318 for HTTP, /v1/traces is added; http://host:4317 "
        "for gRPC).",
        "a URL",
    ),
    _opt(
        "otlp_traces_endpoint",
        _optional_text,
        None,
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",),
        "OTLP traces endpoint used as given (http://host:4318/v1/traces); wins over otlp_endpoint.",
        "a URL",
    ),
    _opt(
        "otlp_protocol",
        _choice("http/protobuf", "grpc"),
        "http/protobuf",
        (
            "AGENTWATCH_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        "OTLP transport.",
        "http/protobuf or grpc",
    ),
    _opt(
        "otlp_headers",
        _parse_pairs,
        {},
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"),
        "Headers sent with every OTLP export.",
        "comma-separated key=value pairs",
    ),
    _opt(
        "otlp_compression",
        _choice("gzip", "none"),
        "none",
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"),
        "Compression of OTLP export bodies (gzip costs export-thread CPU, saves bandwidth).",
        "gzip or none",
    ),
    _opt(
        "otlp_timeout_ms",
        _parse_positive_int,
        10_000,
        ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"),
        "Longest time one OTLP export may take, retries included, in milliseconds.",
        "a positive integer (milliseconds)",
    ),
    _opt(
        "otlp_certificate",
        _optional_text,
        None,
        ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE"),
        "CA certificate file (PEM) that https and TLS gRPC OTLP endpoints are verified against; "
        "default: the system's.",
        "a path",
    ),
    _opt(
        "success_sample_ratio",
        _parse_ratio,
        0.10,
        ("AGENTWATCH_SUCCESS_SAMPLE_RATIO", "OTEL_TRACES_SAMPLER_ARG"),
        "Share of successful, fast traces kept (error and slow traces are always kept).",
        "a number between 0 and 1",
    ),
    _opt(
        "slow_threshold_seconds",
        _parse_positive_float,
        2.0,
        ("AGENTWATCH_SLOW_THRESHOLD_SECONDS",),
        "A local root lasting longer than this keeps its trace.",
        "a positive number of seconds",
    ),
    _opt(
        "max_spans_per_trace",
        _parse_positive_int,
        512,
        ("AGENTWATCH_MAX_SPANS_PER_TRACE",),
        "Spans buffered per trace before an early decision.",
        "a positive integer",
    ),
    _opt(
        "max_pending_traces",
        _parse_positive_int,
        4096,
        ("AGENTWATCH_MAX_PENDING_TRACES",),
        "Traces buffered awaiting their local root before the oldest is decided early.",
        "a positive integer",
    ),
    _opt(
        "export_queue_size",
        _parse_positive_int,
        8192,
        ("AGENTWATCH_EXPORT_QUEUE_SIZE",),
        "Spans waiting for the exporter; beyond it spans are dropped and counted.",
        "a positive integer",
    ),
    _opt(
        "export_batch_size",
        _parse_positive_int,
        512,
        ("AGENTWATCH_EXPORT_BATCH_SIZE",),
        "Spans per export call (512, as the OpenTelemetry SDK's batch processor). Each call is one request to the receiver, with a cost of its own that a larger batch shares among more spans: with the app of bench/overhead.py, the export thread used 29 µs of CPU per error span at 512 and 42 µs at 128. Encoding a batch keeps a request from the GIL no longer than the interpreter's switch interval (5 ms).",
        "a positive integer",
    ),
    _opt(
        "export_interval_seconds",
        _parse_positive_float,
        1.0,
        ("AGENTWATCH_EXPORT_INTERVAL_SECONDS",),
        "Longest time a kept span waits before export.",
        "a positive number of seconds",
    ),
    _opt(
        "existing_tracer_provider",
        _choice("reuse", "refuse"),
        "reuse",
        ("AGENTWATCH_EXISTING_TRACER_PROVIDER",),
        "If the app already set a global SDK TracerProvider: reuse it (add agentwatch's "
        "processor to it) or refuse with an error.",
        "reuse or refuse",
    ),
    _opt(
        "metrics_path",
        _text,
        "/metrics",
        ("AGENTWATCH_METRICS_PATH",),
        "Path of the Prometheus endpoint mounted by init().",
        "a path",
    ),
    _opt(
        "metrics_bearer_token",
        _optional_text,
        None,
        ("AGENTWATCH_METRICS_BEARER_TOKEN",),
        "When set, /metrics requires 'Authorization: Bearer <token>'.",
        "a token",
    ),
    _opt(
        "metrics_basic_auth",
        _optional_text,
        None,
        ("AGENTWATCH_METRICS_BASIC_AUTH",),
        "When set (user:password), /metrics requires HTTP basic auth.",
        "user:password",
    ),
    _opt(
        "multiprocess_dir",
        _optional_text,
        None,
        ("AGENTWATCH_MULTIPROC_DIR", "PROMETHEUS_MULTIPROC_DIR"),
        "Directory shared by worker processes; turns on multi-process metrics.",
        "a directory path",
    ),
    _opt(
        "exclude_paths",
        _parse_list,
        ("/metrics", "/health"),
        ("AGENTWATCH_EXCLUDE_PATHS",),
        "Path prefixes not recorded as HTTP traffic nor traced.",
        "comma-separated paths",
    ),
    _opt(
        "log_format",
        _choice("json", "text", "off"),
        "json",
        ("AGENTWATCH_LOG_FORMAT",),
        "Format installed on the root logger by init(); off leaves logging alone.",
        "json, text or off",
    ),
    _opt(
        "log_level",
        _choice("debug", "info", "warning", "error", "critical"),
        "info",
        ("AGENTWATCH_LOG_LEVEL",),
        "Root log level set by init().",
        "debug, info, warning, error or critical",
    ),
    _opt(
        "redact_patterns",
        _parse_list,
        (),
        ("AGENTWATCH_REDACT_PATTERNS",),
        "Extra regular expressions whose matches are redacted from logs and errors.",
        "comma-separated regular expressions",
    ),
    _opt(
        "loop_lag_interval_seconds",
        _parse_positive_float,
        0.5,
        ("AGENTWATCH_LOOP_LAG_INTERVAL_SECONDS",),
        "How often the asyncio event-loop lag probe runs.",
        "a positive number of seconds",
    ),
    _opt(
        "sentry_dsn",
        _optional_text,
        None,
        ("AGENTWATCH_SENTRY_DSN", "SENTRY_DSN"),
        "Sentry DSN; errors are sent to Sentry linked to their trace when set.",
        "a DSN URL",
    ),
    _opt(
        "health_prefix",
        _text,
        "/health",
        ("AGENTWATCH_HEALTH_PREFIX",),
        "Path prefix of the health endpoints.",
        "a path",
    ),
    _opt(
        "health_details_token",
        _optional_text,
        None,
        ("AGENTWATCH_HEALTH_TOKEN",),
        "When set, health outputs, details and error messages are shown only to callers "
        "presenting 'Authorization: Bearer <token>'; anonymous callers see statuses only.",
        "a token",
    ),
    _opt(
        "health_check_timeout_seconds",
        _parse_positive_float,
        2.0,
        ("AGENTWATCH_HEALTH_CHECK_TIMEOUT_SECONDS",),
        "Default timeout of one health check; a check that takes longer fails with 'timeout'. "
        "Keep probe timeouts (Kubernetes timeoutSeconds) above it.",
        "a positive number of seconds",
    ),
    _opt(
        "health_cache_seconds",
        _parse_positive_float,
        5.0,
        ("AGENTWATCH_HEALTH_CACHE_SECONDS",),
        "Default time a health check result is reused, so bursts of probes run each check once.",
        "a positive number of seconds",
    ),
    _opt(
        "health_warn_score",
        _parse_percent,
        80.0,
        ("AGENTWATCH_HEALTH_WARN_SCORE",),
        "Overall health is warn when the weighted score (0-100) is under this.",
        "a number between 0 and 100",
    ),
    _opt(
        "sentry_error_sample_rate",
        _parse_ratio,
        1.0,
        ("AGENTWATCH_SENTRY_ERROR_SAMPLE_RATE",),
        "Share of error (and fatal) events sent to Sentry.",
        "a number between 0 and 1",
    ),
    _opt(
        "sentry_warning_sample_rate",
        _parse_ratio,
        0.5,
        ("AGENTWATCH_SENTRY_WARNING_SAMPLE_RATE",),
        "Share of warning events sent to Sentry.",
        "a number between 0 and 1",
    ),
    _opt(
        "sentry_info_sample_rate",
        _parse_ratio,
        0.1,
        ("AGENTWATCH_SENTRY_INFO_SAMPLE_RATE",),
        "Share of info (and debug) events sent to Sentry.",
        "a number between 0 and 1",
    ),
    _opt(
        "sentry_event_level",
        _choice("error", "warning", "info"),
        "warning",
        ("AGENTWATCH_SENTRY_EVENT_LEVEL",),
        "Lowest log level whose records become Sentry events (then sampled by level).",
        "error, warning or info",
    ),
    _opt(
        "sentry_max_events_per_second",
        _parse_positive_float,
        10.0,
        ("AGENTWATCH_SENTRY_MAX_EVENTS_PER_SECOND",),
        "Events handed to Sentry per second (bursts of 5x allowed); beyond it events are "
        "counted in agentwatch_error_events_total{outcome=rate_limited}, not sent.",
        "a positive number",
    ),
    _opt(
        "sentry_repeat_seconds",
        _parse_non_negative_float,
        1.0,
        ("AGENTWATCH_SENTRY_REPEAT_SECONDS",),
        "The same error (type and raise site, or logger and message) is sent at most once "
        "per this many seconds; the next event says how many repeats were held back. 0 sends "
        "every one.",
        "a number of seconds >= 0",
    ),
    _opt(
        "capture_content",
        _parse_bool,
        False,
        ("AGENTWATCH_CAPTURE_CONTENT",),
        "Record LLM prompts and completions and tool arguments and results on spans "
        "(gen_ai.input.messages, gen_ai.output.messages), always through the redaction rules.",
        "true or false",
    ),
    _opt(
        "pricing_file",
        _optional_text,
        None,
        ("AGENTWATCH_PRICING_FILE",),
        "JSON or YAML price table ({provider: {model: {input, output, cached_input}}}, USD per "
        "million tokens) merged over the shipped one by init().",
        "a path",
    ),
    _opt(
        "instrument_sqlalchemy",
        _parse_bool,
        False,
        ("AGENTWATCH_INSTRUMENT_SQLALCHEMY",),
        "Trace every SQLAlchemy engine's statements and record the db pack (operation "
        "duration, pool connections by state, errors).",
        "true or false",
    ),
    _opt(
        "instrument_redis",
        _parse_bool,
        False,
        ("AGENTWATCH_INSTRUMENT_REDIS",),
        "Trace redis commands (OpenTelemetry redis instrumentation when installed) and record "
        "the cache pack (operations by hit, miss, ok, error; duration).",
        "true or false",
    ),
    _opt(
        "instrument_http_clients",
        _parse_bool,
        True,
        ("AGENTWATCH_INSTRUMENT_HTTP_CLIENTS",),
        "W3C trace context (traceparent, tracestate, baggage) on every outgoing httpx and "
        "requests call, each recorded as a CLIENT span (agentwatch's own instrumentation).",
        "true or false",
    ),
)

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
    success_sample_ratio: float
    slow_threshold_seconds: float
    max_spans_per_trace: int
    max_pending_traces: int
    export_queue_size: int
    export_batch_size: int
    export_interval_seconds: float
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
    instrument_sqlalchemy: bool
    instrument_redis: bool
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
