"""What a status page shows, built once for the HTML page and its JSON twin.

The monitors come from the monitors part through ``HubContext.monitors`` (the
:class:`~agentwatch.hub.parts.MonitorDirectory` contract: current states and daily uptime);
the incidents from this part's tables. A monitor the page names but the directory does not
know (not checked yet, or removed) is shown ``pending``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..parts import DayUptime, MonitorDirectory, MonitorState
from ..web.render import STATUS_ICONS, format_duration
from .incidents import Incident, iso
from .settings import StatusPage

__all__ = [
    "DAYS",
    "BarRun",
    "DayBar",
    "MonitorView",
    "Overall",
    "PageView",
    "bar_runs",
    "build_view",
    "monitor_view",
    "percent",
]

DAYS = 90


def percent(fraction: float | None) -> str:
    """``99.95 %``, rounded down, so a day with any downtime never reads 100 %."""
    if fraction is None:
        return "no data"
    return f"{math.floor(fraction * 10000) / 100:.2f} %"


@dataclass(frozen=True, slots=True)
class DayBar:
    """One day of the 90-day bar: its level (a CSS class) and, on demand, its text."""

    level: str  # up | degraded | down | maintenance | nodata
    uptime: DayUptime

    @property
    def day(self) -> str:
        return self.uptime.day

    @property
    def notable(self) -> bool:
        return self.level not in ("up", "nodata")

    @property
    def label(self) -> str:
        day = self.uptime
        if day.uptime is None:
            return f"{day.day}: no data"
        parts = [f"{day.day}: {percent(day.uptime)} up"]
        if day.down_seconds > 0:
            parts.append(f"{format_duration(day.down_seconds)} down")
        if day.maintenance_seconds > 0:
            parts.append(f"{format_duration(day.maintenance_seconds)} maintenance")
        return ", ".join(parts)


def day_bar(day: DayUptime) -> DayBar:
    if day.uptime is None:
        return DayBar("nodata", day)
    if day.uptime >= 1.0 and day.down_seconds <= 0:
        return DayBar("maintenance" if day.maintenance_seconds > 0 else "up", day)
    return DayBar("degraded" if day.uptime >= 0.99 else "down", day)


@dataclass(frozen=True, slots=True)
class BarRun:
    """Consecutive days drawn as one piece of the bar: a day with downtime or maintenance is
    always a run of its own; days alike without it (up, or no data) share one. The page
    draws the day separators over the runs, so 90 days cost a few elements, not 90."""

    level: str
    days: int
    label: str


def _run(bars: Sequence[DayBar]) -> BarRun:
    first, last = bars[0], bars[-1]
    if len(bars) == 1:
        return BarRun(first.level, 1, first.label)
    what = "no data" if first.level == "nodata" else "no downtime"
    return BarRun(first.level, len(bars), f"{first.day} to {last.day}: {what}")


def bar_runs(bars: Sequence[DayBar]) -> list[BarRun]:
    runs: list[BarRun] = []
    pending: list[DayBar] = []
    for bar in bars:
        if pending and (bar.notable or bar.level != pending[0].level):
            runs.append(_run(pending))
            pending = []
        if bar.notable:
            runs.append(_run([bar]))
        else:
            pending.append(bar)
    if pending:
        runs.append(_run(pending))
    return runs


@dataclass(frozen=True, slots=True)
class MonitorView:
    """A monitor on the page; its bar is worked out once (``monitor_view``)."""

    state: MonitorState
    days: tuple[DayUptime, ...]
    bars: tuple[DayBar, ...]
    runs: tuple[BarRun, ...]
    uptime: float | None  # mean of the days with data (maintenance already left out of each)

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def notable(self) -> list[DayBar]:
        """Days with downtime or maintenance (the bar's table)."""
        return [bar for bar in self.bars if bar.notable]

    @property
    def uptime_summary(self) -> str:
        """The bar as a sentence (its text alternative)."""
        bars = self.bars
        if self.uptime is None:
            return f"{self.name}: no uptime data yet."
        notable = sum(1 for bar in bars if bar.level in ("degraded", "down"))
        empty = sum(1 for bar in bars if bar.level == "nodata")
        text = f"{self.name}: {percent(self.uptime)} uptime over the last {len(bars)} days"
        text += f"; {notable} {'day' if notable == 1 else 'days'} with downtime"
        return text + (f", {empty} without data." if empty else ".")

    def as_json(self, days: int = DAYS, *, operator: bool = False) -> dict[str, Any]:
        """``operator``: the request carries the token; only then is the check's message
        (``HTTP 500 from http://10.0.0.5:8000/``: the probe's target) in it, else null."""
        s = self.state
        return {
            "name": s.name,
            "type": s.type,
            "status": s.status,
            "status_text": STATUS_ICONS.get(s.status, ("", s.status))[1],
            "description": s.description,
            "message": s.message if operator else None,
            "cause": s.cause,
            "last_check": iso(s.last_check),
            "latency_ms": s.latency_ms,
            "uptime_90d": None if self.uptime is None else round(self.uptime, 6),
            "days": [
                {
                    "day": d.day,
                    "uptime": d.uptime,
                    "down_seconds": d.down_seconds,
                    "maintenance_seconds": d.maintenance_seconds,
                }
                for d in (self.days[-days:] if days else ())
            ],
        }


@dataclass(frozen=True, slots=True)
class GroupView:
    name: str
    description: str
    monitors: tuple[MonitorView, ...]


@dataclass(frozen=True, slots=True)
class Overall:
    status: str  # the worst monitor status: a CSS class and icon
    text: str  # "All systems operational", "Partial outage", ...


MAJOR_OUTAGE = Overall("down", "Major outage")
PARTIAL_OUTAGE = Overall("down", "Partial outage")
# how bad each sentence is, to take the worse of the monitors' and the incidents'
_RANK = {
    "All systems operational": 0,
    "Checking": 0,
    "Under maintenance": 1,
    "Minor service disruption": 2,
    "Degraded performance": 2,
    "Partial outage": 3,
    "Major outage": 4,
}
_BY_IMPACT = {
    "minor": Overall("degraded", "Minor service disruption"),
    "major": PARTIAL_OUTAGE,
    "critical": MAJOR_OUTAGE,
}


def overall(states: Sequence[MonitorState], active: Sequence[Incident] = ()) -> Overall:
    """The worse of what the monitors show and the impact of the open incidents (a person
    may declare an outage the monitors cannot see, as Statuspage does)."""
    result = _monitors_overall(states)
    for incident in active:
        declared = _BY_IMPACT.get(incident.impact)
        if declared is not None and _RANK[declared.text] > _RANK[result.text]:
            result = declared
    return result


def _monitors_overall(states: Sequence[MonitorState]) -> Overall:
    statuses = [s.status for s in states]
    if "down" in statuses:
        return MAJOR_OUTAGE if all(status == "down" for status in statuses) else PARTIAL_OUTAGE
    if "degraded" in statuses:
        return Overall("degraded", "Degraded performance")
    if "maintenance" in statuses:
        return Overall("maintenance", "Under maintenance")
    if statuses and all(status in ("pending", "paused") for status in statuses):
        return Overall("pending", "Checking")
    return Overall("up", "All systems operational")


@dataclass(frozen=True, slots=True)
class PageView:
    page: StatusPage
    url: str
    overall: Overall
    groups: tuple[GroupView, ...]
    active: tuple[Incident, ...]
    recent: tuple[Incident, ...]
    now: float

    @property
    def monitors(self) -> list[MonitorView]:
        return list({m.name: m for g in self.groups for m in g.monitors}.values())

    @property
    def maintenance(self) -> list[MonitorState]:
        return [m.state for m in self.monitors if m.state.status == "maintenance"]

    def as_json(
        self, public_url: str, days: int = DAYS, *, operator: bool = False
    ) -> dict[str, Any]:
        """``days``: how many of the last days each monitor lists (0: none); ``operator``:
        the monitors' check messages are included (a visitor gets null). A maintenance
        entry's message is the window's name, written for the page, so it stays."""
        p = self.page
        return {
            "page": {
                "slug": p.slug,
                "title": p.title,
                "description": p.description,
                "public": p.public,
                "url": self.url,
                "refresh_seconds": p.refresh_seconds,
            },
            "status": {"indicator": self.overall.status, "description": self.overall.text},
            "groups": [
                {
                    "name": g.name,
                    "description": g.description,
                    "monitors": [m.name for m in g.monitors],
                }
                for g in self.groups
            ],
            "monitors": [m.as_json(days, operator=operator) for m in self.monitors],
            "maintenance": [{"monitor": s.name, "message": s.message} for s in self.maintenance],
            "incidents": {
                "active": [i.as_json(self.now, public_url) for i in self.active],
                "recent": [i.as_json(self.now, public_url) for i in self.recent],
            },
            "generated_at": iso(self.now),
        }


_Bars = tuple[tuple[DayBar, ...], tuple[BarRun, ...], float | None]
_BARS: dict[tuple[DayUptime, ...], _Bars] = {}
_LAST: dict[str, tuple[tuple[DayUptime, ...], _Bars]] = {}  # monitor -> its days, bars
_BARS_KEPT = 20_000  # monitors' bars remembered; past it the memory starts afresh


def _bars(name: str, days: tuple[DayUptime, ...]) -> _Bars:
    """A monitor's bars, runs and uptime, worked out once per distinct 90 days: between
    two builds of a page only today changes, and most monitors' days repeat (a status page
    of 1,000 monitors is 90,000 days to classify and label).

    Each monitor's last days are asked first: the directory hands the same day objects
    again, so comparing them is a pass over 90 pointers where hashing them is 360 values.
    The same bars come back as the same object (the page's fragments rely on it)."""
    last = _LAST.get(name)
    if last is not None and last[0] == days:
        return last[1]
    found = _BARS.get(days)
    if found is None:
        bars = tuple(day_bar(day) for day in days)
        known = [d.uptime for d in days if d.uptime is not None]
        found = (bars, tuple(bar_runs(bars)), sum(known) / len(known) if known else None)
        if len(_BARS) >= _BARS_KEPT:
            _BARS.clear()
        _BARS[days] = found
    if len(_LAST) >= _BARS_KEPT:
        _LAST.clear()
    _LAST[name] = (days, found)
    return found


def monitor_view(state: MonitorState, days: Sequence[DayUptime]) -> MonitorView:
    key = tuple(days)
    bars, runs, uptime = _bars(state.name, key)
    return MonitorView(state=state, days=key, bars=bars, runs=runs, uptime=uptime)


def _unknown(name: str) -> MonitorState:
    return MonitorState(
        name=name,
        type="",
        status="pending",
        last_check=None,
        latency_ms=None,
        message="not checked yet",
    )


async def build_view(
    page: StatusPage,
    directory: MonitorDirectory,
    incidents: Sequence[Incident],
    *,
    now: float,
    public_url: str,
) -> PageView:
    names = list(page.monitors)
    states = {s.name: s for s in await directory.states(names)}
    days = await directory.daily_uptime(names, DAYS)
    views = {
        name: monitor_view(states.get(name) or _unknown(name), days.get(name, ())) for name in names
    }
    active = tuple(i for i in incidents if i.is_open)
    groups = tuple(
        GroupView(g.name, g.description, tuple(views[n] for n in g.monitors)) for g in page.groups
    )
    return PageView(
        page=page,
        url=f"{public_url}/status/{page.slug}",
        overall=overall([v.state for v in views.values()], active),
        groups=groups,
        active=active,
        recent=tuple(i for i in incidents if not i.is_open),
        now=now,
    )
