"""What an alert is in the hub: its identity (fingerprint), what arrives, what is stored.

The fingerprint is Alertmanager's (FNV-1a 64 over the sorted label names and values, each
followed by the byte 0xff, as 16 hex digits), so an alert has the same fingerprint in
``amtool`` and in the hub, whichever way it arrived.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = ["FIRING", "RESOLVED", "AlertRecord", "IncomingAlert", "fingerprint"]

FIRING, RESOLVED = "firing", "resolved"
_FNV_OFFSET, _FNV_PRIME, _MASK = 14695981039346656037, 1099511628211, (1 << 64) - 1


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set, e.g. ``"c6eadffa33fcdf37"``."""
    value = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8"):
                value = ((value ^ byte) * _FNV_PRIME) & _MASK
            value = ((value ^ 0xFF) * _FNV_PRIME) & _MASK
    return f"{value:016x}"


@dataclass(frozen=True, slots=True)
class IncomingAlert:
    """An alert as an intake (or a monitor or incident change) hands it over."""

    labels: Mapping[str, str]
    status: str  # firing | resolved
    source: str  # alertmanager | grafana | generic | monitor | incident
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: float | None = None
    ends_at: float | None = None
    generator_url: str = ""
    trace_id: str | None = None
    monitor: str | None = None  # the monitor whose own alert this is
    cause: str | None = None  # the depends_on parent monitor that is down
    links: Mapping[str, str] = field(default_factory=dict)  # dashboard, status_page, ...
    update: bool = False  # a new revision even without a status change (incident updates)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)


class AlertRecord(NamedTuple):
    """A row of ``alerts_alerts``."""

    fingerprint: str
    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]
    links: dict[str, str]
    status: str
    source: str
    revision: int
    starts_at: float
    ends_at: float | None
    first_seen: float
    last_seen: float
    resolved_at: float | None
    generator_url: str
    trace_id: str | None
    monitor: str | None
    cause: str | None
    acked_at: float | None
    acked_by: str | None
    ack_comment: str | None

    @classmethod
    def from_row(cls, row: Any) -> AlertRecord:
        return cls(**{name: getattr(row, name) for name in cls._fields})

    @property
    def token(self) -> str:
        """What a channel was told about this alert: fingerprint and revision."""
        return f"{self.fingerprint}@{self.revision}"
