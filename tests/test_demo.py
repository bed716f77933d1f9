"""The demo agent service over HTTP on 127.0.0.1: traces, failures, approvals, chat."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from tests._genai_support import DemoRun, demo_service, parent_of, span_id

from agentwatch.propagation import untraced

TRIGGER = "POST /api/workflows/{name}/trigger"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoRun]:
    with demo_service(str(tmp_path)) as running, untraced():
        yield running


def _trace_of(spans: list[ReadableSpan], root_name: str) -> list[ReadableSpan]:
    roots = [span for span in spans if span.name == root_name]
    assert len(roots) == 1, [span.name for span in spans]
    trace_id = roots[0].context.trace_id  # type: ignore[union-attr]
    return [span for span in spans if span.context.trace_id == trace_id]  # type: ignore[union-attr]


def _tree(spans: list[ReadableSpan], root: ReadableSpan) -> dict[str, Any]:
    children = [span for span in spans if parent_of(span) == span_id(root)]
    return {
        root.name: [
            _tree(spans, child) for child in sorted(children, key=lambda s: s.start_time or 0)
        ]
    }


def test_a_workflow_run_is_one_trace_from_request_to_queries(demo: DemoRun) -> None:
    response = httpx.post(
        f"{demo.url}/api/workflows/support_ticket/trigger",
        json={"input": "My order 1042 is delayed", "wait": True},
        timeout=30,
    )
    assert response.status_code == 200 and response.json()["status"] == "succeeded"
    spans = _trace_of(demo.spans(), TRIGGER)
    request = next(span for span in spans if span.name == TRIGGER)
    assert parent_of(request) is None
    assert all(
        parent_of(span) in {span_id(s) for s in spans} for span in spans if span is not request
    )
    assert _tree(spans, request) == {
        TRIGGER: [
            {"INSERT workflow_runs": []},
            {"UPDATE workflow_runs": []},
            {
                "invoke_workflow support_ticket": [
                    {"invoke_agent triage": [{"chat gpt-4o-mini": []}, {"INSERT agent_steps": []}]},
                    {
                        "invoke_agent researcher": [
                            {"execute_tool kb_search": [{"SELECT articles": []}]},
                            {"execute_tool web_search": []},
                            {"chat gpt-4o-mini": []},
                            {"INSERT agent_steps": []},
                        ]
                    },
                    {"invoke_agent responder": [{"chat gpt-4o": []}, {"INSERT agent_steps": []}]},
                    {"UPDATE workflow_runs": []},
                ]
            },
            {"SELECT workflow_runs": []},
            {"SELECT agent_steps": []},
        ]
    }
    assert request.kind is SpanKind.SERVER
    assert (request.attributes or {})["http.route"] == "/api/workflows/{name}/trigger"
    by_name = {span.name: span for span in spans}
    workflow = by_name["invoke_workflow support_ticket"].attributes or {}
    assert (
        workflow["workflow.trigger"] == "api"
        and workflow["workflow.run_id"] == response.json()["run_id"]
    )
    responder = by_name["chat gpt-4o"].attributes or {}
    assert responder["gen_ai.provider.name"] == "openai"
    assert responder["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert responder["gen_ai.usage.cache_read.input_tokens"] > 0  # the long policy prompt
    assert by_name["execute_tool web_search"].attributes["tool.server"] == "web-mcp"  # type: ignore[index]
    assert all(span.status.status_code is StatusCode.UNSET for span in spans)


def test_a_failing_agent_fails_its_ancestors_and_the_trace_is_kept(tmp_path: Path) -> None:
    with demo_service(str(tmp_path), ratio=0.0) as demo, untraced():
        ok = httpx.post(
            f"{demo.url}/api/workflows/support_ticket/trigger",
            json={"input": "fine", "wait": True},
            timeout=30,
        )
        assert ok.json()["status"] == "succeeded"
        failed = httpx.post(
            f"{demo.url}/api/workflows/support_ticket/trigger",
            json={"input": "Where is my order? [fail:500]", "wait": True},
            timeout=30,
        )
        assert failed.status_code == 200
        assert failed.json()["status"] == "failed"
        assert failed.json()["error"].startswith("LLMUnavailable")
        spans = demo.spans()
        assert {span.context.trace_id for span in spans} == {spans[0].context.trace_id}  # type: ignore[union-attr]
        by_name = {span.name: span for span in spans}
        for name in (TRIGGER, "invoke_workflow support_ticket", "invoke_agent triage"):
            assert by_name[name].status.status_code is StatusCode.ERROR, name
            assert (by_name[name].attributes or {})["error.type"] == "LLMUnavailable"
        assert [event.name for event in by_name["invoke_agent triage"].events] == ["exception"]
        primary = by_name["chat gpt-4o-mini"]
        assert [event.name for event in primary.events] == [
            "gen_ai.retry",
            "gen_ai.retry",
            "gen_ai.fallback",
            "exception",
        ]
        assert by_name["chat claude-haiku-4-5"].status.status_code is StatusCode.ERROR
        assert (
            demo.value("agent_errors_total", agent_type="triage", error_type="LLMUnavailable") == 1
        )
        assert (
            demo.value(
                "workflow_runs_total", workflow="support_ticket", trigger="api", status="error"
            )
            == 1
        )
        assert demo.value("llm_retries_total", provider="openai", reason="server_error") == 2
        assert (
            demo.value("llm_fallbacks_total", from_provider="openai", to_provider="anthropic") == 1
        )
        assert demo.value("agentwatch_traces_sampled_total", decision="keep", reason="error") >= 1


def _wait_for(read: Any, done: Any, what: str, seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}: last saw {value!r}")
        time.sleep(0.02)


def test_background_run_waits_for_approval_and_links_to_its_request(demo: DemoRun) -> None:
    client = httpx.Client(base_url=demo.url, timeout=30)
    accepted = client.post("/api/workflows/refund/trigger", json={"input": "refund order 1042"})
    assert accepted.status_code == 202
    run_id = accepted.json()["run_id"]
    pending = _wait_for(
        lambda: client.get("/api/approvals").json()["approvals"], bool, "an approval"
    )
    assert pending[0]["run_id"] == run_id
    assert client.get(f"/api/workflows/runs/{run_id}").json()["status"] == "awaiting_approval"
    assert demo.value("workflow_approvals_pending", workflow="refund") == 1
    decided = client.post(
        f"/api/approvals/{pending[0]['approval_id']}/decision", json={"approve": True}
    )
    assert decided.json()["status"] == "approved"
    assert (
        client.post(
            f"/api/approvals/{pending[0]['approval_id']}/decision", json={"approve": True}
        ).status_code
        == 404
    )
    run = _wait_for(
        lambda: client.get(f"/api/workflows/runs/{run_id}").json(),
        lambda r: r["status"] == "succeeded",
        "the run",
    )
    assert [step["agent"] for step in run["steps"]] == ["triage", "refunder"]
    client.close()
    spans = demo.spans()
    job = next(span for span in spans if span.name == "process workflows")
    request = next(span for span in spans if span.name == TRIGGER)
    assert job.kind is SpanKind.CONSUMER and parent_of(job) is None
    assert [link.context.span_id for link in job.links] == [span_id(request)]
    wait = next(span for span in spans if span.name == "approval_wait refund")
    assert (wait.attributes or {})["approval.outcome"] == "approved"
    assert demo.value("workflow_approval_wait_seconds_count", workflow="refund") == 1
    assert demo.value("queue_jobs_total", queue="workflows", status="succeeded") == 1


def test_a_rejected_approval_ends_the_run(demo: DemoRun) -> None:
    with httpx.Client(base_url=demo.url, timeout=30) as client:
        run_id = client.post("/api/workflows/refund/trigger", json={"input": "refund"}).json()[
            "run_id"
        ]
        approval = _wait_for(
            lambda: client.get("/api/approvals").json()["approvals"], bool, "an approval"
        )[0]
        client.post(f"/api/approvals/{approval['approval_id']}/decision", json={"approve": False})
        _wait_for(
            lambda: client.get(f"/api/workflows/runs/{run_id}").json()["status"],
            lambda s: s == "rejected",
            "rejection",
        )
    assert (
        demo.value("workflow_runs_total", workflow="refund", trigger="api", status="success") == 1
    )


@pytest.mark.parametrize(
    ("stream", "max_words", "estimated"),
    [(False, None, False), (True, None, False), (True, 3, True)],
)
def test_chat(demo: DemoRun, stream: bool, max_words: int | None, estimated: bool) -> None:
    body = {"message": "Hello, where is my parcel?", "stream": stream, "max_words": max_words}
    response = httpx.post(f"{demo.url}/api/chat", json=body, timeout=30)
    assert response.status_code == 200
    if max_words:
        assert len(response.json()["reply"].split()) == max_words
    chat = next(span for span in demo.spans() if span.name == "chat gpt-4o-mini")
    attributes = chat.attributes or {}
    assert attributes.get("agentwatch.usage.estimated", False) is estimated
    assert attributes["gen_ai.usage.output_tokens"] > 0
    assert (
        demo.value("agent_runs_total", agent_type="assistant", action="chat", status="success") == 1
    )


def test_bad_requests_are_labelled_by_route_template(demo: DemoRun) -> None:
    with httpx.Client(base_url=demo.url, timeout=30) as client:
        assert client.post("/api/workflows/nope/trigger", json={}).status_code == 404
        assert client.post("/api/chat", json={"text": "no message"}).status_code == 422
        assert client.get("/api/workflows/runs/unknown").status_code == 404
        assert client.get("/api/workflows").json() == {
            "workflows": ["alert_notifier", "refund", "research_report", "support_ticket"]
        }
        metrics = client.get("/metrics").text
        health = client.get("/health/full")
    assert 'route="/api/workflows/{name}/trigger",status="404"' in metrics
    assert "nope" not in metrics and "unknown" not in metrics
    assert health.status_code == 200
    assert {"database", "llm", "queue"} <= {key.split(":")[0] for key in health.json()["checks"]}


ALERTMANAGER_BODY = {
    "version": "4",
    "status": "firing",
    "receiver": "hub",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "LLMProviderDown",
                "severity": "critical",
                "service": "agent-demo",
            },
            "annotations": {"summary": "agent-demo: LLM provider openai failing"},
        }
    ],
}


def test_an_alert_webhook_runs_the_notifier_workflow(demo: DemoRun) -> None:
    with httpx.Client(base_url=demo.url, timeout=30) as client:
        key = {"X-Agentwatch-Idempotency-Key": "fp1:firing:notifier:1"}
        accepted = client.post("/webhooks/alerts", json=ALERTMANAGER_BODY, headers=key)
        assert accepted.status_code == 202
        [run_id] = accepted.json()["runs"]
        repeat = client.post("/webhooks/alerts", json=ALERTMANAGER_BODY, headers=key)
        assert (repeat.status_code, repeat.json()["runs"]) == (200, [run_id])
        run = _wait_for(
            lambda: client.get(f"/api/workflows/runs/{run_id}").json(),
            lambda r: r["status"] == "succeeded",
            "the notifier run",
        )
        assert (run["workflow"], run["trigger"]) == ("alert_notifier", "webhook")
        assert [step["agent"] for step in run["steps"]] == ["notifier"]
        assert client.post("/webhooks/alerts", json={"nothing": 1}).status_code == 400
        assert client.post("/webhooks/alerts", content=b"[").status_code == 400
    labels = {"workflow": "alert_notifier", "trigger": "webhook", "status": "success"}
    assert demo.value("workflow_runs_total", **labels) == 1
    tool = next(span for span in demo.spans() if span.name == "execute_tool post_incident_note")
    assert (tool.attributes or {})["tool.server"] == "incident-log"
