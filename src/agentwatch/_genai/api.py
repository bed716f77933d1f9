"""The GenAI instrumentation API: LLM calls, agents, workflows, tools, approvals.

Each function returns an operation that is a context manager (``with`` / ``async with``)
and a decorator (sync and async functions)::

    @agentwatch.agent_run("researcher", "search")
    async def research(question: str) -> str:
        async with agentwatch.llm_call("openai", "gpt-4o-mini") as call:
            response = await client.chat.completions.create(...)
            call.record_response(response)
        async with agentwatch.tool_call("kb_search", server="docs-mcp"):
            ...

    async with agentwatch.workflow_run("support", trigger="api") as run:
        try:
            answer = await research(question)
        except AgentFailed as exc:
            run.fail(exc, propagate=True)   # handled, yet the request's trace shows it

Spans nest as children of the current span (the request's server span inside a web app)
and are recorded through the tracer ``init()`` set up (or the global one before init).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .llm import LLMCall, current_llm_call, record_usage
from .operation import current_operation, mark_error
from .runs import AgentRun, ApprovalWait, ToolCall, WorkflowRun

__all__ = [
    "AgentRun",
    "ApprovalWait",
    "LLMCall",
    "ToolCall",
    "WorkflowRun",
    "agent_run",
    "approval_wait",
    "current_llm_call",
    "current_operation",
    "llm_call",
    "mark_error",
    "record_usage",
    "tool_call",
    "workflow_run",
]


def llm_call(
    provider: str,
    model: str,
    operation: str = "chat",
    *,
    server_address: str | None = None,
    server_port: int | None = None,
    request: Mapping[str, Any] | None = None,
    capture_content: bool | None = None,
) -> LLMCall:
    """One LLM request: a ``{operation} {model}`` client span and the llm pack.

    ``provider`` is the GenAI provider name (``openai``, ``anthropic``, ``gcp.gemini``…),
    ``request`` the request parameters (max_tokens, temperature… become span attributes).
    Use ``call.record_usage(...)`` or ``call.record_response(response)``; wrap streams
    with ``call.stream(stream)``; note ``call.retry(reason)`` / ``call.fallback(provider)``.
    Raises :class:`~agentwatch.BudgetExceededError` on entry when a matching hard budget
    is spent.

    >>> with agentwatch.llm_call("anthropic", "claude-haiku-4-5") as call:
    ...     call.record_usage(input_tokens=1200, output_tokens=250)
    """
    return LLMCall(
        provider,
        model,
        operation,
        server_address=server_address,
        server_port=server_port,
        request=request,
        capture_content=capture_content,
    )


def agent_run(
    agent_type: str, action: str = "run", *, agent_id: str | None = None, run_id: str | None = None
) -> AgentRun:
    """One agent execution: an ``invoke_agent {agent_type}`` span and the agent pack.

    ``agent_type`` and ``action`` are metric labels: keep them to a small fixed set.
    ``run.retry(reason)`` counts a retry of the agent.

    >>> async with agentwatch.agent_run("triage", "classify") as run:
    ...     ...
    """
    return AgentRun(agent_type, action, agent_id=agent_id, run_id=run_id)


def workflow_run(
    workflow: str, trigger: str = "manual", *, run_id: str | None = None
) -> WorkflowRun:
    """One workflow execution: an ``invoke_workflow {workflow}`` span and the workflow pack.

    Counts ``workflows_active`` while it runs and ``workflow_runs_total{workflow,trigger,
    status}`` when it ends; ``run.fail(exc, propagate=True)`` for a handled failure.

    >>> with agentwatch.workflow_run("refund", trigger="api", run_id=run.id):
    ...     ...
    """
    return WorkflowRun(workflow, trigger, run_id=run_id)


def tool_call(
    tool: str,
    server: str = "local",
    *,
    call_id: str | None = None,
    arguments: Any = None,
    tool_type: str | None = None,
) -> ToolCall:
    """One tool call: an ``execute_tool {tool}`` span and the tool pack.

    ``server`` names the MCP server providing the tool (``local`` for in-process
    functions). ``call.set_result(result)`` records the result; an MCP result with
    ``isError`` counts as a failure. Arguments and results are captured only when
    ``capture_content`` is on, through the redaction rules.

    >>> async with agentwatch.tool_call("search_docs", server="docs-mcp") as call:
    ...     call.set_result(await session.call_tool("search_docs", {"q": "refund"}))
    """
    return ToolCall(tool, server, call_id=call_id, arguments=arguments, tool_type=tool_type)


def approval_wait(workflow: str, *, approval_id: str | None = None) -> ApprovalWait:
    """A workflow waiting for a human decision.

    Counts ``workflow_approvals_pending`` (the approval queue depth) while waiting and
    observes ``workflow_approval_wait_seconds`` when it ends; ``wait.approve()`` /
    ``wait.reject()`` set ``approval.outcome``.

    >>> async with agentwatch.approval_wait("refund", approval_id=a.id) as wait:
    ...     decision = await approvals.wait(a.id)
    ...     wait.approve() if decision else wait.reject()
    """
    return ApprovalWait(workflow, approval_id=approval_id)
