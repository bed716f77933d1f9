"""The service's figures, read from its own ``/metrics``: rates over a sliding window.

:class:`MetricsWindow` keeps the scrapes of the last ``seconds`` and answers requests per
second, the share of 5xx answers and the p95 latency over that window (the same
arithmetic as PromQL's ``rate`` and ``histogram_quantile``), so the live view shows what
Prometheus would, also when Prometheus is not installed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["MetricsWindow", "Sample", "ServiceFigures", "Values", "parse_values", "total"]

Values = dict[str, list[tuple[dict[str, str], float]]]


def parse_values(text: str) -> Values:
    """Sample name -> [(labels, value)] of a Prometheus text exposition."""
    values: Values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values.setdefault(sample.name, []).append((sample.labels, sample.value))
    return values


def total(values: Values, name: str, **match: str) -> float:
    """Sum of the samples of ``name`` whose labels have the ``match`` values."""
    return sum(
        value
        for labels, value in values.get(name, [])
        if all(labels.get(key) == wanted for key, wanted in match.items())
    )


@dataclass(frozen=True, slots=True)
class Sample:
    """The counters of one scrape that the window needs."""

    at: float
    requests: float
    errors: float
    buckets: Mapping[float, float]  # upper bound -> cumulative count, over every route
    traces_kept: float
    spans_exported: float
    notifier_runs: float


def sample_of(at: float, values: Values) -> Sample:
    buckets: dict[float, float] = {}
    for labels, value in values.get("http_request_duration_seconds_bucket", []):
        bound = float(labels["le"])
        buckets[bound] = buckets.get(bound, 0.0) + value
    errors = sum(
        value
        for labels, value in values.get("http_requests_total", [])
        if labels.get("status", "").startswith("5")
    )
    return Sample(
        at=at,
        requests=total(values, "http_requests_total"),
        errors=errors,
        buckets=buckets,
        traces_kept=total(values, "agentwatch_traces_sampled_total", decision="keep"),
        spans_exported=total(values, "agentwatch_spans_exported_total"),
        notifier_runs=total(values, "workflow_runs_total", workflow="alert_notifier"),
    )


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """``histogram_quantile`` over cumulative bucket counts; None without observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


@dataclass(frozen=True, slots=True)
class ServiceFigures:
    """What the live view shows of the service."""

    requests_per_second: float
    error_rate: float | None  # share of 5xx answers; None without requests
    p95_seconds: float | None
    traces_kept: float
    spans_exported: float
    notifier_runs: float


class MetricsWindow:
    """Scrapes of the last ``seconds``; :meth:`figures` compares the newest with the oldest."""

    def __init__(self, seconds: float = 10.0) -> None:
        self.seconds = seconds
        self._samples: deque[Sample] = deque()

    def add(self, at: float, text: str) -> None:
        self._samples.append(sample_of(at, parse_values(text)))
        while len(self._samples) > 2 and at - self._samples[1].at >= self.seconds:
            self._samples.popleft()

    def figures(self) -> ServiceFigures | None:
        if not self._samples:
            return None
        old, new = self._samples[0], self._samples[-1]
        span = new.at - old.at
        requests = new.requests - old.requests
        buckets = {b: n - old.buckets.get(b, 0.0) for b, n in new.buckets.items()}
        return ServiceFigures(
            requests_per_second=requests / span if span > 0 else 0.0,
            error_rate=(new.errors - old.errors) / requests if requests > 0 else None,
            p95_seconds=quantile(0.95, buckets),
            traces_kept=new.traces_kept,
            spans_exported=new.spans_exported,
            notifier_runs=new.notifier_runs,
        )
