"""Logs: the JSON formatter carrying the trace id, with redaction, and OTLP log export.

Owns ``formatter.py`` (``JsonFormatter`` and ``LogSetup``, the formatter installed on the
root logger and uvicorn's loggers) and ``otlp.py`` (``logs_exporter=otlp``: the handler
that queues records on the export queue, redacted on the export thread with the same
rules, and ``LogExport``, what ``init()`` wires).

May import ``_export``, ``_sentry`` (the cached stack traces), the core and the
foundation; ``health`` reads its time format.
"""
