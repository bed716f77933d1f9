"""Agent, workflow, LLM and cost, SLO, and business-pack boards."""

from __future__ import annotations

from .._catalog import MetricSpec
from ._dashboards import Board, Panel, p, q, rate, ratio, s
from ._options import STATUS_ERROR

__all__ = ["ai_boards", "pack_board", "slo_board"]

_ERR = f'status="{STATUS_ERROR}"'


def _agent_operations() -> Board:
    return Board(
        "aw-agent-operations",
        "Agent Operations",
        "Tokens, execution time, budget.",
        (
            (
                "Overview",
                (
                    p(
                        "Token usage by provider",
                        "llm",
                        (rate("llm_tokens_total", "provider, type"), "{{provider}} {{type}}"),
                        unit="short",
                    ),
                    p(
                        "Agent execution p95 by agent",
                        "agent",
                        (q("0.95", "agent_run_duration_seconds", "agent_type"), "{{agent_type}}"),
                        unit="s",
                    ),
                    p(
                        "Budget used",
                        "llm",
                        (f"max by (budget) ({s('llm_budget_utilization_ratio')})", "{{budget}}"),
                        unit="percentunit",
                        kind="stat",
                    ),
                    p(
                        "Agent runs in progress",
                        "agent",
                        (f"sum by (agent_type) ({s('agent_runs_in_progress')})", "{{agent_type}}"),
                    ),
                    p(
                        "Workflows active",
                        "workflow",
                        (f"sum by (workflow) ({s('workflows_active')})", "{{workflow}}"),
                    ),
                    p(
                        "LLM spend per hour",
                        "llm",
                        (
                            rate("llm_cost_usd_total", "provider", fn="increase", window="1h"),
                            "{{provider}}",
                        ),
                        unit="currencyUSD",
                    ),
                ),
            ),
        ),
    )


def _workflows() -> Board:
    runs = "workflow_runs_total"
    return Board(
        "aw-workflow-overview",
        "Workflow Overview",
        "Workflow runs, failures, approvals.",
        (
            (
                "Runs",
                (
                    p(
                        "Runs by status",
                        "workflow",
                        (rate(runs, "workflow, status"), "{{workflow}} {{status}}"),
                        unit="ops",
                    ),
                    p(
                        "Failure share by workflow",
                        "workflow",
                        (ratio(runs, "workflow", _ERR), "{{workflow}}"),
                        unit="percentunit",
                    ),
                    p(
                        "Duration p95 by workflow",
                        "workflow",
                        (q("0.95", "workflow_run_duration_seconds", "workflow"), "{{workflow}}"),
                        unit="s",
                    ),
                    p(
                        "Active runs",
                        "workflow",
                        (f"sum by (workflow) ({s('workflows_active')})", "{{workflow}}"),
                    ),
                ),
            ),
            (
                "Approvals",
                (
                    p(
                        "Approvals pending",
                        "workflow",
                        (f"sum by (workflow) ({s('workflow_approvals_pending')})", "{{workflow}}"),
                    ),
                    p(
                        "Approval wait p95",
                        "workflow",
                        (q("0.95", "workflow_approval_wait_seconds", "workflow"), "{{workflow}}"),
                        unit="s",
                    ),
                ),
            ),
        ),
    )


def _agents() -> Board:
    runs, tools = "agent_runs_total", "tool_calls_total"
    return Board(
        "aw-agent-performance",
        "Agent Performance",
        "Agent runs and tool calls.",
        (
            (
                "Agents",
                (
                    p(
                        "Runs by agent and status",
                        "agent",
                        (rate(runs, "agent_type, status"), "{{agent_type}} {{status}}"),
                        unit="ops",
                    ),
                    p(
                        "Failure share by agent",
                        "agent",
                        (ratio(runs, "agent_type", _ERR), "{{agent_type}}"),
                        unit="percentunit",
                    ),
                    p(
                        "Duration p50 / p95",
                        "agent",
                        (
                            q("0.5", "agent_run_duration_seconds", "agent_type"),
                            "p50 {{agent_type}}",
                        ),
                        (
                            q("0.95", "agent_run_duration_seconds", "agent_type"),
                            "p95 {{agent_type}}",
                        ),
                        unit="s",
                    ),
                    p(
                        "Errors by type",
                        "agent",
                        (
                            rate("agent_errors_total", "agent_type, error_type"),
                            "{{agent_type}} {{error_type}}",
                        ),
                    ),
                    p(
                        "Retries",
                        "agent",
                        (rate("agent_retries_total", "agent_type"), "{{agent_type}}"),
                    ),
                ),
            ),
            (
                "Tools",
                (
                    p(
                        "Tool calls by tool and status",
                        "tool",
                        (rate(tools, "tool, status"), "{{tool}} {{status}}"),
                        unit="ops",
                    ),
                    p(
                        "Tool failure share",
                        "tool",
                        (ratio(tools, "tool", _ERR), "{{tool}}"),
                        unit="percentunit",
                    ),
                    p(
                        "Tool call p95",
                        "tool",
                        (q("0.95", "tool_call_duration_seconds", "tool"), "{{tool}}"),
                        unit="s",
                    ),
                ),
            ),
        ),
    )


def _llm() -> Board:
    calls = "llm_requests_total"
    return Board(
        "aw-llm-cost",
        "LLM and Cost",
        "LLM calls, latency, tokens, spend and budgets.",
        (
            (
                "Calls",
                (
                    p(
                        "Calls by provider and model",
                        "llm",
                        (rate(calls, "provider, model"), "{{provider}} {{model}}"),
                        unit="ops",
                    ),
                    p(
                        "Failure share by provider",
                        "llm",
                        (ratio(calls, "provider", _ERR), "{{provider}}"),
                        unit="percentunit",
                    ),
                    p(
                        "Latency p95 by model",
                        "llm",
                        (q("0.95", "llm_request_duration_seconds", "model"), "{{model}}"),
                        unit="s",
                    ),
                    p(
                        "Time to first token p95",
                        "llm",
                        (q("0.95", "llm_time_to_first_token_seconds", "model"), "{{model}}"),
                        unit="s",
                    ),
                    p(
                        "Retries and fallbacks",
                        "llm",
                        (
                            rate("llm_retries_total", "provider, reason"),
                            "retry {{provider}} {{reason}}",
                        ),
                        (
                            rate("llm_fallbacks_total", "from_provider, to_provider"),
                            "{{from_provider}} -> {{to_provider}}",
                        ),
                    ),
                    p(
                        "Errors by type",
                        "llm",
                        (
                            rate("llm_errors_total", "provider, error_type"),
                            "{{provider}} {{error_type}}",
                        ),
                    ),
                ),
            ),
            (
                "Cost",
                (
                    p(
                        "Spend per hour by model",
                        "llm",
                        (
                            rate(
                                "llm_cost_usd_total", "provider, model", fn="increase", window="1h"
                            ),
                            "{{model}}",
                        ),
                        unit="currencyUSD",
                    ),
                    p(
                        "Tokens by model and type",
                        "llm",
                        (rate("llm_tokens_total", "model, type"), "{{model}} {{type}}"),
                    ),
                    p(
                        "Budget remaining",
                        "llm",
                        (f"max by (budget) ({s('llm_budget_remaining_usd')})", "{{budget}}"),
                        unit="currencyUSD",
                        kind="stat",
                        width=8,
                    ),
                    p(
                        "Budget used",
                        "llm",
                        (f"max by (budget) ({s('llm_budget_utilization_ratio')})", "{{budget}}"),
                        unit="percentunit",
                        kind="stat",
                        width=8,
                    ),
                    p(
                        "Calls without a price",
                        "llm",
                        (
                            rate("llm_unpriced_calls_total", "model", fn="increase", window="1h"),
                            "{{model}}",
                        ),
                        kind="stat",
                        width=8,
                    ),
                ),
            ),
        ),
    )


def ai_boards() -> tuple[Board, ...]:
    return (_agent_operations(), _workflows(), _agents(), _llm())


def slo_board() -> Board:
    own = 'service="$service"'
    return Board(
        "aw-slo-error-budget",
        "SLO and error budget",
        "Objectives, error ratios and budget burn.",
        (
            (
                "Budget",
                (
                    p(
                        "Error budget remaining",
                        "slo",
                        (f"slo:error_budget_remaining:ratio{{{own}}}", "{{slo}}"),
                        unit="percentunit",
                        kind="stat",
                        width=12,
                    ),
                    p(
                        "Objective",
                        "slo",
                        (f"slo:objective:ratio{{{own}}}", "{{slo}}"),
                        unit="percentunit",
                        kind="stat",
                        width=12,
                    ),
                ),
            ),
            (
                "Burn",
                (
                    p(
                        "Burn rate over 1h (1 = on budget)",
                        "slo",
                        (
                            f"slo:sli_error:ratio_rate1h{{{own}}} / on (slo, service) slo:error_budget:ratio{{{own}}}",
                            "{{slo}}",
                        ),
                    ),
                    p(
                        "Error ratio 5m / 6h",
                        "slo",
                        (f"slo:sli_error:ratio_rate5m{{{own}}}", "5m {{slo}}"),
                        (f"slo:sli_error:ratio_rate6h{{{own}}}", "6h {{slo}}"),
                        unit="percentunit",
                    ),
                ),
            ),
        ),
    )


def _metric_panel(pack: str, spec: MetricSpec) -> Panel:
    by = ", ".join(spec.labels)
    if spec.kind == "counter":
        return p(f"{spec.name} per second", pack, (rate(spec.name, by), _legend(spec)))
    if spec.kind == "histogram":
        return p(
            f"{spec.name} p95", pack, (q("0.95", spec.name, by), _legend(spec)), unit=_unit(spec)
        )
    inner = s(spec.name)
    return p(
        spec.name,
        pack,
        (f"sum by ({by}) ({inner})" if by else inner, _legend(spec)),
        unit=_unit(spec),
    )


def _legend(spec: MetricSpec) -> str:
    return " ".join(f"{{{{{label}}}}}" for label in spec.labels) or spec.name


def _unit(spec: MetricSpec) -> str:
    return {"seconds": "s", "bytes": "bytes"}.get(spec.unit, "short")


def pack_board(pack: str, specs: tuple[MetricSpec, ...]) -> Board:
    """A board for a business pack: one panel per metric."""
    title = pack.replace("_", " ").title()
    panels = tuple(_metric_panel(pack, spec) for spec in specs)
    return Board(
        f"aw-pack-{pack}"[:40],
        f"{title} (business metrics)",
        f"Metrics of the {pack} pack.",
        ((title, panels),),
    )
