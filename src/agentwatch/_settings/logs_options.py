"""The rows of the settings table for OTLP log export (``logs_exporter=otlp``).

Part of :data:`~agentwatch._settings.options.OPTIONS`, after the traces exporter's rows;
each logs transport setting left unset takes the traces exporter's.
"""

from __future__ import annotations

from .values import Option, one_of, option, parse_optional_text, parse_pairs, parse_positive_int

__all__ = ["OTLP_LOGS_OPTIONS"]

OTLP_LOGS_OPTIONS: tuple[Option, ...] = (
    option(
        "logs_exporter",
        one_of("otlp", "none"),
        "none",
        ("AGENTWATCH_LOGS_EXPORTER", "OTEL_LOGS_EXPORTER"),
        "otlp also sends every log record that reaches the root logger (and uvicorn's) to "
        "the OTLP endpoint's /v1/logs as OTLP/HTTP protobuf, with trace and span id, severity, "
        "attributes and the resource, redacted like the JSON lines; these stay on stderr as "
        "log_format says. Sent off the request path through a bounded queue and the export "
        "spool (agentwatch_logs_dropped_total counts what is lost). Off while sdk_disabled.",
        "otlp or none",
    ),
    option(
        "otlp_logs_endpoint",
        parse_optional_text,
        None,
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",),
        "OTLP/HTTP logs endpoint used as given (http://host:4318/v1/logs); default: "
        "otlp_endpoint with /v1/logs added.",
        "a URL",
    ),
    option(
        "otlp_logs_headers",
        parse_pairs,
        None,
        ("OTEL_EXPORTER_OTLP_LOGS_HEADERS",),
        "Headers sent with every OTLP log export; default: otlp_headers.",
        "comma-separated key=value pairs",
    ),
    option(
        "otlp_logs_compression",
        one_of("gzip", "none"),
        None,
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",),
        "Compression of OTLP log export bodies; default: otlp_compression.",
        "gzip or none",
    ),
    option(
        "otlp_logs_timeout_ms",
        parse_positive_int,
        None,
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",),
        "Longest time one OTLP log export may take, retries included, in milliseconds; "
        "default: otlp_timeout_ms.",
        "a positive integer (milliseconds)",
    ),
    option(
        "otlp_logs_certificate",
        parse_optional_text,
        None,
        ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",),
        "CA certificate file (PEM) an https logs endpoint is verified against; default: "
        "otlp_certificate.",
        "a path",
    ),
    option(
        "logs_queue_size",
        parse_positive_int,
        8192,
        ("AGENTWATCH_LOGS_QUEUE_SIZE",),
        "Log records waiting for the OTLP log exporter; beyond it records are dropped and "
        "counted in agentwatch_logs_dropped_total{reason=queue_full}.",
        "a positive integer",
    ),
)
