"""How the demo's agents talk to LLMs: retries, then a fallback provider.

The primary provider is called through the real ``openai`` client (``max_retries=0``:
the retry loop is ours, so each retry is counted with its reason). After the last
attempt the call falls back to the Anthropic API over plain httpx. One ``llm_call`` span
covers the primary attempts — ``instrument_openai()`` fills in usage and model — with
``gen_ai.retry`` and ``gen_ai.fallback`` events; the fallback is its own ``llm_call``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import openai

import agentwatch

__all__ = ["LLMClient", "LLMUnavailable"]

Messages = Sequence[dict[str, str]]
FALLBACK_PROVIDER = "anthropic"
FALLBACK_MODEL = "claude-haiku-4-5"


class LLMUnavailable(Exception):
    """Every attempt and the fallback failed."""


def _retry_reason(error: Exception) -> str | None:
    """Why a failed attempt is worth retrying, or None when it is not."""
    if isinstance(error, openai.RateLimitError):
        return "rate_limit"
    if isinstance(error, openai.APIStatusError):
        return "server_error" if error.status_code >= 500 else None
    if isinstance(error, openai.APITimeoutError):
        return "timeout"
    if isinstance(error, openai.APIConnectionError):
        return "connection"
    return None


class LLMClient:
    """The demo's LLM access: ``await client.complete(messages, model=...)``."""

    def __init__(self, base_url: str, *, attempts: int = 3, backoff_seconds: float = 0.05) -> None:
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.openai = openai.AsyncOpenAI(
            base_url=f"{base_url}/v1", api_key="sk-demo-not-a-real-key", max_retries=0, timeout=30
        )
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)

    async def close(self) -> None:
        await self.openai.close()
        await self.http.aclose()

    async def complete(self, messages: Messages, *, model: str, max_tokens: int = 300) -> str:
        try:
            return await self._primary(messages, model, max_tokens)
        except LLMUnavailable:
            return await self._fallback(messages, max_tokens)

    async def _primary(self, messages: Messages, model: str, max_tokens: int) -> str:
        request = {"max_tokens": max_tokens}
        async with agentwatch.llm_call("openai", model, request=request) as call:
            call.set_prompt(list(messages))
            for attempt in range(1, self.attempts + 1):
                try:
                    response = await self.openai.chat.completions.create(
                        model=model,
                        messages=list(messages),  # type: ignore[arg-type]
                        max_tokens=max_tokens,
                    )
                except openai.OpenAIError as exc:
                    reason = _retry_reason(exc)
                    if reason is None:
                        raise
                    if attempt == self.attempts:
                        call.fallback(FALLBACK_PROVIDER, FALLBACK_MODEL, reason=reason)
                        call.fail(exc)
                        raise LLMUnavailable(f"openai: {reason} after {attempt} attempts") from exc
                    call.retry(reason, attempt=attempt, error=exc)
                    await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
                    continue
                text = response.choices[0].message.content or ""
                call.set_completion(text)
                return text
        raise AssertionError("unreachable")

    async def _fallback(self, messages: Messages, max_tokens: int) -> str:
        body: dict[str, Any] = {
            "model": FALLBACK_MODEL,
            "max_tokens": max_tokens,
            "messages": [m for m in messages if m.get("role") != "system"],
            "system": " ".join(m["content"] for m in messages if m.get("role") == "system"),
        }
        async with agentwatch.llm_call(
            FALLBACK_PROVIDER, FALLBACK_MODEL, request={"max_tokens": max_tokens}
        ) as call:
            for attempt in range(1, self.attempts + 1):  # the fallback retries too
                response = await self.http.post(
                    "/v1/messages",
                    json=body,
                    headers={"x-api-key": "demo", "anthropic-version": "2023-06-01"},
                )
                if response.status_code < 500 and response.status_code != 429:
                    break
                if attempt < self.attempts:
                    call.retry(f"http_{response.status_code}", attempt=attempt)
                    await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            if response.status_code >= 400:
                call.fail(f"http_{response.status_code}")
                raise LLMUnavailable(f"{FALLBACK_PROVIDER}: HTTP {response.status_code}")
            data = response.json()
            call.record_response(data)
            return "".join(block.get("text", "") for block in data.get("content", []))
