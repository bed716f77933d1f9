"""A monitor's next status from its last one and a check's result: no flapping.

``down_after`` consecutive failing results turn a monitor down, ``up_after`` consecutive
good ones bring it back; ``degraded`` counts as good for ``down_after`` and shows at once
when the monitor is not down. A monitor whose ``depends_on`` parent is down names it as
the cause.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Counts", "next_status"]


@dataclass(frozen=True, slots=True)
class Counts:
    status: str
    fails: int  # consecutive down results
    oks: int  # consecutive up or degraded results


def next_status(previous: Counts, result: str, *, down_after: int, up_after: int) -> Counts:
    if result == "down":
        fails = previous.fails + 1
        status = "down" if fails >= down_after or previous.status == "down" else previous.status
        return Counts(status, fails, 0)
    oks = previous.oks + 1
    if previous.status == "down" and oks < up_after:
        return Counts("down", 0, oks)
    return Counts(result, 0, oks)
