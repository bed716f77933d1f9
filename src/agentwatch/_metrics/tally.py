"""Request-path tallies: the hottest series counted in plain numbers, folded at collection.

A prometheus_client child takes a lock for every increment, and a histogram observation
takes two; on the request path that is most of the cost of the HTTP pack. A :class:`Row`
instead keeps cumulative values in a plain list written by one thread only — the thread
that created it, in practice the event loop's, since ASGI runs a request's middleware on
one thread. :class:`Tallies`, registered on the registry before the instruments, folds what
each row gained since the last fold into its prometheus_client children whenever the
registry is collected: every scrape, every ``get_sample_value``. Exposition, content
negotiation and the series budget stay prometheus_client's and agentwatch's; a scrape sees
every request that finished before it.

A row is read with one list copy (atomic under the GIL), so a fold sees each request
whole or not at all, like prometheus_client's own collection. A thread that does not own a
row records straight into the children. Rows are off in multi-process mode, where a scrape
reads the workers' files and never folds, so every update goes to the children directly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from .._compat import HistogramParts, histogram_parts, multiprocess_values

__all__ = ["OFF", "Row", "TalliedCounter", "Tallies", "histogram_bounds"]


def histogram_bounds(child: Any) -> tuple[float, ...] | None:
    """A histogram child's upper bounds, if it has the parts a fold writes into."""
    parts = histogram_parts(child)
    return None if parts is None else parts.bounds


class Row:
    """Cumulative cells for a group of children: a counter takes one cell, a gauge two (up,
    down), a histogram one for its sum then one per bucket (``bounds`` ends with +Inf).

    Only ``owner`` (the creating thread) writes ``cells``; :meth:`fold` runs at collection.
    """

    __slots__ = ("_folded", "_parts", "cells", "owner")

    def __init__(self, parts: Sequence[tuple[str, Any]]) -> None:
        # (kind, what the fold writes into, cells): a histogram's parts, or the child
        self._parts = tuple(_part(kind, child) for kind, child in parts)
        size = sum(width for _, _, width in self._parts)
        self.cells: list[float] = [0.0] * size
        self._folded: list[float] = [0.0] * size
        self.owner = threading.get_ident()

    def fold(self) -> None:
        """Apply what the cells gained since the last fold to the children."""
        now = self.cells[:]  # one C-level copy: a consistent snapshot
        before, self._folded = self._folded, now
        at = 0
        for kind, child, width in self._parts:
            deltas = [now[at + i] - before[at + i] for i in range(width)]
            at += width
            if kind == "counter":
                (gain,) = deltas
                if gain:
                    child.inc(gain)
            elif kind == "gauge":
                up, down = deltas
                if up - down:
                    child.inc(up - down)
            else:
                _fold_histogram(child, deltas)


OFF = Row(())  # a row no thread owns: its writers record into the children directly
OFF.owner = 0


def _part(kind: str, child: Any) -> tuple[str, Any, int]:
    if kind == "counter":
        return kind, child, 1
    if kind == "gauge":
        return kind, child, 2
    parts = histogram_parts(child)
    assert parts is not None  # Tallies.row() checked
    return kind, parts, 1 + len(parts.bounds)


def _fold_histogram(parts: HistogramParts, deltas: list[float]) -> None:
    total, *gains = deltas
    if total:
        parts.sum.inc(total)
    for bucket, gain in zip(parts.buckets, gains, strict=True):
        if gain:
            bucket.inc(gain)


class Tallies:
    """The rows of one registry, folded whenever the registry is collected.

    Register it before the instruments it folds into (collection goes in registration
    order). It describes no metric of its own, so it never clashes with their names.
    """

    def __init__(self) -> None:
        self._rows: list[Row] = []
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """False in multi-process mode: nobody would fold the workers' rows."""
        return not multiprocess_values()

    def row(self, parts: Sequence[tuple[str, Any]]) -> Row:
        """A new row for ``parts`` (``("counter" | "gauge" | "histogram", child)``), owned by
        the calling thread; :data:`OFF` when tallying is off or a child cannot take a fold."""
        if not self.enabled:
            return OFF
        for kind, child in parts:
            if kind == "histogram" and histogram_bounds(child) is None:
                return OFF
        row = Row(parts)
        with self._lock:
            self._rows.append(row)
        return row

    def fold(self) -> None:
        with self._lock:  # two scrapes at once must not apply the same gain twice
            for row in self._rows:
                row.fold()

    def describe(self) -> Iterable[Any]:
        return ()

    def collect(self) -> Iterable[Any]:
        self.fold()
        return ()


class TalliedCounter:
    """A counter child counted in a row owned by the first thread that counts.

    >>> drops = TalliedCounter(metrics.tallies, sampled.labels("drop", "ratio"))
    >>> drops.inc()
    """

    __slots__ = ("_child", "_row", "_tallies")

    def __init__(self, tallies: Tallies, child: Any) -> None:
        self._tallies = tallies
        self._child = child
        self._row: Row | None = None

    def inc(self) -> None:
        row = self._row
        if row is None:  # the first thread to count owns the row
            row = self._row = self._tallies.row([("counter", self._child)])
        if row.owner == threading.get_ident():
            row.cells[0] += 1
        else:
            self._child.inc()
