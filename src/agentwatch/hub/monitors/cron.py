"""Five-field cron expressions (minute hour day-of-month month day-of-week), as crontab(5).

Fields take ``*``, numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, and lists
``a,b``; day-of-week 0 or 7 is Sunday. As in cron, when both day fields are restricted a
day matches either. Enough for maintenance windows; no names, no ``@hourly``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Cron", "CronError", "parse_cron"]

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    def matches(self, at: datetime) -> bool:
        if at.minute not in self.minutes or at.hour not in self.hours:
            return False
        if at.month not in self.months:
            return False
        day_ok = at.day in self.days
        weekday_ok = (at.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok

    def last_before(self, at: datetime, within: timedelta) -> datetime | None:
        """The latest minute ≤ ``at`` the expression matches, looking back ``within``."""
        moment = at.replace(second=0, microsecond=0)
        earliest = at - within
        while moment >= earliest:
            if self.matches(moment):
                return moment
            moment -= timedelta(minutes=1)
        return None


def parse_cron(text: str) -> Cron:
    fields = text.split()
    if len(fields) != 5:
        raise CronError("expected five fields: minute hour day-of-month month day-of-week")
    values = [_field(f, low, high) for f, (low, high) in zip(fields, _RANGES, strict=True)]
    weekdays = frozenset(v % 7 for v in values[4])
    return Cron(
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        any_day=fields[2] == "*",
        any_weekday=fields[4] == "*",
    )


def _field(text: str, low: int, high: int) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = _number(step_text, 1, 1000) if step_text else 1
        if body == "*":
            start, end = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            start, end = _number(a, low, high), _number(b, low, high)
        else:
            start = _number(body, low, high)
            end = high if step_text else start
        if start > end:
            raise CronError(f"{part!r}: the range goes backwards")
        out.update(range(start, end + 1, step))
    return frozenset(out)


def _number(text: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise CronError(f"{text!r} is not a number from {low} to {high}")
    return int(text)
