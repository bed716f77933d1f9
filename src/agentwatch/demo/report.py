"""What the demo prints besides the live view: the URL table, the summary, the last screen."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict

from .figures import parse_values, total
from .stack import INSTALL_HINT, DemoUrls, Layout

__all__ = ["closing", "missing_tools", "summary", "url_table"]

_LABELS = {
    "service": "the demo agent service",
    "metrics": "its Prometheus metrics",
    "health": "its health, every component",
    "notifier": "the alerts its notifier workflow got",
    "hub": "the hub: monitors and more",
    "status_page": "the public status page",
    "traces": "the hub's traces, errors first",
    "prometheus": "Prometheus (alerts: /alerts)",
    "alertmanager": "Alertmanager",
    "slack": "the Slack stand-in's messages",
    "llm": "the simulated LLM provider",
}


def url_table(urls: DemoUrls) -> str:
    """The URLs that answer while the demo runs, one a line."""
    rows = [(name, url) for name, url in asdict(urls).items() if url is not None]
    width = max(len(url) for _, url in rows)
    return "\n".join(f"  {url:<{width}}  {_LABELS[name]}" for name, url in rows)


def missing_tools() -> str:
    """The one line said when Prometheus or Alertmanager is not installed."""
    return (
        "prometheus and alertmanager are not installed: the demo runs without them, so no "
        f"alert fires and no notification goes out; to see the whole path: {INSTALL_HINT}"
    )


def summary(metrics_text: str, counts: Counter[str]) -> str:
    """What the run produced, read back from the service's own /metrics."""
    v = parse_values(metrics_text)
    budgets = [
        f"{labels['budget']} {value:.0%}"
        for labels, value in v.get("llm_budget_utilization_ratio", [])
    ]
    return "\n".join(
        [
            f"requests      {counts['sent']} sent: {counts['2xx']} 2xx, {counts['4xx']} 4xx, "
            f"{counts['5xx']} 5xx; {counts['approvals']} approvals decided",
            f"workflows     {total(v, 'workflow_runs_total', status='success'):.0f} succeeded, "
            f"{total(v, 'workflow_runs_total', status='error'):.0f} failed, "
            f"{total(v, 'workflows_active'):.0f} still active",
            f"agents        {total(v, 'agent_runs_total'):.0f} runs, "
            f"{total(v, 'agent_errors_total'):.0f} errors, {total(v, 'agent_retries_total'):.0f} retries",
            f"LLM           {total(v, 'llm_requests_total'):.0f} calls, "
            f"{total(v, 'llm_tokens_total'):.0f} tokens, ${total(v, 'llm_cost_usd_total'):.4f}, "
            f"{total(v, 'llm_retries_total'):.0f} retries, {total(v, 'llm_fallbacks_total'):.0f} fallbacks",
            f"tools         {total(v, 'tool_calls_total'):.0f} calls, {total(v, 'tool_errors_total'):.0f} errors",
            f"budgets       {', '.join(budgets)}",
        ]
    )


_KEPT = (
    ("hub.db", "the hub's monitors and their history, status page, alerts, notifications, traces"),
    ("ops", "the generated Prometheus rules, Alertmanager routes, dashboards, runbooks"),
    ("prometheus", "Prometheus's data (the metrics of the run)"),
    ("logs", "the log of every process (the service's in JSON, with trace ids)"),
)


def closing(layout: Layout) -> str:
    """The last screen: where the data stays and how to open it again."""
    root = layout.root
    kept = [
        f"  {name + '/' if (root / name).is_dir() else name:<12}{what}"
        for name, what in _KEPT
        if (root / name).exists()
    ]
    return "\n".join(
        [
            "stopped: every process of the demo has exited.",
            f"The data stays in {root}:",
            *kept,
            "Open it again:",
            f"  agentwatch hub serve --config {layout.hub_yaml} --database {layout.hub_database}",
            "  (the demo paused its monitors as it stopped: its service is gone;"
            " run `make demo` for a new run)",
        ]
    )
