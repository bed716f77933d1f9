"""Errors: Sentry set-up and reporting, the error gate, cached stack traces.

Owns ``reporter.py`` (errors queued off the request path and sent by a worker, linked to
their trace; ``attach`` wires it into ``init()``), ``requests.py`` (one sentry-sdk
isolation scope per request, and the request data its events carry), ``gate.py``
(sampling by level, repeats held back, a rate limit) and ``stacktrace.py`` (tracebacks
formatted once per distinct stack, used by span exception events and logs too).

May import the core and the foundation only: spans (``_tracing``, ``_asgi``) and logs
(``_logs``) import its stack traces.
"""
