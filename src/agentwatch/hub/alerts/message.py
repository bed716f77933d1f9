"""What a notification says: the frozen content of an outbox row, and its wording.

A notification is rendered into the row when it is enqueued (what was true then), as JSON;
each channel turns it into its own format when it sends. A responder gets, per alert:
status, severity, service, summary, description, and the links that exist: runbook,
dashboard, status page, the trace of a failed probe or an exemplar
(``{public_url}/traces/{trace_id}``), the service's error traces (a ``traces_url``
annotation), the alert in the hub, and its source. Annotations ``runbook_url``,
``dashboard_url``, ``status_page_url`` and ``traces_url`` become links.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .model import FIRING, RESOLVED

__all__ = ["ACKNOWLEDGED", "SUMMARY", "AlertView", "Notification", "link_labels"]

ACKNOWLEDGED, SUMMARY = "acknowledged", "summary"
STATUS_WORDS = {
    FIRING: "FIRING",
    RESOLVED: "RESOLVED",
    ACKNOWLEDGED: "ACKNOWLEDGED",
    SUMMARY: "SUMMARY",
}
# link name -> the words shown on a button or before a URL, in the order they are shown
LINK_ORDER = ("runbook", "dashboard", "status_page", "trace", "traces", "alert", "source")
_LINK_WORDS = {
    "runbook": "Runbook",
    "dashboard": "Dashboard",
    "status_page": "Status page",
    "trace": "Trace",
    "traces": "Error traces",
    "alert": "Alert in the hub",
    "source": "Source",
}


def link_labels(links: Mapping[str, str]) -> list[tuple[str, str]]:
    """``[(words, url), ...]`` in the order a responder reads them."""
    return [(_LINK_WORDS[name], links[name]) for name in LINK_ORDER if links.get(name)]


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert as a notification shows it."""

    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None = None
    trace_id: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    held: tuple[str, ...] = ()  # child monitors held while this one is down
    acked_by: str | None = None

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "alert")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "none")

    @property
    def service(self) -> str:
        return self.labels.get("service") or self.labels.get("job") or ""

    @property
    def summary(self) -> str:
        return (
            self.annotations.get("summary")
            or self.annotations.get("title")
            or self.annotations.get("message")
            or self.alertname
        )

    @property
    def description(self) -> str:
        return self.annotations.get("description", "")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertView:
        return cls(**{**data, "held": tuple(data.get("held", ()))})


@dataclass(frozen=True, slots=True)
class Notification:
    """The content of one outbox row (a group's news for one channel, or a storm summary)."""

    key: str  # the idempotency key: group fingerprint, status, channel, group epoch
    channel: str
    status: str  # firing | resolved | acknowledged | summary
    group_fingerprint: str
    group_labels: dict[str, str]
    alerts: tuple[AlertView, ...]
    created_at: float
    hub_url: str
    reason: str = ""  # first | new_alerts | resolved | repeat | ack | storm
    counts: dict[str, int] = field(default_factory=dict)  # summary: notifications, firing, ...

    @property
    def firing(self) -> list[AlertView]:
        return [a for a in self.alerts if a.status == FIRING]

    @property
    def resolved(self) -> list[AlertView]:
        return [a for a in self.alerts if a.status == RESOLVED]

    @property
    def severity(self) -> str:
        order = ("critical", "error", "warning", "info")
        present = {a.severity for a in self.alerts}
        return next(
            (s for s in order if s in present), self.alerts[0].severity if self.alerts else "none"
        )

    @property
    def title(self) -> str:
        """``[FIRING:2] HighErrorRate · agent-api (critical)``."""
        word = STATUS_WORDS.get(self.status, self.status.upper())
        if self.status == SUMMARY:
            total = self.counts.get("notifications", len(self.alerts))
            return f"[{word}] {total} notifications held back by a storm"
        count = f":{len(self.firing)}" if self.status == FIRING else ""
        name = self.group_labels.get("alertname") or (
            self.alerts[0].alertname if self.alerts else "alerts"
        )
        service = self.group_labels.get("service") or (
            self.alerts[0].service if self.alerts else ""
        )
        where = f" · {service}" if service else ""
        return f"[{word}{count}] {name}{where} ({self.severity})"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notification:
        alerts = tuple(AlertView.from_json(a) for a in data.get("alerts", ()))
        return cls(**{**data, "alerts": alerts})

    def text(self, *, limit: int = 20) -> str:
        """Plain text: the title, then one block per alert (the first ``limit``)."""
        lines = [self.title, ""]
        for alert in self.alerts[:limit]:
            lines.extend(alert_lines(alert))
            lines.append("")
        if len(self.alerts) > limit:
            lines.append(f"... and {len(self.alerts) - limit} more")
        return "\n".join(lines).rstrip() + "\n"


def alert_lines(alert: AlertView) -> list[str]:
    """The plain-text lines of one alert."""
    head = f"{STATUS_WORDS.get(alert.status, alert.status.upper())} {alert.summary}"
    lines = [head]
    facts = [f"severity {alert.severity}"]
    if alert.service:
        facts.append(f"service {alert.service}")
    if alert.acked_by:
        facts.append(f"acknowledged by {alert.acked_by}")
    lines.append(", ".join(facts))
    if alert.description:
        lines.append(alert.description)
    if alert.held:
        lines.append("Held while this is down: " + ", ".join(alert.held))
    lines.extend(f"{words}: {url}" for words, url in link_labels(alert.links))
    return lines


def iso(ts: float | None) -> str | None:
    """RFC 3339 in UTC (``2026-12-06T12:34:56.789Z``), None for None."""
    if ts is None:
        return None
    from datetime import UTC, datetime

    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
