"""What the live view shows, read over HTTP from every part of the running demo.

:class:`Watcher` polls the service's ``/metrics``, the hub's monitors and error traces,
Prometheus's alerts and Alertmanager's, and counts the Slack stand-in's messages, into
one :class:`Snapshot`. :func:`changes` turns two snapshots into the story's events
(``monitor api-health: up -> degraded``, ``Prometheus: HighErrorRate critical firing``).
A part that does not answer keeps its last value: the view never stops for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from .figures import MetricsWindow, ServiceFigures
from .incident import Timeline
from .stack import DemoUrls

__all__ = ["AlertState", "Snapshot", "Watcher", "changes"]


@dataclass(frozen=True, slots=True, order=True)
class AlertState:
    """One alert as Prometheus or Alertmanager holds it."""

    name: str
    severity: str
    state: str  # Prometheus: pending | firing; Alertmanager: active | suppressed

    @property
    def label(self) -> str:
        return f"{self.name} ({self.severity})" if self.severity else self.name


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The demo at one moment."""

    at: float
    phase: str
    service: ServiceFigures | None = None
    monitors: Mapping[str, str] = field(default_factory=dict)
    rules: tuple[AlertState, ...] = ()
    alertmanager: tuple[AlertState, ...] = ()
    notifications: int = 0
    error_traces: int | None = None


def _alerts(
    items: list[dict[str, Any]], state: Callable[[dict[str, Any]], str]
) -> tuple[AlertState, ...]:
    found = {
        AlertState(
            str(item.get("labels", {}).get("alertname", "?")),
            str(item.get("labels", {}).get("severity", "")),
            state(item),
        )
        for item in items
    }
    return tuple(sorted(found))


class Watcher:
    """Polls the demo's parts; :meth:`poll` returns the next :class:`Snapshot`."""

    def __init__(
        self,
        urls: DemoUrls,
        timeline: Timeline,
        notifications: Callable[[], int],
        client: httpx.AsyncClient,
        *,
        hub_monitors: bool = False,
    ) -> None:
        self.urls = urls
        self.timeline = timeline
        self.notifications = notifications
        self.client = client
        self.hub_monitors = hub_monitors
        self.window = MetricsWindow()
        self.last = Snapshot(time.time(), timeline.phase())

    async def _json(self, url: str) -> Any:
        try:
            response = await self.client.get(url)
            return response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    async def _service(self) -> ServiceFigures | None:
        try:
            response = await self.client.get(self.urls.metrics)
        except httpx.HTTPError:
            return self.last.service
        if response.status_code == 200:
            self.window.add(time.time(), response.text)
        return self.window.figures()

    async def _monitors(self) -> Mapping[str, str]:
        body = await self._json(f"{self.urls.hub}/api/v1/monitors") if self.hub_monitors else None
        if not isinstance(body, dict):
            return self.last.monitors
        return {str(m["name"]): str(m.get("status", "?")) for m in body.get("monitors", [])}

    async def _rules(self) -> tuple[AlertState, ...]:
        if self.urls.prometheus is None:
            return ()
        body = await self._json(f"{self.urls.prometheus}/api/v1/alerts")
        if not isinstance(body, dict):
            return self.last.rules
        items = body.get("data", {}).get("alerts", [])
        return _alerts(items, lambda item: str(item.get("state", "")))

    async def _alertmanager(self) -> tuple[AlertState, ...]:
        if self.urls.alertmanager is None:
            return ()
        body = await self._json(f"{self.urls.alertmanager}/api/v2/alerts")
        if not isinstance(body, list):
            return self.last.alertmanager
        return _alerts(body, lambda item: str(item.get("status", {}).get("state", "")))

    async def _error_traces(self) -> int | None:
        if self.urls.traces is None:
            return None
        body = await self._json(f"{self.urls.hub}/api/v1/traces?status=error&limit=1000")
        if not isinstance(body, dict):
            return self.last.error_traces
        return len(body.get("traces", []))

    async def poll(self) -> Snapshot:
        now = time.time()
        snapshot = Snapshot(
            at=now,
            phase=self.timeline.phase(now),
            service=await self._service(),
            monitors=await self._monitors(),
            rules=await self._rules(),
            alertmanager=await self._alertmanager(),
            notifications=self.notifications(),
            error_traces=await self._error_traces(),
        )
        self.last = snapshot
        return snapshot

    def elapsed(self, snapshot: Snapshot) -> float:
        return snapshot.at - self.timeline.started_at


_PHASE_EVENTS = {
    "incident": "INCIDENT: the LLM provider's OpenAI API starts failing (errors, slow answers)",
    "after": "RECOVERY: the LLM provider answers normally again",
}


_SHOWN = {"firing": "firing", "active": "received", "suppressed": "inhibited"}


def _alert_changes(
    source: str, old: tuple[AlertState, ...], new: tuple[AlertState, ...]
) -> list[str]:
    """Alerts that started firing (or reached Alertmanager) and those that resolved;
    pending alerts show in the panel only."""
    before = {(a.name, a.severity): a.state for a in old if a.state in _SHOWN}
    after = {(a.name, a.severity): a.state for a in new if a.state in _SHOWN}
    events = [
        f"{source}: {AlertState(*key, state).label} {_SHOWN[state]}"
        for key, state in after.items()
        if before.get(key) != state
    ]
    events += [
        f"{source}: {AlertState(*key, '').label} resolved" for key in before if key not in after
    ]
    return events


def changes(old: Snapshot, new: Snapshot) -> list[str]:
    """The events between two snapshots, as lines of the story."""
    events = [_PHASE_EVENTS[new.phase]] if new.phase != old.phase else []
    for name, status in new.monitors.items():
        previous = old.monitors.get(name)
        if previous is not None and previous != status:
            events.append(f"hub monitor {name}: {previous} -> {status}")
    events += _alert_changes("Prometheus", old.rules, new.rules)
    events += _alert_changes("Alertmanager", old.alertmanager, new.alertmanager)
    old_runs = old.service.notifier_runs if old.service else 0
    if new.service is not None and new.service.notifier_runs > old_runs:
        events.append(f"notifier workflow ran ({new.service.notifier_runs:.0f} runs so far)")
    if new.error_traces and not old.error_traces:
        events.append(f"hub trace store: {new.error_traces} error traces (errors first at /traces)")
    return events
