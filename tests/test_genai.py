"""The GenAI API: spans, attributes, parent links, metrics, errors and ancestors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from tests._genai_support import Recording, parent_of, recording, span_id

import agentwatch
from agentwatch._genai.api import AgentRun, current_operation


@pytest.fixture
def rec() -> Iterator[Recording]:
    with recording() as active:
        yield active


def _workflow_sync() -> None:
    with agentwatch.workflow_run("support", trigger="api", run_id="run-1"):  # noqa: SIM117
        with agentwatch.agent_run("triage", "classify", agent_id="agent-7") as agent:
            with agentwatch.llm_call("openai", "gpt-4o-mini", request={"max_tokens": 50}) as call:
                call.record_usage(input_tokens=100, output_tokens=20)
                call.set_response(
                    model="gpt-4o-mini-2024-07-18", finish_reasons=["stop"], response_id="c1"
                )
            with agentwatch.tool_call("kb_search", server="docs-mcp", call_id="call-1"):
                pass
            agent.retry("flaky")


async def _workflow_async() -> None:
    async with agentwatch.workflow_run("support", trigger="api", run_id="run-1"):  # noqa: SIM117
        async with agentwatch.agent_run("triage", "classify", agent_id="agent-7") as agent:
            async with agentwatch.llm_call(
                "openai", "gpt-4o-mini", request={"max_tokens": 50}
            ) as call:
                call.record_usage(input_tokens=100, output_tokens=20)
                call.set_response(
                    model="gpt-4o-mini-2024-07-18", finish_reasons=["stop"], response_id="c1"
                )
            async with agentwatch.tool_call("kb_search", server="docs-mcp", call_id="call-1"):
                await asyncio.sleep(0)
            agent.retry("flaky")


def _workflow_decorated() -> None:
    @agentwatch.llm_call("openai", "gpt-4o-mini", request={"max_tokens": 50})
    def ask() -> dict[str, object]:
        usage = {"prompt_tokens": 100, "completion_tokens": 20}
        choices = [{"finish_reason": "stop"}]
        return {"id": "c1", "model": "gpt-4o-mini-2024-07-18", "usage": usage, "choices": choices}

    @agentwatch.tool_call("kb_search", server="docs-mcp", call_id="call-1")
    def search() -> str:
        return "found"

    @agentwatch.agent_run("triage", "classify", agent_id="agent-7")
    def triage() -> None:
        ask()
        search()
        agent = current_operation()
        assert isinstance(agent, AgentRun)
        agent.retry("flaky")

    @agentwatch.workflow_run("support", trigger="api", run_id="run-1")
    def support() -> None:
        triage()

    support()


async def _workflow_decorated_async() -> None:
    @agentwatch.llm_call("openai", "gpt-4o-mini", request={"max_tokens": 50})
    async def ask() -> None:
        agentwatch.record_usage(input_tokens=100, output_tokens=20)
        call = agentwatch.current_llm_call()
        assert call is not None
        call.set_response(model="gpt-4o-mini-2024-07-18", finish_reasons=["stop"], response_id="c1")

    @agentwatch.tool_call("kb_search", server="docs-mcp", call_id="call-1")
    async def search() -> str:
        return "found"

    @agentwatch.agent_run("triage", "classify", agent_id="agent-7")
    async def triage() -> None:
        await ask()
        await search()
        agent = current_operation()
        assert isinstance(agent, AgentRun)
        agent.retry("flaky")

    @agentwatch.workflow_run("support", trigger="api", run_id="run-1")
    async def support() -> None:
        await triage()

    await support()


@pytest.mark.parametrize(
    "style",
    ["sync context managers", "async context managers", "sync decorators", "async decorators"],
)
def test_spans_nest_with_the_specified_attributes(rec: Recording, style: str) -> None:
    if style == "sync context managers":
        _workflow_sync()
    elif style == "async context managers":
        asyncio.run(_workflow_async())
    elif style == "sync decorators":
        _workflow_decorated()
    else:
        asyncio.run(_workflow_decorated_async())

    workflow = rec.span("invoke_workflow support")
    agent = rec.span("invoke_agent triage")
    llm = rec.span("chat gpt-4o-mini")
    tool = rec.span("execute_tool kb_search")
    assert parent_of(workflow) is None
    assert parent_of(agent) == span_id(workflow)
    assert parent_of(llm) == parent_of(tool) == span_id(agent)
    assert llm.kind is SpanKind.CLIENT and agent.kind is SpanKind.INTERNAL
    assert dict(llm.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.max_tokens": 50,
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": "c1",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
        "agentwatch.llm.cost_usd": pytest.approx((100 * 0.15 + 20 * 0.6) / 1e6),
    }
    agent_attributes = dict(agent.attributes or {})
    assert agent_attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent_attributes["gen_ai.agent.name"] == agent_attributes["agent.type"] == "triage"
    assert agent_attributes["gen_ai.agent.id"] == "agent-7"
    assert agent_attributes["agent.action"] == "classify"
    assert agent_attributes["agent.status"] == "success"
    assert len(str(agent_attributes["agent.run_id"])) == 32
    assert [event.name for event in agent.events] == ["agent.retry"]
    assert dict(workflow.attributes or {}) | {"workflow.duration_seconds": 0} == {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": "support",
        "workflow.name": "support",
        "workflow.trigger": "api",
        "workflow.run_id": "run-1",
        "workflow.status": "success",
        "workflow.duration_seconds": 0,
    }
    tool_attributes = dict(tool.attributes or {})
    assert tool_attributes["gen_ai.tool.name"] == "kb_search"
    assert tool_attributes["gen_ai.tool.call.id"] == "call-1"
    assert tool_attributes["tool.server"] == "docs-mcp"
    assert tool_attributes["gen_ai.tool.type"] == "extension"
    assert (
        rec.value("workflow_runs_total", workflow="support", trigger="api", status="success") == 1
    )
    assert rec.value("workflows_active", workflow="support") == 0
    assert (
        rec.value("agent_runs_total", agent_type="triage", action="classify", status="success") == 1
    )
    assert rec.value("agent_runs_in_progress", agent_type="triage") == 0
    assert rec.value("agent_retries_total", agent_type="triage") == 1
    assert rec.value("tool_calls_total", tool="kb_search", server="docs-mcp", status="success") == 1
    labels = {"provider": "openai", "model": "gpt-4o-mini"}
    assert rec.value("llm_requests_total", **labels, operation="chat", status="success") == 1
    assert rec.value("llm_request_duration_seconds_count", **labels, operation="chat") == 1
    assert rec.value("llm_tokens_total", **labels, type="input") == 100
    assert rec.value("llm_tokens_total", **labels, type="output") == 20


async def test_gauges_count_what_runs_now(rec: Recording) -> None:
    release = asyncio.Event()

    async def run(index: int) -> None:
        async with agentwatch.workflow_run("batch", trigger="schedule"):  # noqa: SIM117
            async with agentwatch.agent_run("worker"):
                async with agentwatch.approval_wait("batch", approval_id=f"a{index}") as wait:
                    await release.wait()
                    wait.approve()

    tasks = [asyncio.create_task(run(index)) for index in range(5)]
    await asyncio.sleep(0.01)
    assert rec.value("workflows_active", workflow="batch") == 5
    assert rec.value("agent_runs_in_progress", agent_type="worker") == 5
    assert rec.value("workflow_approvals_pending", workflow="batch") == 5
    release.set()
    await asyncio.gather(*tasks)
    assert rec.value("workflows_active", workflow="batch") == 0
    assert rec.value("workflow_approvals_pending", workflow="batch") == 0
    assert rec.value("workflow_approval_wait_seconds_count", workflow="batch") == 5
    assert (
        rec.value("workflow_runs_total", workflow="batch", trigger="schedule", status="success")
        == 5
    )
    outcomes = {
        span.attributes["approval.outcome"]
        for span in rec.spans()
        if span.name == "approval_wait batch"
    }  # type: ignore[index]
    assert outcomes == {"approved"}


class AgentBroke(Exception):
    pass


def test_a_failing_agent_marks_every_ancestor_and_the_trace_is_kept() -> None:
    with recording(ratio=0.0) as rec:  # successes are dropped, errors kept
        tracer = agentwatch.get_tracer()
        with pytest.raises(AgentBroke), tracer.start_as_current_span("POST /api/run") as request:  # noqa: SIM117
            with agentwatch.workflow_run("support", trigger="api"):
                with agentwatch.agent_run("researcher", "search"):
                    raise AgentBroke("no sources")
        spans = {span.name: span for span in rec.spans()}
        assert set(spans) == {"POST /api/run", "invoke_workflow support", "invoke_agent researcher"}
        for name in ("invoke_agent researcher", "invoke_workflow support"):
            assert spans[name].status.status_code is StatusCode.ERROR
            assert spans[name].attributes["error.type"] == "AgentBroke"  # type: ignore[index]
            assert [event.name for event in spans[name].events] == ["exception"]
        assert request.status.status_code is StatusCode.ERROR  # type: ignore[attr-defined]
        assert (
            rec.value("agent_errors_total", agent_type="researcher", error_type="AgentBroke") == 1
        )
        assert (
            rec.value("agent_runs_total", agent_type="researcher", action="search", status="error")
            == 1
        )
        assert (
            rec.value("workflow_runs_total", workflow="support", trigger="api", status="error") == 1
        )
        assert rec.value("agentwatch_traces_sampled_total", decision="keep", reason="error") == 1


@pytest.mark.parametrize("how", ["run.fail(propagate=True)", "agentwatch.mark_error"])
def test_a_handled_agent_failure_still_marks_the_request(how: str) -> None:
    with recording(ratio=0.0) as rec:
        tracer = agentwatch.get_tracer()
        with tracer.start_as_current_span("POST /api/run"):  # noqa: SIM117
            with agentwatch.workflow_run("support", trigger="api") as run:
                try:
                    with agentwatch.agent_run("researcher", "search"):
                        raise AgentBroke("no sources")
                except AgentBroke as exc:
                    if how == "agentwatch.mark_error":
                        agentwatch.mark_error(exc)
                    else:
                        run.fail(exc, propagate=True)
        spans = {span.name: span for span in rec.spans()}
        assert {name: span.status.status_code for name, span in spans.items()} == {
            "POST /api/run": StatusCode.ERROR,
            "invoke_workflow support": StatusCode.ERROR,
            "invoke_agent researcher": StatusCode.ERROR,
        }
        assert spans["POST /api/run"].attributes["error.type"] == "AgentBroke"  # type: ignore[index]
        assert (
            rec.value("workflow_runs_total", workflow="support", trigger="api", status="error") == 1
        )


def test_fail_without_propagate_leaves_the_parents_alone(rec: Recording) -> None:
    with agentwatch.workflow_run("support"):  # noqa: SIM117
        with agentwatch.agent_run("researcher") as agent:
            agent.fail("no_results")
    assert rec.span("invoke_agent researcher").status.status_code is StatusCode.ERROR
    assert rec.span("invoke_workflow support").status.status_code is StatusCode.UNSET
    assert rec.value("agent_errors_total", agent_type="researcher", error_type="no_results") == 1


def test_an_llm_error_is_counted_by_type(rec: Recording) -> None:
    with pytest.raises(TimeoutError), agentwatch.llm_call("anthropic", "claude-haiku-4-5"):
        raise TimeoutError
    span = rec.span("chat claude-haiku-4-5")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "TimeoutError"  # type: ignore[index]
    labels = {"provider": "anthropic", "model": "claude-haiku-4-5"}
    assert rec.value("llm_requests_total", **labels, operation="chat", status="error") == 1
    assert rec.value("llm_errors_total", **labels, error_type="TimeoutError") == 1


def test_retries_and_fallbacks_are_metrics_and_span_events(rec: Recording) -> None:
    with agentwatch.llm_call("openai", "gpt-4o") as call:
        call.retry("rate_limit", attempt=1, error="RateLimitError")
        call.retry("rate_limit", attempt=2)
        call.fallback("anthropic", "claude-sonnet-4-5", reason="rate_limit")
    span = rec.span("chat gpt-4o")
    assert [event.name for event in span.events] == [
        "gen_ai.retry",
        "gen_ai.retry",
        "gen_ai.fallback",
    ]
    assert dict(span.events[0].attributes or {}) == {
        "retry.reason": "rate_limit",
        "retry.attempt": 1,
        "error.type": "RateLimitError",
    }
    assert dict(span.events[2].attributes or {}) == {
        "fallback.from_provider": "openai",
        "fallback.to_provider": "anthropic",
        "fallback.to_model": "claude-sonnet-4-5",
        "fallback.reason": "rate_limit",
    }
    assert rec.value("llm_retries_total", provider="openai", reason="rate_limit") == 2
    assert rec.value("llm_fallbacks_total", from_provider="openai", to_provider="anthropic") == 1


def test_content_is_not_captured_by_default(rec: Recording) -> None:
    with agentwatch.llm_call("openai", "gpt-4o") as call:
        call.set_prompt([{"role": "user", "content": "hello"}])
        call.set_completion("hi")
    with agentwatch.tool_call("lookup", arguments={"q": "secret"}) as tool:
        tool.set_result("found")
    for span in rec.spans():
        assert not [
            key for key in span.attributes or {} if "messages" in key or "tool.call.a" in key
        ]


def test_captured_content_goes_through_the_redaction_rules() -> None:
    with recording(capture_content=True) as rec:
        with agentwatch.llm_call("openai", "gpt-4o") as call:
            call.set_prompt([{"role": "user", "content": "mail bob@example.com, password=hunter2"}])
            call.set_completion("sent to bob@example.com")
        with agentwatch.tool_call(
            "send_email", arguments={"to": "bob@example.com", "api_key": "x1"}
        ) as tool:
            tool.set_result({"ok": True})
        llm = rec.span("chat gpt-4o").attributes or {}
        prompt = json.loads(str(llm["gen_ai.input.messages"]))
        assert prompt == [
            {
                "role": "user",
                "parts": [
                    {"type": "text", "content": "mail [REDACTED:email], password=[REDACTED]"}
                ],
            }
        ]
        completion = json.loads(str(llm["gen_ai.output.messages"]))
        assert completion[0]["role"] == "assistant"
        assert "bob@example.com" not in json.dumps(completion)
        tool_attributes = rec.span("execute_tool send_email").attributes or {}
        assert json.loads(str(tool_attributes["gen_ai.tool.call.arguments"])) == {
            "to": "[REDACTED:email]",
            "api_key": "[REDACTED]",
        }
        assert tool_attributes["gen_ai.tool.call.result"] == '{"ok": true}'


def test_an_mcp_error_result_fails_the_tool_call(rec: Recording) -> None:
    with agentwatch.tool_call("search", server="docs") as tool:
        tool.set_result({"isError": True, "content": [{"type": "text", "text": "boom"}]})
    assert (
        rec.value("tool_errors_total", tool="search", server="docs", error_type="tool_error") == 1
    )
    assert rec.value("tool_calls_total", tool="search", server="docs", status="error") == 1


def test_instrumentation_works_before_init() -> None:
    with agentwatch.workflow_run("early"), agentwatch.llm_call("openai", "gpt-4o") as call:
        call.record_usage(input_tokens=1, output_tokens=1)
    assert (
        agentwatch.metric("workflow_runs_total").labels("early", "manual", "success")._value.get()
        >= 1
    )


def test_a_handle_started_twice_is_reported_not_raised(
    rec: Recording, internal_errors: list[object]
) -> None:
    internal_errors.expected = True  # type: ignore[attr-defined]
    run = agentwatch.agent_run("twice")
    with run:
        run.start()
    assert len(internal_errors) == 1
    assert rec.value("agent_runs_total", agent_type="twice", action="run", status="success") == 1
