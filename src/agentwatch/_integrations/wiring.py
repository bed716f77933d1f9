"""What ``init()`` wires for the GenAI and data-layer instrumentation.

``attach(handle)`` (called by ``init()``):

- merges ``pricing_file`` over the shipped price table;
- publishes the budgets defined before ``init()`` on the new registry;
- ``instrument_sqlalchemy=True``: a span per statement and the db pack for every engine;
- ``instrument_redis=True``: the cache pack for every redis client, and spans from
  ``opentelemetry-instrumentation-redis`` when installed;
- ``instrument_qdrant=True``: a span per qdrant-client call and the rag pack's
  vector-store metrics (``init()`` registers the rag pack);

Each is undone (or idled) by ``handle.shutdown()``.
"""

from __future__ import annotations

from typing import Any

from .._genai import budget as _budget
from .._genai.pricing import load_prices
from . import sqlalchemy as _autodb
from .patching import require

__all__ = ["attach"]


def attach(handle: Any) -> None:
    """Wire pricing, budgets and the data-layer auto-instrumentation from the settings."""
    settings = handle.settings
    if settings.pricing_file:
        load_prices(settings.pricing_file)
    _budget.publish_all()
    if settings.instrument_sqlalchemy:
        require("sqlalchemy", "sqlalchemy", "instrument_sqlalchemy")
        _autodb.instrument_sqlalchemy()
        handle.add_shutdown_callback(lambda: _autodb.set_enabled(False))
    if settings.instrument_redis:
        require("redis", "redis", "instrument_redis")
        from .redis import instrument_redis

        handle.add_shutdown_callback(instrument_redis(handle.tracer_provider))
    if settings.instrument_qdrant:
        require("qdrant_client", "qdrant", "instrument_qdrant")
        from .qdrant import instrument_qdrant

        handle.add_shutdown_callback(instrument_qdrant())
