"""Logs: the JSON formatter carrying the trace id, with redaction (next: OTLP log export).

Owns ``formatter.py`` (``JsonFormatter`` and ``LogSetup``, the formatter installed on the
root logger and uvicorn's loggers).

May import ``_export``, ``_sentry`` (the cached stack traces), the core and the
foundation; ``health`` reads its time format.
"""
