"""instrument_openai() / instrument_anthropic() with the real client libraries.

The provider is the simulated OpenAI- and Anthropic-compatible server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.trace import SpanKind, StatusCode
from tests._genai_support import Recording, llm_server, recording

import agentwatch
from agentwatch._integrations.llm_clients import uninstrument_anthropic, uninstrument_openai
from agentwatch._integrations.patching import require
from agentwatch.demo.serving import BackgroundServer

MESSAGES = [{"role": "user", "content": "Where is my order?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with llm_server() as running:
        yield running


_clients: list[Any] = []


def _close_later(client: Any) -> None:
    _clients.append(client)


@pytest.fixture
def rec() -> Iterator[Recording]:
    agentwatch.instrument_openai()
    agentwatch.instrument_anthropic()
    try:
        with recording() as active:
            yield active
    finally:
        uninstrument_openai()
        uninstrument_anthropic()
        while _clients:
            _clients.pop().close()


def _openai(server: BackgroundServer, is_async: bool) -> Any:
    factory = openai.AsyncOpenAI if is_async else openai.OpenAI
    return factory(base_url=f"{server.url}/v1", api_key="sk-test", max_retries=0)


def _anthropic(server: BackgroundServer, is_async: bool) -> Any:
    factory = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
    return factory(base_url=server.url, api_key="test", max_retries=0)


async def _maybe(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value


async def _collect(stream: Any) -> list[Any]:
    if hasattr(stream, "__aiter__"):
        return [chunk async for chunk in stream]
    return list(stream)


def _usage_of(provider: str, result: Any, chunks: list[Any]) -> tuple[int, int, int]:
    """(input incl. cached, output, cached) as the client library reports it."""
    if provider == "openai":
        usage = result.usage if chunks == [] else chunks[-1].usage
        return (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.prompt_tokens_details.cached_tokens,
        )
    if chunks == []:
        usage = result.usage
        read = usage.cache_read_input_tokens or 0
        return usage.input_tokens + read, usage.output_tokens, read
    start = chunks[0].message.usage
    read = start.cache_read_input_tokens or 0
    return start.input_tokens + read, chunks[-2].usage.output_tokens, read


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_client_calls_become_llm_calls(
    rec: Recording, server: BackgroundServer, provider: str, stream: bool, is_async: bool
) -> None:
    long_prompt = [{"role": "user", "content": "Summarise the policy. " * 500}]  # cache reads
    if provider == "openai":
        client = _openai(server, is_async)
        extra = {"stream_options": {"include_usage": True}} if stream else {}
        model = "gpt-4o-mini"
        result = await _maybe(
            client.chat.completions.create(
                model=model, messages=long_prompt, max_tokens=80, stream=stream, **extra
            )
        )
    else:
        client = _anthropic(server, is_async)
        model = "claude-haiku-4-5"
        result = await _maybe(
            client.messages.create(model=model, messages=long_prompt, max_tokens=80, stream=stream)
        )
    chunks = await _collect(result) if stream else []
    await _maybe(client.close())
    tokens_in, tokens_out, cached = _usage_of(provider, result, chunks)
    assert cached > 0

    span = rec.span(f"chat {model}")
    attributes = span.attributes or {}
    assert span.kind is SpanKind.CLIENT
    assert attributes["gen_ai.provider.name"] == provider
    assert attributes["gen_ai.request.max_tokens"] == 80
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == server.port
    assert attributes["gen_ai.usage.input_tokens"] == tokens_in
    assert attributes["gen_ai.usage.output_tokens"] == tokens_out
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == cached
    assert attributes["gen_ai.response.finish_reasons"]
    assert "agentwatch.usage.estimated" not in attributes
    price = agentwatch.get_price(provider, model)
    assert price is not None
    expected = price.cost(tokens_in, tokens_out, cached)
    assert rec.value("llm_cost_usd_total", provider=provider, model=model) == pytest.approx(
        expected
    )
    assert (
        rec.value(
            "llm_requests_total", provider=provider, model=model, operation="chat", status="success"
        )
        == 1
    )
    if stream:
        assert (
            rec.value("llm_time_to_first_token_seconds_count", provider=provider, model=model) == 1
        )


def test_a_dropped_stream_ends_its_call(rec: Recording, server: BackgroundServer) -> None:
    client = _openai(server, is_async=False)
    _close_later(client)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, max_tokens=300
    )
    for index, _chunk in enumerate(stream):
        if index == 2:
            break
    succeeded = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "operation": "chat",
        "status": "success",
    }
    assert rec.value("llm_requests_total", **succeeded) == 0
    del stream
    gc.collect()
    attributes = rec.span("chat gpt-4o-mini").attributes or {}
    assert attributes["agentwatch.usage.estimated"] is True
    assert attributes["gen_ai.usage.output_tokens"] == 3
    assert attributes["gen_ai.usage.input_tokens"] > 0  # estimated from the prompt
    assert rec.value("llm_requests_total", **succeeded) == 1


async def test_a_stream_broken_by_the_provider_is_an_error(
    rec: Recording, server: BackgroundServer
) -> None:
    client = _openai(server, is_async=True)
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "[fail:stream]"}], stream=True
    )
    with pytest.raises(Exception) as raised:  # the client library's own transport error
        async for _chunk in stream:
            pass
    await client.close()
    span = rec.span("chat gpt-4o-mini")
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == type(raised.value).__qualname__
    assert (span.attributes or {})["gen_ai.usage.output_tokens"] == 3


@pytest.mark.parametrize(
    ("marker", "error"), [("[fail:429]", "RateLimitError"), ("[fail:500]", "InternalServerError")]
)
def test_provider_errors_are_counted_by_type(
    rec: Recording, server: BackgroundServer, marker: str, error: str
) -> None:
    client = _openai(server, is_async=False)
    _close_later(client)
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": marker}]
        )
    span = rec.span("chat gpt-4o")
    assert span.status.status_code is StatusCode.ERROR
    assert rec.value("llm_errors_total", provider="openai", model="gpt-4o", error_type=error) == 1


def test_inside_an_explicit_llm_call_no_second_span_and_usage_once(
    rec: Recording, server: BackgroundServer
) -> None:
    client = _openai(server, is_async=False)
    _close_later(client)
    with agentwatch.llm_call("openai", "gpt-4o") as call:
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "[fail:429]"}]
            )
        call.retry("rate_limit", attempt=1)
        response = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        call.record_response(response)  # also recorded by the instrumentation: counted once
    assert [span.name for span in rec.spans()] == ["chat gpt-4o"]
    attributes = rec.span("chat gpt-4o").attributes or {}
    assert attributes["gen_ai.usage.output_tokens"] == response.usage.completion_tokens
    assert (
        rec.value(
            "llm_requests_total",
            provider="openai",
            model="gpt-4o",
            operation="chat",
            status="success",
        )
        == 1
    )
    assert (
        rec.value("llm_tokens_total", provider="openai", model="gpt-4o", type="output")
        == response.usage.completion_tokens
    )


def test_a_spent_hard_budget_stops_the_request_before_it_is_sent(
    rec: Recording, server: BackgroundServer
) -> None:
    agentwatch.budget("tiny", 0.000001, hard=True, provider="openai")
    client = _openai(server, is_async=False)
    _close_later(client)
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    sent = server._server.config.app.state.simulator.requests  # type: ignore[attr-defined]
    with pytest.raises(agentwatch.BudgetExceededError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert server._server.config.app.state.simulator.requests == sent  # type: ignore[attr-defined]


def test_embeddings(rec: Recording, server: BackgroundServer) -> None:
    client = _openai(server, is_async=False)
    _close_later(client)
    response = client.embeddings.create(
        model="text-embedding-3-small", input=["refund policy", "warranty"]
    )
    attributes = rec.span("embeddings text-embedding-3-small").attributes or {}
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens


def test_a_missing_library_names_the_extra() -> None:
    with pytest.raises(ImportError, match=r"pip install 'agentwatch\[mcp\]'"):
        require("no_such_module_for_agentwatch", "mcp", "instrument_mcp()")
