"""Alert rules: the http and runtime packs here, the table of every pack's rules below.

Every rule selects ``service="<service>"`` and aggregates ``by (service, ...)``, so the
alert carries the service label Alertmanager groups by. Host rules (node-exporter,
postgres-exporter, redis-exporter) carry the exporter's ``instance`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from .._catalog import PACKS
from ._alerts_agents import agent_rules, llm_rules, tool_rules, workflow_rules
from ._alerts_guard import agentwatch_rules, business_rules, health_rules, security_rules
from ._alerts_infra import cache_rules, circuit_rules, db_rules, host_rules, queue_rules
from ._options import HOST_PACK, HTTP_SERVER_ERROR
from ._rules import AlertRule, RuleContext, Scenario, counter, gauge, hist
from ._units import fmt

__all__ = ["BUILTIN_PACKS", "alert_rules"]

_ROUTE = {"method": "GET", "route": "/items/{id}"}


def _error_rate(c: RuleContext, severity: str, threshold: str, bad: int) -> AlertRule:
    ratio = c.ratio("service", "http_requests_total", f"status=~{HTTP_SERVER_ERROR}")
    pct = fmt(Decimal(threshold) * 100)
    return AlertRule(
        name="HighErrorRate",
        pack="http",
        severity=severity,
        expr=f"{ratio} > {fmt(Decimal(threshold))}",
        for_minutes=5,
        summary=f"{{{{ $labels.service }}}}: more than {pct}% of requests fail",
        description=f"More than {pct}% of HTTP requests to {{{{ $labels.service }}}} answered 5xx.",
        scenario=Scenario(
            fire=(
                counter("http_requests_total", 100 - bad, **_ROUTE, status="200"),
                counter("http_requests_total", bad, **_ROUTE, status="500"),
            ),
            quiet=(
                counter("http_requests_total", 99, **_ROUTE, status="200"),
                counter("http_requests_total", 1, **_ROUTE, status="503"),
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


def _http(c: RuleContext) -> list[AlertRule]:
    return [
        _error_rate(c, "warning", "0.05", 7),
        _error_rate(c, "critical", "0.10", 20),
        AlertRule(
            name="HighLatencyP95",
            pack="http",
            severity="warning",
            expr=f"{c.quantile('0.95', 'service', 'http_request_duration_seconds')} > 1",
            for_minutes=10,
            summary="{{ $labels.service }}: p95 latency above 1s",
            description="The 95th percentile of HTTP request duration of {{ $labels.service }} "
            "has been above 1 second for 10 minutes.",
            scenario=Scenario(
                fire=hist(
                    "http_request_duration_seconds",
                    {"0.5": 0, "1.0": 0, "2.5": 10, "+Inf": 10},
                    **_ROUTE,
                ),
                quiet=hist(
                    "http_request_duration_seconds",
                    {"0.1": 10, "0.5": 10, "1.0": 10, "2.5": 10, "+Inf": 10},
                    **_ROUTE,
                ),
            ),
            impact="Requests are slow; clients may time out and retry, adding load.",
            diagnosis=(
                (
                    "p95 by route",
                    c.quantile("0.95", "service, route", "http_request_duration_seconds"),
                ),
                ("Requests in progress", c.sel("http_requests_in_progress")),
                ("Event-loop lag", c.sel("asyncio_event_loop_lag_seconds")),
            ),
            resolution=(
                "Find the slow routes and open their slowest traces.",
                "Check database and LLM latency panels; scale out if the service is saturated.",
            ),
        ),
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


def _runtime(c: RuleContext) -> list[AlertRule]:
    lag = "asyncio_event_loop_lag_seconds"
    return [
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
    """Every alert rule for the chosen packs, in pack order; business packs included."""
    rules: list[AlertRule] = []
    for pack in packs:
        builder = _BY_PACK.get(pack)
        if builder is not None:
            rules += builder(ctx)
        elif pack in PACKS:
            rules += business_rules(ctx, pack, PACKS[pack])
    return rules
