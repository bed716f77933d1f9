"""Alert rules for the AI packs: llm, agent, workflow, tool.

Runs and calls record ``status`` as ``STATUS_SUCCESS`` / ``STATUS_ERROR`` (see _options).
"""

from __future__ import annotations

from decimal import Decimal

from ._options import STATUS_ERROR, STATUS_SUCCESS
from ._rules import AlertRule, RuleContext, Scenario, Series, counter, gauge, hist
from ._units import fmt

__all__ = ["agent_rules", "llm_rules", "tool_rules", "workflow_rules"]

_ERR = f'status="{STATUS_ERROR}"'
_LLM = {"provider": "openai", "model": "gpt-4o", "operation": "chat"}


def _outcomes(metric: str, ok: int, bad: int, **labels: str) -> tuple[Series, ...]:
    return (
        counter(metric, ok, **labels, status=STATUS_SUCCESS),
        counter(metric, bad, **labels, status=STATUS_ERROR),
    )


def llm_rules(c: RuleContext) -> list[AlertRule]:
    calls, by = "llm_requests_total", "service, provider"
    volume = c.sum_rate(by, calls, fn="increase")
    diag = (
        ("Error ratio by provider and model", c.ratio("service, provider, model", calls, _ERR)),
        ("Errors by type", c.sum_rate("provider, error_type", "llm_errors_total")),
    )
    fix = (
        "Check the provider's status page and the error types (rate limit, auth, timeout).",
        "Switch traffic to the fallback provider or model if one is configured.",
    )
    provider = {"provider": "openai"}
    return [
        AlertRule(
            name="LLMProviderDown",
            pack="llm",
            severity="critical",
            expr=f"({c.ratio(by, calls, _ERR)} >= 0.9) and {volume} >= 5",
            for_minutes=2,
            summary="{{ $labels.service }}: LLM provider {{ $labels.provider }} failing",
            description="At least 90% of calls from {{ $labels.service }} to "
            "{{ $labels.provider }} fail.",
            scenario=Scenario(
                fire=_outcomes(calls, 0, 10, **_LLM),
                quiet=_outcomes(calls, 20, 1, **_LLM),
                labels=provider,
            ),
            impact="Every agent step that needs this provider fails.",
            diagnosis=diag,
            resolution=fix,
        ),
        AlertRule(
            name="LLMHighErrorRate",
            pack="llm",
            severity="warning",
            expr=f"{c.ratio(by, calls, _ERR)} > 0.1",
            for_minutes=10,
            summary="{{ $labels.service }}: over 10% of {{ $labels.provider }} calls fail",
            description="More than 10% of LLM calls from {{ $labels.service }} to "
            "{{ $labels.provider }} have failed for 10 minutes.",
            scenario=Scenario(
                fire=_outcomes(calls, 8, 2, **_LLM),
                quiet=_outcomes(calls, 99, 1, **_LLM),
                labels=provider,
            ),
            impact="Agent runs fail or retry, raising cost and latency.",
            diagnosis=diag,
            resolution=fix,
        ),
        *_llm_spend_rules(c),
    ]


def _llm_spend_rules(c: RuleContext) -> list[AlertRule]:
    cost = c.sum_rate("service", "llm_cost_usd_total", minutes=60, fn="increase")
    limit = c.options.llm_cost_per_hour_usd
    budget = "llm_budget_utilization_ratio"
    return [
        AlertRule(
            name="LLMHighCostPerHour",
            pack="llm",
            severity="warning",
            expr=f"{cost} > {fmt(limit)}",
            for_minutes=5,
            summary=f"{{{{ $labels.service }}}}: LLM spend above ${fmt(limit)} per hour",
            description=f"{{{{ $labels.service }}}} spent more than ${fmt(limit)} on LLM calls "
            "in the last hour.",
            scenario=Scenario(
                fire=(
                    Series(
                        "llm_cost_usd_total", {"provider": "openai", "model": "gpt-4o"}, limit * 2
                    ),
                ),
                quiet=(
                    Series(
                        "llm_cost_usd_total",
                        {"provider": "openai", "model": "gpt-4o"},
                        limit / Decimal(100),
                    ),
                ),
            ),
            impact="Spend runs ahead of plan; a budget may be exhausted before the period ends.",
            diagnosis=(
                (
                    "Spend per hour by model",
                    c.sum_rate("provider, model", "llm_cost_usd_total", minutes=60, fn="increase"),
                ),
                ("Tokens by type", c.sum_rate("model, type", "llm_tokens_total")),
            ),
            resolution=(
                "Find the agent or workflow driving the spend (traces carry tokens).",
                "Cap it with a budget, a cheaper model or a lower max_tokens.",
            ),
        ),
        AlertRule(
            name="LLMBudgetNearlyExhausted",
            pack="llm",
            severity="warning",
            expr=f"max by (service, budget) ({c.sel(budget)}) > 0.9",
            for_minutes=1,
            summary="{{ $labels.service }}: LLM budget {{ $labels.budget }} over 90% spent",
            description="Budget {{ $labels.budget }} of {{ $labels.service }} is more than "
            "90% spent for the current period.",
            scenario=Scenario(
                fire=(gauge(budget, "0.95", budget="daily"),),
                quiet=(gauge(budget, "0.4", budget="daily"),),
                labels={"budget": "daily"},
                true_from=0,
            ),
            impact="When the budget is spent, calls under a hard budget are refused.",
            diagnosis=(
                ("Utilisation", c.sel(budget)),
                ("Remaining USD", c.sel("llm_budget_remaining_usd")),
            ),
            resolution=("Decide: raise the budget, or slow the spend (see LLMHighCostPerHour).",),
        ),
    ]


def agent_rules(c: RuleContext) -> list[AlertRule]:
    runs, by = "agent_runs_total", "service, agent_type"
    errors = c.sum_rate(by, runs, _ERR, minutes=10, fn="increase")
    labels = {"agent_type": "researcher", "action": "run"}
    return [
        AlertRule(
            name="AgentFailureSpike",
            pack="agent",
            severity="warning",
            expr=f"({c.ratio(by, runs, _ERR, minutes=10)} > 0.25) and {errors} >= 5",
            for_minutes=5,
            summary="{{ $labels.service }}: agent {{ $labels.agent_type }} failing",
            description="More than 25% of {{ $labels.agent_type }} runs of "
            "{{ $labels.service }} failed in the last 10 minutes (at least 5 failures).",
            scenario=Scenario(
                fire=_outcomes(runs, 10, 10, **labels),
                quiet=_outcomes(runs, 30, 1, **labels),
                labels={"agent_type": "researcher"},
            ),
            impact="Users get failed or partial answers from this agent.",
            diagnosis=(
                (
                    "Failure ratio by action",
                    c.ratio("service, agent_type, action", runs, _ERR, minutes=10),
                ),
                ("Errors by type", c.sum_rate("agent_type, error_type", "agent_errors_total")),
            ),
            resolution=(
                "Open failed agent traces: which step (LLM, tool) fails first?",
                "Roll back prompt or tool changes deployed before the spike.",
            ),
        ),
    ]


def workflow_rules(c: RuleContext) -> list[AlertRule]:
    runs, by, pending = "workflow_runs_total", "service, workflow", "workflow_approvals_pending"
    p95 = c.quantile("0.95", by, "workflow_run_duration_seconds", minutes=30)
    labels = {"workflow": "triage", "trigger": "api"}
    wf = {"workflow": "triage"}
    return [
        AlertRule(
            name="WorkflowFailureRate",
            pack="workflow",
            severity="warning",
            expr=f"{c.ratio(by, runs, _ERR, minutes=15)} > 0.1",
            for_minutes=10,
            summary="{{ $labels.service }}: workflow {{ $labels.workflow }} failing",
            description="More than 10% of {{ $labels.workflow }} runs of {{ $labels.service }} "
            "failed over 15 minutes.",
            scenario=Scenario(
                fire=_outcomes(runs, 8, 2, **labels),
                quiet=_outcomes(runs, 99, 1, **labels),
                labels=wf,
            ),
            impact="Business processes stop half-way; work must be retried or repaired.",
            diagnosis=(
                (
                    "Failure ratio by trigger",
                    c.ratio("service, workflow, trigger", runs, _ERR, minutes=15),
                ),
            ),
            resolution=(
                "Open failed workflow traces and find the failing step.",
                "Re-run failed runs once the cause is fixed.",
            ),
        ),
        AlertRule(
            name="WorkflowSlowP95",
            pack="workflow",
            severity="warning",
            expr=f"{p95} > 1800",
            for_minutes=15,
            summary="{{ $labels.service }}: workflow {{ $labels.workflow }} p95 above 30m",
            description="The 95th percentile duration of {{ $labels.workflow }} runs of "
            "{{ $labels.service }} is above 30 minutes.",
            scenario=Scenario(
                fire=hist(
                    "workflow_run_duration_seconds", {"1800.0": 0, "3600.0": 10, "+Inf": 10}, **wf
                ),
                quiet=hist(
                    "workflow_run_duration_seconds",
                    {"60.0": 10, "1800.0": 10, "3600.0": 10, "+Inf": 10},
                    **wf,
                ),
                labels=wf,
            ),
            impact="Work finishes late; approvals or downstream steps wait.",
            diagnosis=(("p95 duration", p95), ("Active runs", c.sel("workflows_active"))),
            resolution=("Check the slow step in traces (LLM latency, tool calls, approvals).",),
        ),
        AlertRule(
            name="ApprovalBacklog",
            pack="workflow",
            severity="warning",
            expr=f"sum by (service, workflow) ({c.sel(pending)}) > 20",
            for_minutes=30,
            summary="{{ $labels.service }}: {{ $labels.workflow }} has over 20 approvals waiting",
            description="More than 20 approvals of {{ $labels.workflow }} have waited for a "
            "human for 30 minutes.",
            scenario=Scenario(
                fire=(gauge(pending, 50, **wf),),
                quiet=(gauge(pending, 2, **wf),),
                labels=wf,
                true_from=0,
            ),
            impact="Workflows stall waiting for people; SLAs may be missed.",
            diagnosis=(
                ("Pending", c.sel(pending)),
                ("Wait p95", c.quantile("0.95", by, "workflow_approval_wait_seconds")),
            ),
            resolution=("Tell the approvers' team; check that approval notifications arrive.",),
        ),
    ]


def tool_rules(c: RuleContext) -> list[AlertRule]:
    calls, by = "tool_calls_total", "service, tool"
    labels = {"tool": "search", "server": "web"}
    return [
        AlertRule(
            name="ToolErrorRate",
            pack="tool",
            severity="warning",
            expr=f"{c.ratio(by, calls, _ERR, minutes=10)} > 0.2",
            for_minutes=10,
            summary="{{ $labels.service }}: tool {{ $labels.tool }} failing",
            description="More than 20% of {{ $labels.tool }} calls of {{ $labels.service }} "
            "failed over 10 minutes.",
            scenario=Scenario(
                fire=_outcomes(calls, 5, 5, **labels),
                quiet=_outcomes(calls, 50, 1, **labels),
                labels={"tool": "search"},
            ),
            impact="Agents using this tool fail or answer without its data.",
            diagnosis=(
                ("Errors by type", c.sum_rate("tool, server, error_type", "tool_errors_total")),
            ),
            resolution=("Check the tool's server (MCP) and its credentials.",),
        ),
    ]
