"""The alerts part's metrics, on the hub's own registry (served at ``/metrics``).

- ``agentwatch_notifications_total{channel,result}``: ``sent``; ``failed`` (an attempt
  that will be retried); ``dead`` (dead-lettered); ``coalesced`` (folded into a storm
  summary, which is counted itself when sent).
- ``agentwatch_alerts_received_total{source}``: alerts accepted, by intake.
- ``agentwatch_notification_delay_seconds{channel}``: from the row's creation to delivery.
- ``agentwatch_outbox_rows{state}``: rows by state (refreshed every few seconds).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["AlertMetrics"]

DELAY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400)


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            "agentwatch_notifications",
            "Notifications by channel and result: sent, failed (an attempt to be retried), "
            "dead (dead-lettered), coalesced (folded into a storm summary).",
            ["channel", "result"],
            registry=registry,
        )
        self.received = Counter(
            "agentwatch_alerts_received",
            "Alerts accepted by the hub, by source.",
            ["source"],
            registry=registry,
        )
        self.delay = Histogram(
            "agentwatch_notification_delay_seconds",
            "Seconds from a notification's creation in the outbox to its delivery.",
            ["channel"],
            buckets=DELAY_BUCKETS,
            registry=registry,
        )
        self.outbox = Gauge(
            "agentwatch_outbox_rows",
            "Outbox rows by state (pending, sending, sent, dead, coalesced).",
            ["state"],
            registry=registry,
        )
