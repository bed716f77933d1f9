"""The packs agentwatch ships, as data: ``http``, ``runtime``, ``llm``, ``agent``,
``workflow``, ``tool``, ``db``, ``cache``, ``queue``, ``circuit``, ``security``, ``health`` and
agentwatch's own metrics (``own.py``). The catalog (``agentwatch._catalog``) defines them at import.
"""

from __future__ import annotations

from .own import AGENTWATCH_PACK
from .spec import LATENCY_BUCKETS, MetricSpec
from .spec import metric as _m

__all__ = ["BUILTIN_PACKS"]

SLOW_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
LONG_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 14400.0, 86400.0)
SIZE_BUCKETS = (100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0)
DB_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


BUILTIN_PACKS: dict[str, list[MetricSpec]] = {
    "agentwatch": AGENTWATCH_PACK,
    "http": [
        _m(
            "http_requests_total",
            "counter",
            "HTTP requests handled, by method, route template and status.",
            ("method", "route", "status"),
            budget=500,
        ),
        _m(
            "http_request_duration_seconds",
            "histogram",
            "HTTP request duration until the response ends.",
            ("method", "route"),
            unit="seconds",
            buckets=LATENCY_BUCKETS,
            budget=300,
        ),
        _m(
            "http_requests_in_progress",
            "gauge",
            "HTTP requests being handled now.",
            ("method",),
            budget=20,
        ),
        _m(
            "http_request_size_bytes",
            "histogram",
            "HTTP request body size.",
            ("method", "route"),
            unit="bytes",
            buckets=SIZE_BUCKETS,
            budget=300,
        ),
        _m(
            "http_response_size_bytes",
            "histogram",
            "HTTP response body size.",
            ("method", "route"),
            unit="bytes",
            buckets=SIZE_BUCKETS,
            budget=300,
        ),
        _m(
            "http_request_errors_total",
            "counter",
            "HTTP requests that ended in a server error, by error type (exception class or status).",
            ("method", "route", "error_type"),
            budget=300,
        ),
    ],
    "runtime": [
        _m(
            "asyncio_event_loop_lag_seconds",
            "gauge",
            "How late the asyncio event loop ran a callback scheduled on time (last probe).",
            budget=1,
            mode="livemax",
        ),
        _m(
            "asyncio_event_loop_lag_max_seconds",
            "gauge",
            "Worst asyncio event loop lag seen since the last scrape window (60 s).",
            budget=1,
            mode="livemax",
        ),
        _m("asyncio_tasks", "gauge", "asyncio tasks alive on the application's loop.", budget=1),
    ],
    "llm": [
        _m(
            "llm_requests_total",
            "counter",
            "LLM calls, by provider, model, operation and status.",
            ("provider", "model", "operation", "status"),
            budget=200,
        ),
        _m(
            "llm_request_duration_seconds",
            "histogram",
            "LLM call duration.",
            ("provider", "model", "operation"),
            unit="seconds",
            buckets=SLOW_BUCKETS,
            budget=200,
        ),
        _m(
            "llm_time_to_first_token_seconds",
            "histogram",
            "Time to the first streamed token.",
            ("provider", "model"),
            unit="seconds",
            buckets=SLOW_BUCKETS,
        ),
        _m(
            "llm_tokens_total",
            "counter",
            "Tokens used, by type: input (not read from a cache), cached_input, output; the types "
            "are disjoint, so their sum is every token.",
            ("provider", "model", "type"),
            budget=300,
        ),
        _m(
            "llm_cost_usd_total",
            "counter",
            "Spend on LLM calls in US dollars, from the price table.",
            ("provider", "model"),
            budget=200,
        ),
        _m(
            "llm_errors_total",
            "counter",
            "Failed LLM calls, by error type.",
            ("provider", "model", "error_type"),
            budget=200,
        ),
        _m("llm_retries_total", "counter", "LLM call retries, by reason.", ("provider", "reason")),
        _m(
            "llm_fallbacks_total",
            "counter",
            "Fallbacks from one provider to another.",
            ("from_provider", "to_provider"),
        ),
        _m(
            "llm_unpriced_calls_total",
            "counter",
            "LLM calls whose model has no price in the table (costed at 0, never guessed).",
            ("provider", "model"),
        ),
        _m(
            "llm_budget_remaining_usd",
            "gauge",
            "Budget left in the current period.",
            ("budget",),
            mode="livemax",
        ),
        _m(
            "llm_budget_limit_usd",
            "gauge",
            "Budget limit for the current period.",
            ("budget",),
            mode="livemax",
        ),
        _m(
            "llm_budget_utilization_ratio",
            "gauge",
            "Share of the budget spent in the current period (0-1+).",
            ("budget",),
            mode="livemax",
        ),
    ],
    "agent": [
        _m(
            "agent_runs_total",
            "counter",
            "Agent runs, by agent type, action and status.",
            ("agent_type", "action", "status"),
            budget=300,
        ),
        _m(
            "agent_run_duration_seconds",
            "histogram",
            "Agent run duration.",
            ("agent_type", "action"),
            unit="seconds",
            buckets=SLOW_BUCKETS,
            budget=200,
        ),
        _m("agent_runs_in_progress", "gauge", "Agent runs executing now.", ("agent_type",)),
        _m(
            "agent_errors_total",
            "counter",
            "Failed agent runs, by error type.",
            ("agent_type", "error_type"),
            budget=200,
        ),
        _m("agent_retries_total", "counter", "Agent run retries.", ("agent_type",)),
    ],
    "workflow": [
        _m(
            "workflow_runs_total",
            "counter",
            "Workflow runs, by workflow, trigger and status.",
            ("workflow", "trigger", "status"),
            budget=300,
        ),
        _m(
            "workflow_run_duration_seconds",
            "histogram",
            "Workflow run duration.",
            ("workflow",),
            unit="seconds",
            buckets=LONG_BUCKETS,
        ),
        _m("workflows_active", "gauge", "Workflow runs executing now.", ("workflow",)),
        _m(
            "workflow_approval_wait_seconds",
            "histogram",
            "Time a workflow waited for a human approval.",
            ("workflow",),
            unit="seconds",
            buckets=LONG_BUCKETS,
        ),
        _m(
            "workflow_approvals_pending",
            "gauge",
            "Approvals waiting for a human (approval queue depth).",
            ("workflow",),
        ),
    ],
    "tool": [
        _m(
            "tool_calls_total",
            "counter",
            "Tool (MCP) calls, by tool, server and status.",
            ("tool", "server", "status"),
            budget=300,
        ),
        _m(
            "tool_call_duration_seconds",
            "histogram",
            "Tool call duration.",
            ("tool", "server"),
            unit="seconds",
            buckets=(*LATENCY_BUCKETS, 30.0, 60.0),
            budget=200,
        ),
        _m(
            "tool_errors_total",
            "counter",
            "Failed tool calls, by error type.",
            ("tool", "server", "error_type"),
            budget=200,
        ),
    ],
    "db": [
        _m(
            "db_operation_duration_seconds",
            "histogram",
            "Database operation duration.",
            ("system", "operation"),
            unit="seconds",
            buckets=DB_BUCKETS,
        ),
        _m(
            "db_pool_connections",
            "gauge",
            "Connections in the pool, by state (idle, used, overflow, max).",
            ("pool", "state"),
        ),
        _m(
            "db_errors_total",
            "counter",
            "Database errors, by error type.",
            ("system", "error_type"),
        ),
    ],
    "cache": [
        _m(
            "cache_operations_total",
            "counter",
            "Cache operations, by result (hit, miss, ok, error).",
            ("cache", "operation", "result"),
            budget=200,
        ),
        _m(
            "cache_operation_duration_seconds",
            "histogram",
            "Cache operation duration.",
            ("cache", "operation"),
            unit="seconds",
            buckets=DB_BUCKETS,
        ),
    ],
    "queue": [
        _m("queue_depth", "gauge", "Jobs waiting in the queue.", ("queue",), mode="livemax"),
        _m(
            "queue_jobs_total",
            "counter",
            "Jobs finished, by status (succeeded, failed, retried).",
            ("queue", "status"),
        ),
        _m(
            "queue_job_duration_seconds",
            "histogram",
            "Job processing duration.",
            ("queue",),
            unit="seconds",
            buckets=SLOW_BUCKETS,
        ),
    ],
    "circuit": [
        _m(
            "circuit_breaker_state",
            "gauge",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            ("breaker",),
            mode="livemax",
        ),
        _m(
            "circuit_breaker_transitions_total",
            "counter",
            "Circuit breaker state changes, by new state.",
            ("breaker", "state"),
        ),
    ],
    "security": [
        _m(
            "auth_login_attempts_total",
            "counter",
            "Login attempts, by result (success, failure, locked).",
            ("result",),
            budget=20,
        ),
        _m(
            "rate_limit_hits_total",
            "counter",
            "Requests refused by a rate limiter.",
            ("route",),
            budget=200,
        ),
        _m(
            "authz_denials_total",
            "counter",
            "Authorisation denials (permission violations), by resource.",
            ("resource",),
        ),
        _m(
            "auth_account_lockouts_total",
            "counter",
            "Accounts locked, by reason (failed_logins, suspicious, admin).",
            ("reason",),
            budget=10,
        ),
        _m(
            "auth_token_refreshes_total",
            "counter",
            "Access-token refreshes, by result (success, failure, expired, reused).",
            ("result",),
            budget=10,
        ),
        _m(
            "auth_sessions_active",
            "gauge",
            "Signed-in sessions now (a count from the session store: worker processes agree).",
            budget=1,
            mode="livemax",
        ),
        _m(
            "security_blocked_requests_total",
            "counter",
            "Requests refused before the handler, by reason (ip_blocklist, waf, invalid_token, "
            "origin, payload_too_large, ...).",
            ("reason",),
            budget=30,
        ),
        _m(
            "security_suspicious_activity_total",
            "counter",
            "Suspicious activity detected, by type (credential_stuffing, token_reuse, "
            "impossible_travel, prompt_injection, enumeration, ...).",
            ("type",),
            budget=30,
        ),
    ],
    "health": [
        _m(
            "health_check_status",
            "gauge",
            "Health check status: 1 pass, 0.5 warn, 0 fail.",
            ("component",),
            mode="livemax",
        ),
        _m(
            "health_check_duration_seconds",
            "histogram",
            "Health check duration.",
            ("component",),
            unit="seconds",
            buckets=DB_BUCKETS,
        ),
        _m("health_score", "gauge", "Weighted health score 0-100.", mode="livemax"),
    ],
}
