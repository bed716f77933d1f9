"""What the dashboards show: boards, rows and panels written against the catalog.

Every query selects ``service="$service"`` (the dashboard's template variable). A panel
names the pack it needs; panels of packs the service does not use are left out, and a
board left empty is not written. This module holds the platform boards and the query
helpers; ``_dashboards_ai`` the agent, workflow, LLM, SLO and business-pack boards.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._options import HTTP_SERVER_ERROR

__all__ = ["Board", "Panel", "p", "platform_boards", "q", "rate", "ratio", "s"]

RATE = "$__rate_interval"
_SERVICE = 'service="$service"'


@dataclass(frozen=True)
class Panel:
    title: str
    pack: str
    queries: tuple[tuple[str, str], ...]  # (expr, legend)
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    width: int = 12


@dataclass(frozen=True)
class Board:
    uid: str
    title: str
    description: str
    rows: tuple[tuple[str, tuple[Panel, ...]], ...]


def s(metric: str, *matchers: str) -> str:
    inner = ",".join((_SERVICE, *matchers))
    return f"{metric}{{{inner}}}"


def rate(metric: str, by: str, *matchers: str, fn: str = "rate", window: str = RATE) -> str:
    group = f"sum by ({by}) " if by else "sum "
    return f"{group}({fn}({s(metric, *matchers)}[{window}]))"


def ratio(metric: str, by: str, matcher: str) -> str:
    return f"{rate(metric, by, matcher)} / {rate(metric, by)}"


def q(quantile: str, metric: str, by: str = "") -> str:
    return f"histogram_quantile({quantile}, {rate(f'{metric}_bucket', ', '.join(filter(None, (by, 'le'))))})"


def p(
    title: str,
    pack: str,
    *queries: tuple[str, str],
    unit: str = "short",
    kind: str = "timeseries",
    width: int = 12,
) -> Panel:
    return Panel(title, pack, queries, unit, kind, width)


_HTTP_ERR = f"status=~{HTTP_SERVER_ERROR}"
_HTTP_LAT = "http_request_duration_seconds"
_HITS = rate("cache_operations_total", "cache", 'result="hit"')
_LOOKUPS = rate("cache_operations_total", "cache", 'result=~"hit|miss"')
_HIT_RATIO = f"{_HITS} / {_LOOKUPS}"


def _system_overview() -> Board:
    return Board(
        "aw-system-overview",
        "System Overview",
        "Dependencies, queues, breakers, resources.",
        (
            (
                "Dependencies",
                (
                    p(
                        "Database p95 latency",
                        "db",
                        (
                            q("0.95", "db_operation_duration_seconds", "operation"),
                            "{{operation}}",
                        ),
                        unit="s",
                    ),
                    p(
                        "Cache (Redis) p95 latency",
                        "cache",
                        (
                            q("0.95", "cache_operation_duration_seconds", "operation"),
                            "{{operation}}",
                        ),
                        unit="s",
                    ),
                    p(
                        "Queue depth",
                        "queue",
                        (f"sum by (queue) ({s('queue_depth')})", "{{queue}}"),
                    ),
                    p(
                        "Circuit breakers (0 closed, 1 half-open, 2 open)",
                        "circuit",
                        (f"max by (breaker) ({s('circuit_breaker_state')})", "{{breaker}}"),
                        kind="stat",
                    ),
                ),
            ),
            (
                "Resources",
                (
                    p(
                        "Memory (resident)",
                        "runtime",
                        (s("process_resident_memory_bytes"), "{{instance}}"),
                        unit="bytes",
                        width=8,
                    ),
                    p(
                        "CPU",
                        "runtime",
                        (f"rate({s('process_cpu_seconds_total')}[{RATE}])", "{{instance}}"),
                        unit="percentunit",
                        width=8,
                    ),
                    p(
                        "Event-loop lag",
                        "runtime",
                        (s("asyncio_event_loop_lag_seconds"), "{{instance}}"),
                        unit="s",
                        width=8,
                    ),
                    p("Targets up", "http", (s("up"), "{{instance}}"), kind="stat"),
                    p(
                        "Health score",
                        "health",
                        (s("health_score"), "{{instance}}"),
                        kind="stat",
                    ),
                ),
            ),
        ),
    )


def _api_performance() -> Board:
    return Board(
        "aw-api-performance",
        "API Performance",
        "Requests, errors and latency by route.",
        (
            (
                "Traffic",
                (
                    p(
                        "Requests per second by route",
                        "http",
                        (rate("http_requests_total", "route"), "{{route}}"),
                        unit="reqps",
                    ),
                    p(
                        "Error rate (5xx share)",
                        "http",
                        (ratio("http_requests_total", "service", _HTTP_ERR), "5xx"),
                        unit="percentunit",
                    ),
                    p(
                        "Requests in progress",
                        "http",
                        (f"sum by (method) ({s('http_requests_in_progress')})", "{{method}}"),
                    ),
                    p(
                        "Errors by type",
                        "http",
                        (rate("http_request_errors_total", "error_type"), "{{error_type}}"),
                    ),
                ),
            ),
            (
                "Latency",
                (
                    p(
                        "Latency p50 / p95 / p99",
                        "http",
                        *(
                            (q(x, _HTTP_LAT), f"p{x[2:].ljust(2, '0')}")
                            for x in ("0.5", "0.95", "0.99")
                        ),
                        unit="s",
                    ),
                    p(
                        "Slowest endpoints (p95)",
                        "http",
                        (f"topk(10, {q('0.95', _HTTP_LAT, 'route')})", "{{route}}"),
                        unit="s",
                    ),
                    p(
                        "Response size p95",
                        "http",
                        (q("0.95", "http_response_size_bytes", "route"), "{{route}}"),
                        unit="bytes",
                    ),
                ),
            ),
        ),
    )


def _database_cache() -> Board:
    return Board(
        "aw-database-cache",
        "Database and Cache",
        "Database operations, pool and cache.",
        (
            (
                "Database",
                (
                    p(
                        "Operation p95 by operation",
                        "db",
                        (
                            q("0.95", "db_operation_duration_seconds", "system, operation"),
                            "{{system}} {{operation}}",
                        ),
                        unit="s",
                    ),
                    p(
                        "Pool connections by state",
                        "db",
                        (
                            f"sum by (pool, state) ({s('db_pool_connections')})",
                            "{{pool}} {{state}}",
                        ),
                    ),
                    p(
                        "Database errors",
                        "db",
                        (rate("db_errors_total", "system, error_type"), "{{error_type}}"),
                    ),
                ),
            ),
            (
                "Cache",
                (
                    p(
                        "Cache hit ratio",
                        "cache",
                        (_HIT_RATIO, "{{cache}}"),
                        unit="percentunit",
                    ),
                    p(
                        "Cache operations by result",
                        "cache",
                        (
                            rate("cache_operations_total", "operation, result"),
                            "{{operation}} {{result}}",
                        ),
                        unit="ops",
                    ),
                ),
            ),
        ),
    )


def _security() -> Board:
    return Board(
        "aw-security",
        "Security",
        "Logins, rate limits, permission violations, lockouts, sessions and threats.",
        (
            (
                "Security",
                (
                    p(
                        "Login attempts by result",
                        "security",
                        (rate("auth_login_attempts_total", "result"), "{{result}}"),
                        unit="ops",
                    ),
                    p(
                        "Rate-limited requests by route",
                        "security",
                        (rate("rate_limit_hits_total", "route"), "{{route}}"),
                        unit="reqps",
                    ),
                    p(
                        "Permission violations (authorisation denials) by resource",
                        "security",
                        (rate("authz_denials_total", "resource"), "{{resource}}"),
                        unit="ops",
                    ),
                ),
            ),
            (
                "Accounts and sessions",
                (
                    p(
                        "Sessions active",
                        "security",
                        (f"max({s('auth_sessions_active')})", "sessions"),
                        kind="stat",
                        width=6,
                    ),
                    p(
                        "Account lockouts by reason",
                        "security",
                        (rate("auth_account_lockouts_total", "reason"), "{{reason}}"),
                        unit="ops",
                        width=9,
                    ),
                    p(
                        "Token refreshes by result",
                        "security",
                        (rate("auth_token_refreshes_total", "result"), "{{result}}"),
                        unit="ops",
                        width=9,
                    ),
                ),
            ),
            (
                "Threats",
                (
                    p(
                        "Blocked requests by reason",
                        "security",
                        (rate("security_blocked_requests_total", "reason"), "{{reason}}"),
                        unit="reqps",
                    ),
                    p(
                        "Suspicious activity by type",
                        "security",
                        (rate("security_suspicious_activity_total", "type"), "{{type}}"),
                        unit="ops",
                    ),
                ),
            ),
        ),
    )


def _health() -> Board:
    return Board(
        "aw-health",
        "Health",
        "Health checks, score and agentwatch itself.",
        (
            (
                "Health",
                (
                    p(
                        "Health score",
                        "health",
                        (s("health_score"), "score"),
                        kind="stat",
                        width=6,
                    ),
                    p(
                        "Check status (1 pass, 0.5 warn, 0 fail)",
                        "health",
                        (f"min by (component) ({s('health_check_status')})", "{{component}}"),
                        width=18,
                    ),
                    p(
                        "Check duration p95",
                        "health",
                        (
                            q("0.95", "health_check_duration_seconds", "component"),
                            "{{component}}",
                        ),
                        unit="s",
                        width=24,
                    ),
                ),
            ),
            (
                "agentwatch",
                (
                    p(
                        "Series overflowed (cardinality budget)",
                        "agentwatch",
                        (rate("agentwatch_metric_overflow_total", "metric"), "{{metric}}"),
                        width=8,
                    ),
                    p(
                        "Spans dropped by reason",
                        "agentwatch",
                        (rate("agentwatch_spans_dropped_total", "reason"), "{{reason}}"),
                        width=8,
                    ),
                    p(
                        "Internal errors by component",
                        "agentwatch",
                        (
                            rate("agentwatch_internal_errors_total", "component"),
                            "{{component}}",
                        ),
                        width=8,
                    ),
                ),
            ),
        ),
    )


def platform_boards() -> tuple[Board, ...]:
    return (_system_overview(), _api_performance(), _database_cache(), _security(), _health())
