"""Export: the queue between the sampler and the exporters, and the exporters.

Owns ``queue.py`` (the bounded queue and its export thread), ``exporters.py`` (OTLP,
console, JSON lines, memory, chosen by the settings), the OTLP encoder (``otlp.py``,
``otlp_lean.py``, ``otlp_wire.py``: protobuf written directly), ``otlp_http.py`` (the
OTLP/HTTP transport), ``otlp_logs.py`` (the logs request and its exporter on that
transport), ``spool.py`` (the durable folder of batches that could not be sent) and
``delivery.py`` (sending them again: backoff, ``Retry-After``).

The bottom of the span pipeline: it knows the spans it is given, not who gives them. May
import ``_sentry``, the core (``_metrics``, ``_state``, ``testing``) and the foundation;
never ``_tracing``, ``_asgi`` or anything above them.
"""
