"""The trace store and viewer: OTLP in, errors first out.

Owns: the OTLP/HTTP intake (``/v1/traces``, ``/v1/logs``: protobuf and JSON, gzip, partial
success, 429/503 with Retry-After when behind), the store (a SQLite file of its own by
default, or the hub's Postgres; one writer thread that commits queued batches together;
retention and a size limit that evicts successful traces before error traces), the query
API (``/api/v1/traces``, ``/api/v1/services``), the Jaeger query subset (``/api/...``),
the pages (``/traces``, ``/traces/{id}``) and ``agentwatch traces list|show``.

Flow: intake → otlp (decode) → writer → store; api/pages → queries → store.

May import: the hub's core (config, parts, web), SQLAlchemy, opentelemetry-proto,
Starlette. Nothing else of the hub imports this part; others link to ``/traces/{id}``.
"""

from __future__ import annotations

from ..parts import PartSpec
from .part import build
from .settings import parse

PART = PartSpec(
    name="traces",
    keys=("traces",),
    parse=parse,
    build=build,
    nav=(("Traces", "/traces"),),
)

__all__ = ["PART"]
