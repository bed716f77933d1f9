"""Monitor and incident changes as alerts (the monitors and status parts publish them).

A monitor that goes ``down`` fires ``MonitorDown`` (severity from the monitor's labels,
default ``critical``) and resolves ``MonitorDegraded``; ``degraded`` fires
``MonitorDegraded`` (``warning``) and resolves ``MonitorDown``; ``up`` or ``paused``
resolves both; a monitor deleted (API) or dropped from hub.yaml while down or degraded
(``removed``) resolves both too. Labels: ``alertname``, ``monitor``, ``service`` (the monitor's, or its
name), ``severity`` and the monitor's own labels. A change with ``cause`` set (its
``depends_on`` parent is down) is held while the parent is down and named in the parent's
notification. An incident is ``StatusPageIncident`` (severity ``info``, label ``impact``),
firing until it is resolved; every update is news for the channels it goes to.
"""

from __future__ import annotations

from ..events import IncidentChange, MonitorChange
from .model import FIRING, RESOLVED, IncomingAlert
from .muting import MONITOR_DOWN

__all__ = ["INCIDENT", "MONITOR_DEGRADED", "incident_alerts", "monitor_alerts"]

MONITOR_DEGRADED = "MonitorDegraded"
INCIDENT = "StatusPageIncident"
_WORDS = {"down": "is down", "degraded": "is degraded"}


def _monitor_alert(
    event: MonitorChange, alertname: str, status: str, hub_url: str
) -> IncomingAlert:
    severity = (
        "warning" if alertname == MONITOR_DEGRADED else event.labels.get("severity", "critical")
    )
    labels = {
        **event.labels,
        "alertname": alertname,
        "monitor": event.monitor,
        "service": event.labels.get("service") or event.monitor,
        "severity": severity,
    }
    state = event.status if status == FIRING else "up"
    summary = f"{event.monitor} {_WORDS.get(state, 'recovered')}"
    if event.status == "removed":
        summary = f"{event.monitor} was removed from the hub"
    elif event.status == "paused":  # resolved because no longer checked, not "recovered"
        summary = f"{event.monitor} was paused: no longer checked"
    annotations = {"summary": summary, "description": event.message}
    if event.target:
        annotations["target"] = event.target
    if event.monitor_type:
        annotations["monitor_type"] = event.monitor_type
    links = {"status_page": f"{hub_url}/status/{event.pages[0]}"} if event.pages else {}
    return IncomingAlert(
        labels=labels,
        status=status,
        source="monitor",
        annotations=annotations,
        starts_at=event.at if status == FIRING else None,
        ends_at=event.at if status == RESOLVED else None,
        trace_id=event.trace_id,
        monitor=event.monitor,
        cause=event.cause,
        links=links,
    )


def monitor_alerts(event: MonitorChange, hub_url: str) -> list[IncomingAlert]:
    """The alerts a monitor's change fires and resolves (none for pending/maintenance)."""
    if event.status == "down":
        fire, clear = [MONITOR_DOWN], [MONITOR_DEGRADED]
    elif event.status == "degraded":
        fire, clear = [MONITOR_DEGRADED], [MONITOR_DOWN]
    elif event.status in ("up", "paused", "removed"):
        fire, clear = [], [MONITOR_DOWN, MONITOR_DEGRADED]
    else:
        return []
    return [_monitor_alert(event, name, FIRING, hub_url) for name in fire] + [
        _monitor_alert(event, name, RESOLVED, hub_url) for name in clear
    ]


def incident_alerts(event: IncidentChange) -> list[IncomingAlert]:
    status = RESOLVED if event.status == "resolved" else FIRING
    labels = {
        "alertname": INCIDENT,
        "incident": str(event.incident_id),
        "severity": "info",
        "impact": event.impact,
    }
    annotations = {
        "summary": event.title,
        "description": event.message,
        "incident_status": event.status,
    }
    if event.monitors:
        annotations["monitors"] = ", ".join(event.monitors)
    return [
        IncomingAlert(
            labels=labels,
            status=status,
            source="incident",
            annotations=annotations,
            starts_at=event.at if status == FIRING else None,
            ends_at=event.at if status == RESOLVED else None,
            links={"status_page": event.url} if event.url else {},
            update=True,
        )
    ]
