"""Agent runs, workflow runs, tool calls and approval waits: spans plus their packs.

Spans follow the GenAI agent conventions where they exist (``invoke_agent {agent}``,
``invoke_workflow {workflow}``, ``execute_tool {tool}``) and carry the attributes agent
platforms query: ids, type, action, trigger, server, status (``success`` / ``error``) and
``error.type``. Metrics use the catalog's agent, workflow and tool packs.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from opentelemetry.util.types import AttributeValue

from .._metrics.registry import Metrics
from .._state import report_internal_error, telemetry
from .operation import Operation

__all__ = ["AgentRun", "ApprovalWait", "ToolCall", "WorkflowRun"]


def _new_id() -> str:
    return uuid.uuid4().hex


class AgentRun(Operation):
    """One agent execution. Build with :func:`agentwatch.agent_run`."""

    component = "agent_run"

    def __init__(
        self,
        agent_type: str,
        action: str = "run",
        *,
        agent_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        self.agent_type = agent_type
        self.action = action
        self.agent_id = agent_id
        self._given_run_id = run_id
        super().__init__()

    def _reset(self) -> None:
        super()._reset()
        self.run_id = self._given_run_id or _new_id()
        self.retries = 0
        self._counted = False

    def scope(self) -> dict[str, str]:
        return {"agent_type": self.agent_type}

    def _span_name(self) -> str:
        return f"invoke_agent {self.agent_type}"

    def _attributes(self) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": self.agent_type,
            "agent.type": self.agent_type,
            "agent.action": self.action,
            "agent.run_id": self.run_id,
        }
        if self.agent_id:
            attributes["gen_ai.agent.id"] = self.agent_id
        return attributes

    def retry(self, reason: str = "") -> None:
        """Count a retry of this agent (``agent_retries_total``) and add a span event."""
        self.retries += 1
        try:
            telemetry().metrics["agent_retries_total"].labels(self.agent_type).inc()
            self.span.add_event(
                "agent.retry", {"retry.attempt": self.retries, "retry.reason": reason}
            )
        except Exception as exc:
            report_internal_error(self.component, exc)

    def _record_start(self, metrics: Metrics) -> None:
        metrics["agent_runs_in_progress"].labels(self.agent_type).inc()
        self._counted = True

    def _before_end(self) -> None:
        self.span.set_attribute("agent.status", self.status)
        self.span.set_attribute("agent.duration_seconds", self.duration_seconds)

    def _record_end(self, metrics: Metrics) -> None:
        if self._counted:
            metrics["agent_runs_in_progress"].labels(self.agent_type).dec()
        labels = (self.agent_type, self.action)
        metrics["agent_runs_total"].labels(*labels, self.status).inc()
        metrics["agent_run_duration_seconds"].labels(*labels).observe(self.duration_seconds)
        if self.error_type:
            metrics["agent_errors_total"].labels(self.agent_type, self.error_type).inc()

    def __repr__(self) -> str:
        return f"AgentRun({self.agent_type!r}, {self.action!r})"


class WorkflowRun(Operation):
    """One workflow execution. Build with :func:`agentwatch.workflow_run`."""

    component = "workflow_run"

    def __init__(
        self, workflow: str, trigger: str = "manual", *, run_id: str | None = None
    ) -> None:
        self.workflow = workflow
        self.trigger = trigger
        self._given_run_id = run_id
        super().__init__()

    def _reset(self) -> None:
        super()._reset()
        self.run_id = self._given_run_id or _new_id()
        self._counted = False

    def scope(self) -> dict[str, str]:
        return {"workflow": self.workflow}

    def _span_name(self) -> str:
        return f"invoke_workflow {self.workflow}"

    def _attributes(self) -> dict[str, AttributeValue]:
        return {
            "gen_ai.operation.name": "invoke_workflow",
            "gen_ai.workflow.name": self.workflow,
            "workflow.name": self.workflow,
            "workflow.trigger": self.trigger,
            "workflow.run_id": self.run_id,
        }

    def _record_start(self, metrics: Metrics) -> None:
        metrics["workflows_active"].labels(self.workflow).inc()
        self._counted = True

    def _before_end(self) -> None:
        self.span.set_attribute("workflow.status", self.status)
        self.span.set_attribute("workflow.duration_seconds", self.duration_seconds)

    def _record_end(self, metrics: Metrics) -> None:
        if self._counted:
            metrics["workflows_active"].labels(self.workflow).dec()
        metrics["workflow_runs_total"].labels(self.workflow, self.trigger, self.status).inc()
        metrics["workflow_run_duration_seconds"].labels(self.workflow).observe(
            self.duration_seconds
        )

    def __repr__(self) -> str:
        return f"WorkflowRun({self.workflow!r}, {self.trigger!r})"


class ToolCall(Operation):
    """One tool call (a local function or an MCP server's tool). See :func:`agentwatch.tool_call`."""

    component = "tool_call"

    def __init__(
        self,
        tool: str,
        server: str = "local",
        *,
        call_id: str | None = None,
        arguments: Any = None,
        tool_type: str | None = None,
    ) -> None:
        self.tool = tool
        self.server = server
        self.call_id = call_id
        self.arguments = arguments
        self.tool_type = tool_type or ("function" if server == "local" else "extension")
        super().__init__()

    def _span_name(self) -> str:
        return f"execute_tool {self.tool}"

    def _attributes(self) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": self.tool,
            "gen_ai.tool.type": self.tool_type,
            "tool.name": self.tool,
            "tool.server": self.server,
        }
        if self.call_id:
            attributes["gen_ai.tool.call.id"] = self.call_id
        return attributes

    def _capture(self, key: str, value: Any) -> None:
        active = telemetry()
        if active.settings.capture_content and self.span.is_recording():
            redacted = active.redactor.redact_value(value)
            text = redacted if isinstance(redacted, str) else json.dumps(redacted, default=str)
            self.span.set_attribute(key, text)

    def _record_start(self, metrics: Metrics) -> None:
        if self.arguments is not None:
            self._capture("gen_ai.tool.call.arguments", self.arguments)

    def set_result(self, result: Any) -> None:
        """Record the tool's result (captured when content capture is on).

        An MCP ``CallToolResult`` with ``isError`` marks the call failed (``tool_error``).
        """
        try:
            is_error = getattr(result, "is_error", None) or getattr(result, "isError", None)
            if is_error is None and isinstance(result, dict):
                is_error = result.get("isError")
            if is_error is True:
                self.fail("tool_error")
            self._capture("gen_ai.tool.call.result", getattr(result, "content", result))
        except Exception as exc:
            report_internal_error(self.component, exc)

    def _on_result(self, result: object) -> None:
        self.set_result(result)

    def _before_end(self) -> None:
        self.span.set_attribute("tool.status", self.status)
        self.span.set_attribute("tool.duration_seconds", self.duration_seconds)

    def _record_end(self, metrics: Metrics) -> None:
        labels = (self.tool, self.server)
        metrics["tool_calls_total"].labels(*labels, self.status).inc()
        metrics["tool_call_duration_seconds"].labels(*labels).observe(self.duration_seconds)
        if self.error_type:
            metrics["tool_errors_total"].labels(*labels, self.error_type).inc()

    def __repr__(self) -> str:
        return f"ToolCall({self.tool!r}, server={self.server!r})"


class ApprovalWait(Operation):
    """A workflow waiting for a human. See :func:`agentwatch.approval_wait`."""

    component = "approval_wait"

    def __init__(self, workflow: str, *, approval_id: str | None = None) -> None:
        self.workflow = workflow
        self.approval_id = approval_id
        super().__init__()

    def _reset(self) -> None:
        super()._reset()
        self.outcome = ""
        self._counted = False

    def _span_name(self) -> str:
        return f"approval_wait {self.workflow}"

    def _attributes(self) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {"workflow.name": self.workflow}
        if self.approval_id:
            attributes["approval.id"] = self.approval_id
        return attributes

    def approve(self) -> None:
        self.outcome = "approved"

    def reject(self) -> None:
        """A rejection is an answer, not an error: the span stays OK."""
        self.outcome = "rejected"

    def _record_start(self, metrics: Metrics) -> None:
        metrics["workflow_approvals_pending"].labels(self.workflow).inc()
        self._counted = True

    def _before_end(self) -> None:
        outcome = self.outcome or ("timeout" if self.error_type == "TimeoutError" else "")
        outcome = outcome or ("cancelled" if self.error_type == "cancelled" else "")
        self.span.set_attribute(
            "approval.outcome", outcome or ("error" if self.error_type else "done")
        )

    def _record_end(self, metrics: Metrics) -> None:
        if self._counted:
            metrics["workflow_approvals_pending"].labels(self.workflow).dec()
        metrics["workflow_approval_wait_seconds"].labels(self.workflow).observe(
            self.duration_seconds
        )

    def __repr__(self) -> str:
        return f"ApprovalWait({self.workflow!r})"
