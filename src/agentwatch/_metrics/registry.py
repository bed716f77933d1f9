"""prometheus_client wiring: instruments from the catalog, behind a cardinality guard.

:class:`Metrics` turns catalog specs into prometheus_client instruments on a registry
given to it (tests pass a fresh ``CollectorRegistry``). Every instrument sits behind a
:class:`GuardedMetric`: the first ``budget`` label combinations get their own series;
later ones are recorded in the overflow series (every label ``__overflow__``) and counted
in ``agentwatch_metric_overflow_total{metric}``.

``labels()`` is the hot path: one dict lookup for a combination seen before.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess as prom_multiprocess

from .._catalog import CATALOG, MetricSpec, get_spec
from .._compat import multiprocess_values, use_multiprocess_values
from .tally import TalliedCounter, Tallies

__all__ = ["OVERFLOW", "GuardedMetric", "Metrics", "enable_multiprocess"]

OVERFLOW = "__overflow__"
_log = logging.getLogger("agentwatch")


class GuardedMetric:
    """A catalog instrument with a series budget.

    >>> metrics["http_requests_total"].labels("GET", "/items/{id}", "200").inc()
    """

    __slots__ = (
        "_children",
        "_instrument",
        "_lock",
        "_overflow",
        "_overflow_child",
        "_tallied",
        "_tallies",
        "spec",
    )

    def __init__(
        self, spec: MetricSpec, instrument: Any, overflow: Any, tallies: Tallies | None = None
    ) -> None:
        self.spec = spec
        self._instrument = instrument
        self._overflow = overflow
        self._tallies = tallies
        self._children: dict[tuple[str, ...], Any] = {}
        self._tallied: dict[tuple[object, ...], TalliedCounter] = {}
        self._overflow_child: Any = None
        self._lock = threading.Lock()

    def labels(self, *label_values: object) -> Any:
        """The child for these label values (positional, in the spec's label order)."""
        child = self._children.get(label_values)  # type: ignore[arg-type]
        if child is not None:
            return child
        return self._new_child(label_values)

    def _new_child(self, label_values: tuple[object, ...]) -> Any:
        if not self.spec.labels:
            return self._instrument
        if len(label_values) != len(self.spec.labels):
            raise ValueError(
                f"{self.spec.name} takes labels {self.spec.labels}, got {label_values!r}"
            )
        text = tuple("" if value is None else str(value) for value in label_values)
        with self._lock:
            child = self._children.get(text)
            if child is None and len(self._children) < self.spec.budget:
                child = self._instrument.labels(*text)
                self._children[text] = child
        if child is None:
            self._overflow.labels(self.spec.name).inc()
            return self._overflow_series()
        if text != label_values:
            self._children[label_values] = child  # type: ignore[index]
        return child

    def _overflow_series(self) -> Any:
        if self._overflow_child is None:
            self._overflow_child = self._instrument.labels(*([OVERFLOW] * len(self.spec.labels)))
        return self._overflow_child

    def tallied(self, *label_values: object) -> Any:
        """A counter child for these label values that counts without a lock on the first
        thread that counts (``tally``); the overflow series, counted every time, past the
        budget. For the request path's counters.

        >>> metrics["http_request_errors_total"].tallied("GET", "/x", "500").inc()
        """
        counter = self._tallied.get(label_values)
        if counter is not None:
            return counter
        child = self.labels(*label_values)
        if self._tallies is None or self.is_overflow(child):
            return child
        return self._tallied.setdefault(label_values, TalliedCounter(self._tallies, child))

    def is_overflow(self, child: Any) -> bool:
        """Whether ``child`` (from :meth:`labels`) is the overflow series."""
        return child is self._overflow_child and child is not None

    @property
    def series_count(self) -> int:
        return len({id(child) for child in self._children.values()})

    @property
    def instrument(self) -> Any:
        """The prometheus_client object underneath (for reading values in tests)."""
        return self._instrument


def _build_instrument(spec: MetricSpec, registry: CollectorRegistry | None) -> Any:
    common: dict[str, Any] = {"labelnames": spec.labels, "registry": registry}
    if spec.kind == "counter":
        return Counter(spec.name.removesuffix("_total"), spec.help, **common)
    if spec.kind == "gauge":
        return Gauge(spec.name, spec.help, multiprocess_mode=spec.multiprocess_mode, **common)  # type: ignore[arg-type]
    return Histogram(spec.name, spec.help, buckets=spec.buckets, **common)


class Metrics:
    """Every catalog metric, registered once on ``registry``.

    Packs defined after construction (a service's business pack) are registered on first
    access. :meth:`unregister` takes them all off the registry again.
    """

    def __init__(self, registry: CollectorRegistry, specs: list[MetricSpec] | None = None) -> None:
        self.registry = registry
        self.tallies = Tallies()  # folds before the instruments are read: registered first
        registry.register(self.tallies)  # type: ignore[arg-type]
        self._instruments: list[Any] = []
        self._by_name: dict[str, GuardedMetric] = {}
        self._lock = threading.Lock()
        overflow_spec = get_spec("agentwatch_metric_overflow_total")
        self._overflow = self._register(overflow_spec)
        self._by_name[overflow_spec.name] = GuardedMetric(
            overflow_spec, self._overflow, self._overflow
        )
        for spec in specs if specs is not None else list(CATALOG.values()):
            self._add(spec)

    def _register(self, spec: MetricSpec) -> Any:
        instrument = _build_instrument(spec, self.registry)
        self._instruments.append(instrument)
        return instrument

    def _add(self, spec: MetricSpec) -> GuardedMetric:
        with self._lock:
            guarded = self._by_name.get(spec.name)
            if guarded is None:
                guarded = GuardedMetric(spec, self._register(spec), self._overflow, self.tallies)
                self._by_name[spec.name] = guarded
            return guarded

    def __getitem__(self, name: str) -> GuardedMetric:
        guarded = self._by_name.get(name)
        if guarded is None:
            guarded = self._add(get_spec(name))
        return guarded

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def unregister(self) -> None:
        for instrument in [self.tallies, *self._instruments]:
            try:
                self.registry.unregister(instrument)
            except KeyError:
                pass
        self._instruments.clear()
        self._by_name.clear()


def enable_multiprocess(directory: str) -> None:
    """Switch prometheus_client to its multi-process value files in ``directory``.

    Must run before instruments are created; worker processes forked later inherit it.
    """
    os.makedirs(directory, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    use_multiprocess_values()


def multiprocess_enabled() -> bool:
    return multiprocess_values()


def multiprocess_registry(directory: str) -> CollectorRegistry:
    registry = CollectorRegistry()
    prom_multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


def mark_process_dead(directory: str, pid: int | None = None) -> None:
    """Remove a finished worker's live gauges (call from the parent, or at worker exit)."""
    try:
        prom_multiprocess.mark_process_dead(os.getpid() if pid is None else pid, directory)  # type: ignore[no-untyped-call]
    except Exception:  # never raise into the host while shutting down
        _log.debug("mark_process_dead failed", exc_info=True)
