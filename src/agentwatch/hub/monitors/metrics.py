"""The monitors' metrics on the hub's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["MonitorMetrics"]


class MonitorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.up = Gauge(
            "agentwatch_monitor_up",
            "1 when the monitor is up or degraded, 0 when down (absent while pending, paused "
            "or in maintenance).",
            ["monitor"],
            registry=registry,
        )
        self.status = Gauge(
            "agentwatch_monitor_status",
            "1 for the monitor's current status.",
            ["monitor", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "agentwatch_monitor_latency_seconds",
            "Time a check took.",
            ["monitor"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.checks = Counter(
            "agentwatch_monitor_checks",
            "Checks run, by what they found.",
            ["monitor", "result"],
            registry=registry,
        )
        self.lateness = Histogram(
            "agentwatch_monitor_check_lateness_seconds",
            "How late a check started after it was due (the scheduler keeping up).",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self._statuses: dict[str, str] = {}

    def show(self, monitor: str, status: str) -> None:
        old = self._statuses.get(monitor)
        if old == status:
            return
        if old is not None:
            self.status.remove(monitor, old)
        self.status.labels(monitor, status).set(1)
        self._statuses[monitor] = status
        if status in ("up", "degraded"):
            self.up.labels(monitor).set(1)
        elif status == "down":
            self.up.labels(monitor).set(0)
        else:
            try:
                self.up.remove(monitor)
            except KeyError:
                pass

    def forget(self, monitor: str) -> None:
        """Drop every series of a monitor that no longer exists."""
        old = self._statuses.pop(monitor, None)
        if old is not None:
            self.status.remove(monitor, old)
        for metric in (self.up, self.latency):
            try:
                metric.remove(monitor)
            except KeyError:
                pass
        results = {
            sample.labels["result"]
            for family in self.checks.collect()
            for sample in family.samples
            if sample.labels.get("monitor") == monitor
        }
        for result in results:
            self.checks.remove(monitor, result)
