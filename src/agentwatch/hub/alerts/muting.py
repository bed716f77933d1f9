"""Why a firing alert is not notified right now: silenced, inhibited, in maintenance, or
held because the monitor it depends on is down.

Only firing alerts are ever muted: a resolve goes to every channel that was told of the
firing, whatever holds the alert now (Alertmanager's silences also swallow resolves; the
hub does not).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..parts import MaintenanceCalendar
from .config import InhibitRule
from .matchers import Matcher, matches_all
from .model import FIRING, AlertRecord
from .tables import alerts

__all__ = ["MONITOR_DOWN", "Muting", "Silence"]

MONITOR_DOWN = "MonitorDown"


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str


@dataclass
class Muting:
    """Mute reasons for one flush pass (lookups cached for the pass)."""

    conn: AsyncConnection
    silences: Sequence[Silence]
    inhibit: Sequence[InhibitRule]
    maintenance: MaintenanceCalendar
    now: float
    _sources: dict[tuple[int, str], list[AlertRecord]] = field(default_factory=dict)
    _parents: dict[str, bool] = field(default_factory=dict)

    async def reason(self, alert: AlertRecord) -> str | None:
        """``"silenced by #3"``, ``"inhibited by <fp>"``, ``"maintenance <name>"``, ``"held
        while <parent> is down"``, or None when the alert is to be notified."""
        if alert.status != FIRING:
            return None
        for silence in self.silences:
            if silence.starts_at <= self.now < silence.ends_at and matches_all(
                silence.matchers, alert.labels
            ):
                return f"silenced by #{silence.id}"
        inhibitor = await self._inhibitor(alert)
        if inhibitor is not None:
            return f"inhibited by {inhibitor}"
        window = self.maintenance.active_for(alert.labels, self.now)
        if window:
            return f"maintenance {window}"
        if alert.cause and await self.parent_down(alert.cause):
            return f"held while {alert.cause} is down"
        return None

    async def parent_down(self, monitor: str) -> bool:
        if monitor not in self._parents:
            row = await self.conn.execute(
                sa.select(alerts.c.fingerprint)
                .where(alerts.c.monitor == monitor, alerts.c.alertname == MONITOR_DOWN)
                .where(alerts.c.status == FIRING)
                .limit(1)
            )
            self._parents[monitor] = row.first() is not None
        return self._parents[monitor]

    async def _inhibitor(self, alert: AlertRecord) -> str | None:
        for index, rule in enumerate(self.inhibit):
            if not matches_all(rule.target, alert.labels):
                continue
            for source in await self._source_alerts(index, rule, alert):
                if source.fingerprint == alert.fingerprint:
                    continue
                if all(source.labels.get(n, "") == alert.labels.get(n, "") for n in rule.equal):
                    return source.fingerprint
        return None

    async def _source_alerts(
        self, index: int, rule: InhibitRule, alert: AlertRecord
    ) -> list[AlertRecord]:
        alertname = alert.alertname if "alertname" in rule.equal else ""
        key = (index, alertname)
        if key not in self._sources:
            query = sa.select(alerts).where(alerts.c.status == FIRING)
            if alertname:
                query = query.where(alerts.c.alertname == alertname)
            rows = (await self.conn.execute(query)).all()
            found = [AlertRecord.from_row(r) for r in rows]
            self._sources[key] = [a for a in found if matches_all(rule.source, a.labels)]
        return self._sources[key]
