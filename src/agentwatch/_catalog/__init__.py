"""The metric catalog: every metric agentwatch emits, declared once, as data.

From these declarations the SDK registers instruments (``agentwatch._metrics``), the ops
generator writes rules and dashboards (``agentwatch.ops``) and ``docs/metrics.md`` is
generated. A service adds its own business pack with :func:`define_pack`::

    define_pack("payments", [
        MetricSpec("payments_total", "counter", "Payments by result.", labels=("result",)),
    ])

Owns: ``spec.py`` (:class:`MetricSpec`, the registry of packs, the generated reference) and
``packs.py`` (the packs agentwatch ships, as data, defined here at import).
May import: ``agentwatch._exceptions`` only.
"""

from __future__ import annotations

from .packs import BUILTIN_PACKS
from .spec import (
    CATALOG,
    PACKS,
    MetricSpec,
    define_pack,
    get_spec,
    packs_from_yaml,
    render_reference,
)

__all__ = [
    "CATALOG",
    "PACKS",
    "MetricSpec",
    "define_pack",
    "get_spec",
    "packs_from_yaml",
    "render_reference",
]

for _pack, _specs in BUILTIN_PACKS.items():
    define_pack(_pack, _specs)
