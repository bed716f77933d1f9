"""Streams: usage and duration are recorded however the stream ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.trace import StatusCode
from tests._genai_support import Recording, recording

import agentwatch

LABELS = {"provider": "openai", "model": "gpt-4o-mini"}


@pytest.fixture
def rec() -> Iterator[Recording]:
    with recording() as active:
        yield active


def openai_chunks(words: int, usage: bool = True) -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = [
        {
            "id": "c9",
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"delta": {"content": f"w{i} "}}],
        }
        for i in range(words)
    ]
    chunks.append({"id": "c9", "choices": [{"delta": {}, "finish_reason": "stop"}]})
    if usage:
        counts = {
            "prompt_tokens": 40,
            "completion_tokens": words,
            "prompt_tokens_details": {"cached_tokens": 8},
        }
        chunks.append({"id": "c9", "choices": [], "usage": counts})
    return chunks


def anthropic_events(words: int) -> list[dict[str, Any]]:
    start = {
        "type": "message_start",
        "message": {
            "id": "m1",
            "model": "claude-haiku-4-5",
            "usage": {"input_tokens": 30, "cache_read_input_tokens": 10, "output_tokens": 1},
        },
    }
    deltas = [
        {"type": "content_block_delta", "delta": {"type": "text_delta", "text": f"w{i} "}}
        for i in range(words)
    ]
    end = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": words},
    }
    return [start, {"type": "content_block_start"}, *deltas, end, {"type": "message_stop"}]


async def slow_async(
    chunks: list[dict[str, Any]], gate: asyncio.Event | None = None
) -> AsyncIterator[dict[str, Any]]:
    for index, chunk in enumerate(chunks):
        if gate is not None and index == 3:
            gate.set()
            await asyncio.sleep(60)  # the consumer is cancelled while waiting here
        yield chunk


def test_a_whole_stream_records_the_reported_usage(rec: Recording) -> None:
    with agentwatch.llm_call("openai", "gpt-4o-mini") as call:
        text = "".join(
            chunk["choices"][0]["delta"]["content"]
            for chunk in call.stream(iter(openai_chunks(12)))
            if chunk["choices"] and chunk["choices"][0]["delta"]
        )
    assert text.startswith("w0 w1")
    attributes = rec.span("chat gpt-4o-mini").attributes or {}
    assert attributes["gen_ai.usage.input_tokens"] == 40
    assert attributes["gen_ai.usage.output_tokens"] == 12
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 8
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert "agentwatch.usage.estimated" not in attributes
    assert rec.value("llm_tokens_total", **LABELS, type="input") == 32
    assert rec.value("llm_tokens_total", **LABELS, type="cached_input") == 8
    assert rec.value("llm_time_to_first_token_seconds_count", **LABELS) == 1


def test_an_abandoned_stream_still_records_usage_and_duration(rec: Recording) -> None:
    with agentwatch.llm_call("openai", "gpt-4o-mini") as call:
        call.input_tokens_estimate = 25
        for index, _chunk in enumerate(call.stream(iter(openai_chunks(50)))):
            if index == 4:
                break  # the reader stops after five chunks
    attributes = rec.span("chat gpt-4o-mini").attributes or {}
    assert attributes["agentwatch.usage.estimated"] is True
    assert attributes["gen_ai.usage.output_tokens"] == 5
    assert attributes["gen_ai.usage.input_tokens"] == 25
    assert rec.value("llm_requests_total", **LABELS, operation="chat", status="success") == 1
    assert rec.value("llm_request_duration_seconds_count", **LABELS, operation="chat") == 1
    assert rec.value("llm_tokens_total", **LABELS, type="output") == 5
    assert rec.value("llm_cost_usd_total", **LABELS) == pytest.approx((25 * 0.15 + 5 * 0.6) / 1e6)


async def test_a_cancelled_stream_records_usage_duration_and_the_cancellation(
    rec: Recording,
) -> None:
    gate = asyncio.Event()

    async def consume() -> None:
        async with agentwatch.llm_call("openai", "gpt-4o-mini") as call:
            async for _chunk in call.stream(slow_async(openai_chunks(50), gate)):
                pass

    task = asyncio.create_task(consume())
    await gate.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = rec.span("chat gpt-4o-mini")
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "cancelled"
    assert (span.attributes or {})["gen_ai.usage.output_tokens"] == 3
    assert rec.value("llm_requests_total", **LABELS, operation="chat", status="error") == 1
    assert rec.value("llm_errors_total", **LABELS, error_type="cancelled") == 1
    assert rec.value("llm_request_duration_seconds_count", **LABELS, operation="chat") == 1
    assert rec.value("llm_tokens_total", **LABELS, type="output") == 3


def test_a_stream_failing_half_way_is_an_error_with_partial_usage(rec: Recording) -> None:
    def broken() -> Iterator[dict[str, Any]]:
        yield from openai_chunks(3, usage=False)[:3]
        raise ConnectionResetError("peer closed")

    with pytest.raises(ConnectionResetError), agentwatch.llm_call("openai", "gpt-4o-mini") as call:
        for _chunk in call.stream(broken()):
            pass
    attributes = rec.span("chat gpt-4o-mini").attributes or {}
    assert attributes["error.type"] == "ConnectionResetError"
    assert attributes["gen_ai.usage.output_tokens"] == 3
    assert rec.value("llm_errors_total", **LABELS, error_type="ConnectionResetError") == 1


async def test_anthropic_events_give_usage(rec: Recording) -> None:
    async def events() -> AsyncIterator[dict[str, Any]]:
        for event in anthropic_events(7):
            yield event

    async with agentwatch.llm_call("anthropic", "claude-haiku-4-5") as call:
        async for _event in call.stream(events()):
            pass
    attributes = rec.span("chat claude-haiku-4-5").attributes or {}
    assert attributes["gen_ai.usage.input_tokens"] == 40  # input + cache reads
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 10
    assert attributes["gen_ai.usage.output_tokens"] == 7
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    expected = (30 * 1.0 + 10 * 0.1 + 7 * 5.0) / 1e6
    assert rec.value(
        "llm_cost_usd_total", provider="anthropic", model="claude-haiku-4-5"
    ) == pytest.approx(expected)
