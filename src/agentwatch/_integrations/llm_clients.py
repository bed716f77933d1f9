"""``instrument_openai()`` and ``instrument_anthropic()``: every client call recorded.

>>> agentwatch.instrument_openai()       # pip install 'agentwatch[openai]'
>>> agentwatch.instrument_anthropic()    # pip install 'agentwatch[anthropic]'

Patched methods, sync and async clients alike: OpenAI ``chat.completions.create``
(streaming included) and ``embeddings.create``; Anthropic ``messages.create`` (streaming
included). Each becomes an ``llm_call`` with the model, usage, finish reasons, server
address and cost; content is captured only when ``capture_content`` is on.

Streams: OpenAI reports usage in a stream only when asked with
``stream_options={"include_usage": True}``; without it agentwatch counts the content
chunks as output tokens and estimates the input (``agentwatch.usage.estimated``).
``chat.completions.parse`` and the Responses API are not patched: wrap them in
``llm_call`` and ``record_response``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._genai.llm import LLMCall
from .patching import (
    CallPlan,
    estimate_tokens,
    patch_method,
    require,
    server_of,
    unpatch_method,
)

__all__ = [
    "instrument_anthropic",
    "instrument_openai",
    "uninstrument_anthropic",
    "uninstrument_openai",
]


def _plan(provider: str, operation: str, resource: Any, kwargs: Mapping[str, Any]) -> CallPlan:
    host, port = server_of(resource)
    prompt: Any = kwargs.get("messages")
    if operation == "embeddings":
        prompt = kwargs.get("input")
    call = LLMCall(
        provider,
        str(kwargs.get("model") or "unknown"),
        operation,
        server_address=host,
        server_port=port,
        request=kwargs,
    )
    system = kwargs.get("system")
    if isinstance(system, str) and isinstance(prompt, list):
        prompt = [{"role": "system", "content": system}, *prompt]
    return CallPlan(call, bool(kwargs.get("stream")), prompt, estimate_tokens(prompt))


def _openai_chat(resource: Any, kwargs: Mapping[str, Any]) -> CallPlan:
    return _plan("openai", "chat", resource, kwargs)


def _openai_embeddings(resource: Any, kwargs: Mapping[str, Any]) -> CallPlan:
    return _plan("openai", "embeddings", resource, kwargs)


def _anthropic_messages(resource: Any, kwargs: Mapping[str, Any]) -> CallPlan:
    return _plan("anthropic", "chat", resource, kwargs)


def _openai_targets() -> list[tuple[type, Any, bool]]:
    chat = require("openai.resources.chat.completions", "openai", "instrument_openai()")
    embeddings = require("openai.resources.embeddings", "openai", "instrument_openai()")
    return [
        (chat.Completions, _openai_chat, False),
        (chat.AsyncCompletions, _openai_chat, True),
        (embeddings.Embeddings, _openai_embeddings, False),
        (embeddings.AsyncEmbeddings, _openai_embeddings, True),
    ]


def _anthropic_targets() -> list[tuple[type, Any, bool]]:
    messages = require("anthropic.resources.messages", "anthropic", "instrument_anthropic()")
    return [
        (messages.Messages, _anthropic_messages, False),
        (messages.AsyncMessages, _anthropic_messages, True),
    ]


def _patch(targets: list[tuple[type, Any, bool]]) -> None:
    for owner, describe, is_async in targets:
        patch_method(owner, "create", describe, is_async=is_async)


def _unpatch(targets: list[tuple[type, Any, bool]]) -> None:
    for owner, _describe, _is_async in targets:
        unpatch_method(owner, "create")


def instrument_openai() -> None:
    """Record every call of the ``openai`` client (all clients, existing and future)."""
    _patch(_openai_targets())


def uninstrument_openai() -> None:
    _unpatch(_openai_targets())


def instrument_anthropic() -> None:
    """Record every call of the ``anthropic`` client (all clients, existing and future)."""
    _patch(_anthropic_targets())


def uninstrument_anthropic() -> None:
    _unpatch(_anthropic_targets())
