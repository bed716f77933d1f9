"""GenAI instrumentation: ``llm_call``, ``agent_run``, ``workflow_run``, ``tool_call``,
``approval_wait``, with streams, budgets and prices.

Owns ``api.py`` (the functions ``agentwatch`` exports), ``operation.py`` (the span and
metrics around one unit of work), ``llm.py`` and ``streams.py`` (LLM calls and the
responses and streams they read), ``runs.py`` (agents, workflows, tools, approvals),
``budget.py`` and ``pricing.py`` (with ``pricing.json``, the shipped price table).

May import ``_tracing`` (exception events), the core and the foundation; the client
auto-instrumentation (``_integrations``) builds on it, never the reverse.
"""
