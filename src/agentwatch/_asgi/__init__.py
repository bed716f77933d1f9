"""The request: the ASGI middleware, the lean server span and the request's state.

Owns ``middleware.py`` (one server span and the HTTP pack per request, route templates,
the ``traceresponse`` header) and ``serverspan.py`` (the lean ``ServerSpan`` kept in plain
slots until its trace is kept, and the factory that starts it or an SDK span).

The top of the span pipeline: middleware → server span → sampler (``_tracing``) → export
queue → exporter (``_export``). May import ``_tracing``, ``_export`` and everything below
them (``_logs``, ``_sentry``, ``_metrics``, ``_state``, the foundation); never ``_genai``,
``_integrations``, ``health`` or ``_init``.
"""
