"""Tracing: the TracerProvider and resource, the error-priority sampler, the context.

Owns ``provider.py`` (the provider, given, global or new, and the pipeline wired into
it), ``sampling.py`` (the head sampler and the error-priority tail processor) and
``context.py`` (the current context, set directly on the request path).

In the span pipeline it sits between the server span (``_asgi``) and the export queue
(``_export``): it may import ``_export``, ``_logs``, ``_sentry``, the core and the
foundation, never ``_asgi`` or ``propagation`` (they call into it).
"""
