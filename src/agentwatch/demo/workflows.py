"""The demo's workflows: sequences of agents that call an LLM and tools, with approvals.

Every step is instrumented with the public API — ``workflow_run`` around the run,
``agent_run`` per agent, ``tool_call`` per tool, ``approval_wait`` for a human decision;
LLM calls go through :mod:`agentwatch.demo.llm`. A failing agent fails its workflow,
which marks every ancestor up to the request (``run.fail(exc, propagate=True)``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import uuid
from dataclasses import dataclass

import agentwatch
from agentwatch._genai.runs import AgentRun

from .cache import Cache
from .llm import LLMClient, LLMUnavailable
from .store import Store

__all__ = ["APPROVAL", "WORKFLOWS", "Agent", "ToolError", "WorkflowEngine"]

APPROVAL = "approval"
log = logging.getLogger("agentwatch.demo")
_POLICY = " ".join(f"Support policy, section {i}: be accurate, brief and kind." for i in range(120))


class ToolError(Exception):
    """A tool failed (the simulated web search is flaky)."""


@dataclass(frozen=True)
class Agent:
    agent_type: str
    action: str
    model: str
    instructions: str
    tools: tuple[str, ...] = ()
    max_tokens: int = 200
    long_context: bool = False


TRIAGE = Agent("triage", "classify", "gpt-4o-mini", "Classify the request.", max_tokens=40)
RESEARCHER = Agent(
    "researcher", "search", "gpt-4o-mini", "Find facts.", ("kb_search", "web_search")
)
RESPONDER = Agent("responder", "draft", "gpt-4o", "Write the reply.", long_context=True)
REFUNDER = Agent("refunder", "refund", "gpt-4o-mini", "Issue the refund.", ("issue_refund",), 60)
WRITER = Agent("writer", "draft", "gpt-4o", "Write the report.", max_tokens=400, long_context=True)
REVIEWER = Agent("reviewer", "review", "gpt-4o-mini", "Review the report.", max_tokens=80)
NOTIFIER = Agent(
    "notifier",
    "notify",
    "gpt-4o-mini",
    "Write the alert up for the on-call engineer and post it to the incident log.",
    ("post_incident_note",),
    120,
)

WORKFLOWS: dict[str, tuple[Agent | str, ...]] = {
    "support_ticket": (TRIAGE, RESEARCHER, RESPONDER),
    "refund": (TRIAGE, APPROVAL, REFUNDER),
    "research_report": (RESEARCHER, WRITER, REVIEWER),
    "alert_notifier": (NOTIFIER,),  # run by the alert webhook (see notifier.py)
}
TOOL_SERVERS = {
    "kb_search": "local",
    "web_search": "web-mcp",
    "issue_refund": "payments",
    "post_incident_note": "incident-log",
}


class WorkflowEngine:
    """Runs workflows; approvals wait here until :meth:`decide` answers them."""

    def __init__(
        self,
        store: Store,
        cache: Cache,
        llm: LLMClient,
        *,
        tool_failure_rate: float = 0.03,
        approval_timeout_seconds: float = 300.0,
        seed: int | None = None,
    ) -> None:
        self.store, self.cache, self.llm = store, cache, llm
        self.tool_failure_rate = tool_failure_rate
        self.approval_timeout_seconds = approval_timeout_seconds
        self.random = random.Random(seed)
        self._waiters: dict[str, asyncio.Future[bool]] = {}

    async def run(self, run_id: str, workflow: str, text: str, trigger: str) -> str:
        """Run a workflow to its end; returns the final status."""
        await self.store.set_status(run_id, "running")
        context = text
        async with agentwatch.workflow_run(workflow, trigger, run_id=run_id) as run:
            for step in WORKFLOWS[workflow]:
                try:
                    if step == APPROVAL:
                        if not await self._approval(run_id, workflow):
                            await self.store.set_status(run_id, "rejected")
                            return "rejected"
                        continue
                    assert isinstance(step, Agent)
                    context = await self._agent(run_id, step, context)
                except (LLMUnavailable, ToolError, TimeoutError) as exc:
                    log.warning("workflow %s run %s failed: %s", workflow, run_id, exc)
                    run.fail(exc, propagate=True)  # handled, yet the whole trace shows it
                    await self.store.set_status(
                        run_id, "failed", error=f"{type(exc).__name__}: {exc}"[:200]
                    )
                    return "failed"
            await self.store.set_status(run_id, "succeeded", result=context[:500])
            log.info("workflow %s run %s succeeded", workflow, run_id)
        return "succeeded"

    async def _agent(self, run_id: str, agent: Agent, context: str) -> str:
        async with agentwatch.agent_run(agent.agent_type, agent.action) as run:
            try:
                notes = [await self._tool(run, name, context) for name in agent.tools]
                system = agent.instructions + (" " + _POLICY if agent.long_context else "")
                messages = [
                    {"role": "system", "content": system},
                    {"role": "user", "content": "\n".join([context, *notes])},
                ]
                output = await self.llm.complete(
                    messages, model=agent.model, max_tokens=agent.max_tokens
                )
            except (LLMUnavailable, ToolError) as exc:
                await self.store.add_step(run_id, agent.agent_type, "failed", str(exc))
                raise
            await self.store.add_step(run_id, agent.agent_type, "succeeded", output)
            return output

    async def _tool(self, run: AgentRun, name: str, query: str) -> str:
        for attempt in (1, 2):
            try:
                async with agentwatch.tool_call(
                    name, server=TOOL_SERVERS[name], arguments={"q": query[:80]}
                ):
                    result: str = await getattr(self, f"_{name}")(query)
                    return result
            except ToolError:
                if attempt == 2:
                    raise
                run.retry("tool_error")
        raise AssertionError("unreachable")

    async def _kb_search(self, query: str) -> str:
        words = [word for word in query.lower().split() if len(word) > 3][:6]
        key = "kb:" + hashlib.sha1(" ".join(sorted(words)).encode()).hexdigest()[:16]
        cached = await self.cache.get(key)
        if cached is not None:
            return cached
        found = " ".join(await self.store.search_articles(words)) or "no article found"
        await self.cache.set(key, found, ttl_seconds=60)
        return found

    async def _web_search(self, query: str) -> str:
        await asyncio.sleep(self.random.uniform(0.01, 0.06))
        if self.random.random() < self.tool_failure_rate or "[fail:tool]" in query:
            raise ToolError("web search timed out (simulated)")
        return f"web: {len(query.split())} results"

    async def _issue_refund(self, query: str) -> str:
        await asyncio.sleep(self.random.uniform(0.01, 0.03))
        return "refund issued"

    async def _post_incident_note(self, query: str) -> str:
        await asyncio.sleep(self.random.uniform(0.005, 0.02))
        log.info("incident note posted: %s", query[:120])
        return "note posted to the incident log"

    async def _approval(self, run_id: str, workflow: str) -> bool:
        approval_id = uuid.uuid4().hex
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters[approval_id] = waiter  # before anyone can see the approval
        try:
            async with agentwatch.approval_wait(workflow, approval_id=approval_id) as wait:
                await self.store.create_approval(approval_id, run_id, workflow)
                await self.store.set_status(run_id, "awaiting_approval")
                approved = await asyncio.wait_for(waiter, self.approval_timeout_seconds)
                wait.approve() if approved else wait.reject()
        finally:
            self._waiters.pop(approval_id, None)
        return approved

    async def decide(self, approval_id: str, approved: bool) -> str | None:
        """Record a human decision; None when no pending approval has this id."""
        status = await self.store.decide_approval(approval_id, approved)
        waiter = self._waiters.get(approval_id)
        if status is not None and waiter is not None and not waiter.done():
            waiter.set_result(approved)
        return status
