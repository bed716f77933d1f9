"""The catalog's types and registry: :class:`MetricSpec`, the packs, :func:`define_pack`.

A metric is declared once, as data; ``packs.py`` holds the packs agentwatch ships. A
service adds its own business pack with :func:`define_pack`::

    define_pack("payments", [
        MetricSpec("payments_total", "counter", "Payments by result.", labels=("result",)),
    ])
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from .._exceptions import ConfigurationError

__all__ = [
    "CATALOG",
    "LATENCY_BUCKETS",
    "PACKS",
    "Kind",
    "MetricSpec",
    "define_pack",
    "get_spec",
    "metric",
    "packs_from_yaml",
    "render_reference",
]

Kind = Literal["counter", "gauge", "histogram"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class MetricSpec:
    """One metric: name (as exposed), kind, help, unit, labels, buckets and series budget.

    ``budget`` is the most label combinations recorded before new ones go to the overflow
    series (every label ``__overflow__``), counted by ``agentwatch_metric_overflow_total``.
    """

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""
    buckets: tuple[float, ...] = ()
    budget: int = 100
    pack: str = ""
    multiprocess_mode: str = "livesum"

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigurationError("metric name", self.name, "snake_case [a-z_][a-z0-9_]*")
        if self.kind not in ("counter", "gauge", "histogram"):
            raise ConfigurationError(f"{self.name}.kind", self.kind, "counter, gauge or histogram")
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise ConfigurationError(
                f"{self.name}.name", self.name, "a counter name ending in _total"
            )
        if self.kind == "histogram" and not self.buckets:
            object.__setattr__(self, "buckets", LATENCY_BUCKETS)
        for label in self.labels:
            if not _NAME.match(label) or label.startswith("__"):
                raise ConfigurationError(f"{self.name}.labels", label, "snake_case label names")

    @property
    def series_names(self) -> tuple[str, ...]:
        """The sample names Prometheus stores for this metric."""
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


PACKS: dict[str, tuple[MetricSpec, ...]] = {}
CATALOG: dict[str, MetricSpec] = {}


def metric(
    name: str,
    kind: Kind,
    help: str,
    labels: Iterable[str] = (),
    *,
    unit: str = "",
    buckets: tuple[float, ...] = (),
    budget: int = 100,
    mode: str = "livesum",
) -> MetricSpec:
    """A :class:`MetricSpec` written the short way the built-in packs are."""
    return MetricSpec(
        name, kind, help, tuple(labels), unit, buckets, budget, multiprocess_mode=mode
    )


def define_pack(pack: str, specs: Iterable[MetricSpec]) -> tuple[MetricSpec, ...]:
    """Add a pack (a service's business metrics) to the catalog.

    Names must be new: a metric belongs to one pack. Returns the specs with ``pack`` set.
    """
    if not _NAME.match(pack):
        raise ConfigurationError("pack", pack, "snake_case pack names")
    stamped = tuple(_with_pack(spec, pack) for spec in specs)
    for spec in stamped:
        owner = CATALOG.get(spec.name)
        if owner is not None and owner.pack != pack:
            raise ConfigurationError(
                "metric name", spec.name, f"a name not already in pack {owner.pack!r}"
            )
    PACKS[pack] = stamped
    for spec in stamped:
        CATALOG[spec.name] = spec
    return stamped


def _with_pack(spec: MetricSpec, pack: str) -> MetricSpec:
    return spec if spec.pack == pack else MetricSpec(**{**spec.__dict__, "pack": pack})


def get_spec(name: str) -> MetricSpec:
    try:
        return CATALOG[name]
    except KeyError:
        raise ConfigurationError("metric", name, "a metric in the catalog") from None


def packs_from_yaml(
    data: Mapping[str, object], source: str = "<yaml>"
) -> list[tuple[MetricSpec, ...]]:
    """Define packs from YAML data: ``{pack: [{name, kind, help, labels, ...}]}``."""
    defined = []
    for pack, items in data.items():
        if not isinstance(items, list):
            raise ConfigurationError(f"{source}: {pack}", items, "a list of metric definitions")
        specs = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise ConfigurationError(f"{source}: {pack}[{index}]", item, "a mapping")
            item = dict(item)
            item["labels"] = tuple(item.get("labels", ()))
            item["buckets"] = tuple(float(b) for b in item.get("buckets", ()))
            try:
                specs.append(MetricSpec(**item))
            except TypeError as exc:
                raise ConfigurationError(f"{source}: {pack}[{index}]", item, str(exc)) from None
        defined.append(define_pack(str(pack), specs))
    return defined


def render_reference(skip: Iterable[str] = ()) -> str:
    """The metric reference in Markdown: every pack defined, less the ``skip`` packs."""
    skipped = set(skip)
    lines = [
        "# Metric reference",
        "",
        "Generated from `agentwatch._catalog` by `agentwatch docs metrics`; a test keeps it current.",
        "Budget is the most label combinations recorded before the overflow series takes over.",
        "",
    ]
    for pack, specs in PACKS.items():
        if pack in skipped:
            continue
        lines += [
            f"## {pack}",
            "",
            "| metric | kind | labels | budget | help |",
            "|---|---|---|---|---|",
        ]
        for spec in specs:
            labels = ", ".join(f"`{label}`" for label in spec.labels) or "—"
            lines.append(
                f"| `{spec.name}` | {spec.kind} | {labels} | {spec.budget} | {spec.help} |"
            )
        lines.append("")
    return "\n".join(lines)
