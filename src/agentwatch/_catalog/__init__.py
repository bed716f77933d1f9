"""The metric catalog: every metric agentwatch emits, declared once, as data.

From these declarations the SDK registers instruments (``agentwatch._metrics``), the ops
generator writes rules and dashboards (``agentwatch.ops``) and ``docs/metrics.md`` is
generated. A service adds its own business pack with :func:`define_pack`::

    define_pack("payments", [
        MetricSpec("payments_total", "counter", "Payments by result.", labels=("result",)),
    ])

Owns: ``spec.py`` (:class:`MetricSpec`, the registry of packs, the generated reference) and
``packs.py`` (the built-in packs, as data, defined here at import; ``own.py`` holds
agentwatch's own), ``packfile.py`` (YAML
pack files: metrics, dashboard and alerts; ``load_packs``) and ``shipped/`` (the pack files
agentwatch ships: rag, business, compliance, api_keys, llm_quality).
May import: ``agentwatch._exceptions`` only.
"""

from __future__ import annotations

from .packfile import load_packs, render_reference
from .packs import BUILTIN_PACKS
from .spec import (
    CATALOG,
    PACKS,
    MetricSpec,
    define_pack,
    get_spec,
    packs_from_yaml,
)

__all__ = [
    "CATALOG",
    "PACKS",
    "MetricSpec",
    "define_pack",
    "get_spec",
    "load_packs",
    "packs_from_yaml",
    "render_reference",
]

for _pack, _specs in BUILTIN_PACKS.items():
    define_pack(_pack, _specs)
