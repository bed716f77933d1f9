"""Uptime over windows (24 h, 7 d, 30 d, 90 d) of many monitors, cheap to ask often.

A window up to a day sums the hourly rollups, a longer one the daily rollups (whole
buckets: the oldest may be partly outside the window); maintenance is left out, and a
monitor with nothing checked has None. Listing 1,000 monitors every few seconds would sum
115,000 rollups each time, yet only the last two buckets of each period still change: the
sums of the older ones are kept until the windows move past a bucket (hourly or daily),
and each ask reads only the last two buckets (a check finishing just after the hour lands
in the one before). Older buckets are final whichever hub wrote them, so hubs sharing a
database can each keep their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from . import store

__all__ = ["UptimeWindows"]

HOUR, DAY = 3600.0, 86400.0


@dataclass
class _Settled:
    """The summed older buckets of one period, for one position of the windows."""

    key: tuple[tuple[float, ...], float]  # (each window's first bucket, the first live one)
    sums: dict[str, tuple[int, ...]] = field(default_factory=dict)  # monitor -> [counted, good] * n


@dataclass
class UptimeWindows:
    windows: Mapping[str, float]  # label -> seconds
    _settled: dict[str, _Settled] = field(default_factory=dict)  # period -> sums

    async def of(
        self, conn: AsyncConnection, names: Sequence[str], now: float
    ) -> dict[str, dict[str, float | None]]:
        out: dict[str, dict[str, float | None]] = {n: dict.fromkeys(self.windows) for n in names}
        for period, size, labels in self._periods():
            firsts = tuple(
                _first_bucket(now - self.windows[label] - size, size) for label in labels
            )
            live = (now // size) * size - size
            settled = await self._settled_sums(conn, names, period, (firsts, live))
            fresh = await store.uptime_sums(conn, names, period, [max(f, live) for f in firsts])
            none = (0,) * (2 * len(labels))
            for name in names:  # 1,000 monitors a listing: plain loops, no calls
                sums = [
                    a + b
                    for a, b in zip(settled.get(name) or none, fresh.get(name) or none, strict=True)
                ]
                uptimes = out[name]
                for i, label in enumerate(labels):
                    counted, good = sums[2 * i], sums[2 * i + 1]
                    uptimes[label] = round(good / counted, 6) if counted > 0 else None
        return out

    def _periods(self) -> list[tuple[str, float, list[str]]]:
        hourly = [label for label, seconds in self.windows.items() if seconds <= DAY]
        daily = [label for label, seconds in self.windows.items() if seconds > DAY]
        return [
            (p, s, labels)
            for p, s, labels in (("hour", HOUR, hourly), ("day", DAY, daily))
            if labels
        ]

    async def _settled_sums(
        self,
        conn: AsyncConnection,
        names: Sequence[str],
        period: str,
        key: tuple[tuple[float, ...], float],
    ) -> dict[str, tuple[int, ...]]:
        """The older buckets' sums of ``names``, read once per position of the windows (and
        for monitors not asked before)."""
        settled = self._settled.get(period)
        if settled is None or settled.key != key:
            settled = self._settled[period] = _Settled(key)
        missing = [name for name in names if name not in settled.sums]
        firsts, live = key
        if missing and min(firsts) < live:
            found = await store.uptime_sums(conn, missing, period, firsts, before=live)
            for name in missing:  # nothing found is remembered too: no rollups before
                settled.sums[name] = found.get(name, ())
        return settled.sums


def _first_bucket(after: float, size: float) -> float:
    """The start of the first bucket starting after ``after``."""
    return (after // size + 1) * size
