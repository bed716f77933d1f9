"""Metrics: the prometheus_client side of the catalog.

Owns ``registry.py`` (catalog instruments behind a per-metric series budget, multi-process
mode), ``tally.py`` (request-path counts in plain cells, folded at collection),
``exposition.py`` (the ``/metrics`` endpoint), ``runtime.py`` (process and GC collectors,
the event-loop lag probe) and ``window.py`` (the rolling request window behind
``/health/full``).

May import: the foundation (``_catalog``, ``_settings``, ``_exceptions``, ``_compat``) and
``_state``, which shares its layer: the active telemetry holds the metrics, and the lag
probe reports its own failures through it. Every other part may import this one.
"""
