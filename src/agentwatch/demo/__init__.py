"""The demo agent service that ``agentwatch demo`` runs.

``llm_server`` simulates an LLM provider (OpenAI and Anthropic APIs), ``app`` is the
instrumented FastAPI agent orchestration service, ``traffic`` drives both, ``cli`` wires
the command.

An application of agentwatch: it may import the public API (``agentwatch`` and its
documented submodules) and the GenAI helpers; nothing below imports it.
"""
