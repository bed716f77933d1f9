"""Alert rules: the http and runtime packs here, the table of every pack's rules below.

Every rule selects ``service="<service>"`` and aggregates ``by (service, ...)``, so the
alert carries the service label Alertmanager groups by. Host rules (node-exporter,
postgres-exporter, redis-exporter) carry the exporter's ``instance`` instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

from .._catalog import PACKS, get_spec
from .._catalog.packfile import pack_file
from .._exceptions import ConfigurationError
from ._alerts_agents import agent_rules, llm_rules, tool_rules, workflow_rules
from ._alerts_guard import agentwatch_rules, business_rules, health_rules
from ._alerts_infra import cache_rules, circuit_rules, db_rules, host_rules, queue_rules
from ._alerts_security import security_rules
from ._options import HOST_PACK, HTTP_SERVER_ERROR
from ._packfiles import pack_file_rules
from ._rules import AlertRule, RuleContext, Scenario, counter, gauge, hist
from ._units import dec, fmt

__all__ = ["BUILTIN_PACKS", "alert_rules"]

_ROUTE = {"method": "GET", "route": "/items/{id}"}
_LATENCY = "http_request_duration_seconds"


_PER_STEP = 1000  # requests per test step in the error-rate scenarios


def _error_rate(c: RuleContext, severity: str) -> AlertRule:
    limits = c.options.settings.thresholds
    threshold = getattr(limits, f"error_rate_{severity}")
    ratio = c.ratio("service", "http_requests_total", f"status=~{HTTP_SERVER_ERROR}")
    pct = fmt(threshold * 100)
    bad = min(_PER_STEP, math.ceil(threshold * _PER_STEP * Decimal("1.5")))
    calm = math.floor(limits.error_rate_warning * _PER_STEP / 3)
    return AlertRule(
        name="HighErrorRate",
        pack="http",
        severity=severity,
        expr=f"{ratio} > {fmt(threshold)}",
        for_minutes=limits.minutes(f"error_rate_{severity}_for"),
        summary=f"{{{{ $labels.service }}}}: more than {pct}% of requests fail",
        description=f"More than {pct}% of HTTP requests to {{{{ $labels.service }}}} answered 5xx.",
        scenario=Scenario(
            fire=(
                counter("http_requests_total", _PER_STEP - bad, **_ROUTE, status="200"),
                counter("http_requests_total", bad, **_ROUTE, status="500"),
            ),
            quiet=(
                counter("http_requests_total", _PER_STEP - calm, **_ROUTE, status="200"),
                counter("http_requests_total", calm, **_ROUTE, status="503"),
            ),
            also=(("severity", "warning"),) if severity == "critical" else (),
        ),
        impact="Users get errors; agents and workflows started over HTTP fail.",
        diagnosis=(
            (
                "Error ratio by route",
                c.ratio("service, route", "http_requests_total", f"status=~{HTTP_SERVER_ERROR}"),
            ),
            ("Errors by type", c.sum_rate("route, error_type", "http_request_errors_total")),
        ),
        resolution=(
            "Open the error traces in the trace viewer (every error trace is kept).",
            "Roll back the last deploy if errors started with it.",
            "Check the dependencies the failing routes call (database, LLM provider, tools).",
        ),
    )


def _latency_buckets(threshold: Decimal) -> tuple[dict[str, int], dict[str, int]]:
    """Bucket counts whose p95 is above ``threshold`` (fire) and at most it (quiet)."""
    bounds = [dec(b) for b in get_spec("http_request_duration_seconds").buckets]
    above = [b for b in bounds if b >= threshold]
    below = [b for b in bounds if b <= threshold]
    if not below or len(above) < 2:
        raise ConfigurationError(
            "thresholds.latency_p95_seconds",
            str(threshold),
            f"a latency from {fmt(bounds[0])} s to below {fmt(bounds[-2])} s (the buckets)",
        )
    low, high = above[0], above[1]  # every observation in (low, high]: p95 > low >= threshold
    fire = {repr(float(low)): 0, repr(float(high)): 10, "+Inf": 10}
    quiet = {repr(float(below[-1])): 10, "+Inf": 10}
    return fire, quiet


def _latency(c: RuleContext) -> AlertRule:
    limits = c.options.settings.thresholds
    threshold, minutes = limits.latency_p95_seconds, limits.minutes("latency_for")
    fire, quiet = _latency_buckets(threshold)
    return AlertRule(
        name="HighLatencyP95",
        pack="http",
        severity="warning",
        expr=f"{c.quantile('0.95', 'service', _LATENCY)} > {fmt(threshold)}",
        for_minutes=minutes,
        summary=f"{{{{ $labels.service }}}}: p95 latency above {fmt(threshold)}s",
        description="The 95th percentile of HTTP request duration of {{ $labels.service }} "
        f"has been above {fmt(threshold)} seconds for {minutes} minutes.",
        scenario=Scenario(
            fire=hist(_LATENCY, fire, **_ROUTE), quiet=hist(_LATENCY, quiet, **_ROUTE)
        ),
        impact="Requests are slow; clients may time out and retry, adding load.",
        diagnosis=(
            ("p95 by route", c.quantile("0.95", "service, route", _LATENCY)),
            ("Requests in progress", c.sel("http_requests_in_progress")),
            ("Event-loop lag", c.sel("asyncio_event_loop_lag_seconds")),
        ),
        resolution=(
            "Find the slow routes and open their slowest traces.",
            "Check database and LLM latency panels; scale out if the service is saturated.",
        ),
    )


def _http(c: RuleContext) -> list[AlertRule]:
    return [
        _error_rate(c, "warning"),
        _error_rate(c, "critical"),
        _latency(c),
        AlertRule(
            name="ServiceDown",
            pack="http",
            severity="critical",
            expr=f"{c.sel('up')} == 0",
            for_minutes=1,
            summary="{{ $labels.service }} is down ({{ $labels.instance }})",
            description="Prometheus cannot scrape {{ $labels.instance }} of {{ $labels.service }}.",
            scenario=Scenario(
                fire=(gauge("up", 0, job=c.service, instance="app:8000"),),
                quiet=(gauge("up", 1, job=c.service, instance="app:8000"),),
                labels={"job": c.service, "instance": "app:8000"},
                true_from=0,
            ),
            impact="The service answers nothing: every user and workflow is affected.",
            diagnosis=(("Targets up", c.sel("up")),),
            resolution=(
                "Check the process or pod: `kubectl get pods`, container logs, /health/live.",
                "If the process runs, check the network path from Prometheus to /metrics.",
            ),
        ),
        AlertRule(
            name="HighRequestsInProgress",
            pack="http",
            severity="warning",
            expr=f"sum by (service) ({c.sel('http_requests_in_progress')}) > 100",
            for_minutes=5,
            summary="{{ $labels.service }}: more than 100 requests in progress",
            description="{{ $labels.service }} holds more than 100 concurrent requests.",
            scenario=Scenario(
                fire=(gauge("http_requests_in_progress", 150, method="POST"),),
                quiet=(gauge("http_requests_in_progress", 3, method="POST"),),
                true_from=0,
            ),
            impact="Connections pile up; latency rises and new requests may be refused.",
            diagnosis=(
                ("In progress by method", c.sel("http_requests_in_progress")),
                (
                    "p95 by route",
                    c.quantile("0.95", "service, route", "http_request_duration_seconds"),
                ),
            ),
            resolution=(
                "Look for a slow dependency holding requests open.",
                "Scale out or shed load (rate limits) until latency recovers.",
            ),
        ),
    ]


def _process_memory(c: RuleContext) -> AlertRule:
    limit = c.options.settings.thresholds.process_memory_bytes
    rss = "process_resident_memory_bytes"
    mib = fmt(limit / 1024 / 1024)
    return AlertRule(
        name="ProcessMemoryHigh",
        pack="runtime",
        severity="warning",
        expr=f"max by (service, instance) ({c.sel(rss)}) > {fmt(limit)}",
        for_minutes=10,
        summary=f"{{{{ $labels.service }}}}: {{{{ $labels.instance }}}} uses more than {mib} MiB",
        description="The resident memory of {{ $labels.instance }} of {{ $labels.service }} "
        f"has been above {mib} MiB for 10 minutes.",
        scenario=Scenario(
            fire=(gauge(rss, fmt(limit * 2), instance="app:8000"),),
            quiet=(gauge(rss, fmt(limit / 4), instance="app:8000"),),
            labels={"instance": "app:8000"},
            true_from=0,
        ),
        impact="The process may be killed for memory (OOM) and restart, dropping requests.",
        diagnosis=(
            ("Resident memory", c.sel(rss)),
            ("Requests in progress", c.sel("http_requests_in_progress")),
        ),
        resolution=(
            "Look for caches or buffers growing without bound (a heap profile: tracemalloc, "
            "memray).",
            "Raise the memory limit (thresholds.process_memory_bytes and the pod limit) only "
            "if the growth is expected.",
        ),
    )


def _runtime(c: RuleContext) -> list[AlertRule]:
    lag = "asyncio_event_loop_lag_seconds"
    return [
        _process_memory(c),
        AlertRule(
            name="EventLoopLag",
            pack="runtime",
            severity="warning",
            expr=f"max by (service) ({c.sel(lag)}) > 0.1",
            for_minutes=5,
            summary="{{ $labels.service }}: asyncio event loop lags more than 100ms",
            description="The event loop of {{ $labels.service }} runs callbacks more than "
            "100 ms late: something blocks it.",
            scenario=Scenario(fire=(gauge(lag, "0.5"),), quiet=(gauge(lag, "0.002"),), true_from=0),
            impact="Every request on the blocked worker waits; latency rises across routes.",
            diagnosis=(
                ("Lag now", c.sel(lag)),
                ("Worst lag per minute", c.sel("asyncio_event_loop_lag_max_seconds")),
                ("CPU", f"rate({c.sel('process_cpu_seconds_total')}[{c.win(5)}])"),
            ),
            resolution=(
                "Find blocking calls (sync I/O, CPU-heavy work) in slow traces; move them to "
                "a thread or process pool.",
            ),
        ),
    ]


_BY_PACK: dict[str, Callable[[RuleContext], list[AlertRule]]] = {
    "http": _http,
    "runtime": _runtime,
    HOST_PACK: host_rules,
    "db": db_rules,
    "cache": cache_rules,
    "queue": queue_rules,
    "circuit": circuit_rules,
    "llm": llm_rules,
    "agent": agent_rules,
    "workflow": workflow_rules,
    "tool": tool_rules,
    "security": security_rules,
    "health": health_rules,
    "agentwatch": agentwatch_rules,
}
BUILTIN_PACKS = frozenset(_BY_PACK)


def alert_rules(ctx: RuleContext, packs: tuple[str, ...]) -> list[AlertRule]:
    """Every alert rule for the chosen packs, in pack order; pack files and business packs included."""
    rules: list[AlertRule] = []
    for pack in packs:
        builder = _BY_PACK.get(pack)
        if builder is not None:
            rules += builder(ctx)
        elif (declared := pack_file(pack)) is not None:
            rules += pack_file_rules(ctx, declared)
        elif pack in PACKS:
            rules += business_rules(ctx, pack, PACKS[pack])
    return rules
