"""A simulated LLM provider speaking the OpenAI and Anthropic HTTP APIs.

The demo's agents call it through the real ``openai`` client (and Anthropic's API for
fallbacks), so everything agentwatch records is what a real provider would cause:
latency that grows with the tokens generated, realistic token counts (cache reads on long
prompts), streaming with usage in the final chunk, and — at configurable rates — 429 rate
limits with ``retry-after``, 500 server errors and slow responses.

Endpoints: ``POST /v1/chat/completions`` (``stream`` and ``stream_options.include_usage``),
``POST /v1/embeddings``, ``POST /v1/messages`` (Anthropic, ``stream``), ``GET /v1/models``.

Behaviour can be forced per request with a marker in the prompt (or the ``x-sim`` header):
``[fail:429]``, ``[fail:500]``, ``[fail:stream]`` (the stream breaks after a few tokens),
``[slow]``, ``[fail:504]`` (a gateway timeout after a slow wait) — tests use these for
deterministic failures.

A scripted incident (:class:`~agentwatch.demo.incident.Timeline` in ``SimConfig.incident``)
makes the OpenAI API fail for its duration (fast 500s, and slow answers that end in a 504
gateway timeout), and ``/v1/models`` answer 503;
the Anthropic API (the demo's fallback) keeps working. ``POST /demo/clock`` with
``{"started_at": <unix time>}`` sets when the incident's timeline starts (the demo sets
it once every process answers, so a slow start does not eat into the story).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .incident import IncidentShape, Timeline

__all__ = ["SimConfig", "create_llm_app"]

_TEXT = (
    "the agent reviewed the ticket and found the customer order delayed by the carrier so "
    "a refund of the shipping fee is suggested together with a short apology and a new "
    "delivery estimate based on the warehouse report and the recent history of similar cases"
)
_WORDS = _TEXT.split()
_MARKER = re.compile(r"\[(fail:429|fail:500|fail:504|fail:stream|slow)\]")
_ERRORS = ("fail:429", "fail:500", "fail:504")
CACHE_MIN_TOKENS = 1024
# what the API answers in "model" for a requested alias (a dated snapshot, as OpenAI does)
_SNAPSHOTS = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}


@dataclass
class SimConfig:
    """Rates (0-1) of each failure, and how long things take."""

    error_rate: float = 0.03
    rate_limit_rate: float = 0.05
    slow_rate: float = 0.03
    seconds_per_token: float = 0.004
    base_latency_seconds: float = 0.08
    slow_seconds: float = 2.5
    seed: int | None = None
    incident: Timeline | None = None


def count_tokens(text: str) -> int:
    """About four characters a token, as the providers' tokenizers average on English."""
    return max(1, (len(text) + 3) // 4)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


class _Simulator:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.random = random.Random(config.seed)
        self.requests = 0

        self.incident = config.incident

    def incident_shape(self) -> IncidentShape | None:
        """The shape of the scripted incident while it is on, else None."""
        incident = self.incident
        return incident.shape if incident is not None and incident.active() else None

    def in_incident(self) -> bool:
        return self.incident_shape() is not None

    def behaviour(self, request: Request, prompt: str, *, api: str = "openai") -> str:
        self.requests += 1
        forced = request.headers.get("x-sim") or ""
        match = _MARKER.search(prompt) or _MARKER.search(f"[{forced}]")
        if match:
            return match.group(1)
        draw = self.random.random()
        config = self.config
        rates: tuple[tuple[str, float], ...] = (
            ("fail:429", config.rate_limit_rate),
            ("fail:500", config.error_rate),
            ("slow", config.slow_rate),
        )
        shape = self.incident_shape() if api == "openai" else None
        if shape is not None:
            rates = (("fail:500", shape.error_share), ("fail:504", shape.slow_share))
        for name, rate in rates:
            if draw < rate:
                return name
            draw -= rate
        return "ok"

    def output_tokens(self, limit: Any) -> int:
        cap = limit if isinstance(limit, int) and limit > 0 else 400
        return max(1, min(cap, int(self.random.gauss(120, 50))))

    def words(self, count: int) -> list[str]:
        start = self.random.randrange(len(_WORDS))
        return [_WORDS[(start + index) % len(_WORDS)] for index in range(count)]

    async def fail_after(self, behaviour: str) -> None:
        """Wait as a failing call does: a gateway timeout is slow, the rest answer at once."""
        if behaviour == "fail:504":
            shape = self.incident_shape()
            await asyncio.sleep(
                shape.slow_seconds if shape is not None else self.config.slow_seconds
            )
        else:
            await asyncio.sleep(self.config.base_latency_seconds * 0.2)

    async def think(self, behaviour: str, tokens: int) -> None:
        config = self.config
        delay = config.base_latency_seconds * (0.5 + self.random.random())
        if behaviour == "slow":
            delay += config.slow_seconds
        await asyncio.sleep(delay + tokens * config.seconds_per_token * 0.25)


def _usage(prompt_tokens: int) -> tuple[int, int]:
    """(input tokens, of which read from the provider's prompt cache)."""
    cached = (prompt_tokens // 128) * 64 if prompt_tokens >= CACHE_MIN_TOKENS else 0
    return prompt_tokens, cached


def _openai_error(behaviour: str) -> JSONResponse:
    if behaviour == "fail:429":
        body: dict[str, Any] = {
            "message": "Rate limit reached (simulated)",
            "type": "requests",
            "code": "rate_limit_exceeded",
        }
        return JSONResponse({"error": body}, status_code=429, headers={"retry-after": "0.05"})
    if behaviour == "fail:504":
        body = {"message": "Gateway timeout (simulated)", "type": "server_error", "code": None}
        return JSONResponse({"error": body}, status_code=504)
    body = {
        "message": "The server had an error (simulated)",
        "type": "server_error",
        "code": None,
    }
    return JSONResponse({"error": body}, status_code=500)


def _anthropic_error(behaviour: str) -> JSONResponse:
    if behaviour == "fail:429":
        error = {"type": "rate_limit_error", "message": "Rate limited (simulated)"}
        return JSONResponse(
            {"type": "error", "error": error}, status_code=429, headers={"retry-after": "0.05"}
        )
    error = {"type": "api_error", "message": "Internal server error (simulated)"}
    return JSONResponse({"type": "error", "error": error}, status_code=500)


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


class _OpenAI:
    def __init__(self, sim: _Simulator) -> None:
        self.sim = sim

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        messages = body.get("messages") or []
        prompt = " ".join(_text_of(message.get("content")) for message in messages)
        prompt_tokens = count_tokens(prompt) + 4 * len(messages)
        behaviour = self.sim.behaviour(request, prompt)
        if behaviour in _ERRORS:
            await self.sim.fail_after(behaviour)
            return _openai_error(behaviour)
        output = self.sim.output_tokens(body.get("max_completion_tokens") or body.get("max_tokens"))
        model = str(body.get("model", "gpt-4o-mini"))
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = self._chunks(model, prompt_tokens, output, behaviour, include)
            return StreamingResponse(chunks, media_type="text/event-stream")
        await self.sim.think(behaviour, output)
        text = " ".join(self.sim.words(output))
        return JSONResponse(self._completion(model, prompt_tokens, output, text))

    def _usage(self, prompt_tokens: int, output: int) -> dict[str, Any]:
        total, cached = _usage(prompt_tokens)
        return {
            "prompt_tokens": total,
            "completion_tokens": output,
            "total_tokens": total + output,
            "prompt_tokens_details": {"cached_tokens": cached},
        }

    def _completion(self, model: str, prompt_tokens: int, output: int, text: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": _SNAPSHOTS.get(model, model),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop" if output < 400 else "length",
                }
            ],
            "usage": self._usage(prompt_tokens, output),
        }

    async def _chunks(
        self, model: str, prompt_tokens: int, output: int, behaviour: str, include_usage: bool
    ) -> AsyncIterator[bytes]:
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": _SNAPSHOTS.get(model, model),
        }
        await self.sim.think(behaviour, 0)
        for index, word in enumerate(self.sim.words(output)):
            if behaviour == "fail:stream" and index == 3:
                raise ConnectionAbortedError("simulated stream failure")
            delta = (
                {"role": "assistant", "content": word + " "}
                if index == 0
                else {"content": word + " "}
            )
            yield _sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            await asyncio.sleep(self.sim.config.seconds_per_token)
        yield _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if include_usage:
            yield _sse({**base, "choices": [], "usage": self._usage(prompt_tokens, output)})
        yield b"data: [DONE]\n\n"

    async def embeddings(self, request: Request) -> Response:
        body = await request.json()
        self.sim.requests += 1
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        tokens = sum(count_tokens(str(item)) for item in items)
        data = [
            {"object": "embedding", "index": index, "embedding": [0.01 * (index + 1)] * 8}
            for index in range(len(items))
        ]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        model = body.get("model", "text-embedding-3-small")
        return JSONResponse({"object": "list", "data": data, "model": model, "usage": usage})


class _Anthropic:
    def __init__(self, sim: _Simulator) -> None:
        self.sim = sim

    async def messages(self, request: Request) -> Response:
        body = await request.json()
        messages = body.get("messages") or []
        prompt = _text_of(body.get("system")) + " ".join(
            _text_of(message.get("content")) for message in messages
        )
        behaviour = self.sim.behaviour(request, prompt, api="anthropic")
        if behaviour in _ERRORS:
            await self.sim.fail_after(behaviour)
            return _anthropic_error(behaviour)
        total, cached = _usage(count_tokens(prompt) + 3 * len(messages))
        usage = {
            "input_tokens": total - cached,
            "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0,
        }
        output = self.sim.output_tokens(body.get("max_tokens"))
        model = str(body.get("model", "claude-haiku-4-5"))
        if body.get("stream"):
            return StreamingResponse(
                self._events(model, usage, output, behaviour), media_type="text/event-stream"
            )
        await self.sim.think(behaviour, output)
        text = " ".join(self.sim.words(output))
        return JSONResponse(
            {
                "id": f"msg_{uuid.uuid4().hex[:24]}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn" if output < 400 else "max_tokens",
                "stop_sequence": None,
                "usage": {**usage, "output_tokens": output},
            }
        )

    async def _events(
        self, model: str, usage: dict[str, int], output: int, behaviour: str
    ) -> AsyncIterator[bytes]:
        message: dict[str, Any] = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1},
        }
        await self.sim.think(behaviour, 0)
        yield _sse({"type": "message_start", "message": message}, "message_start")
        block = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        yield _sse(block, "content_block_start")
        for index, word in enumerate(self.sim.words(output)):
            if behaviour == "fail:stream" and index == 3:
                raise ConnectionAbortedError("simulated stream failure")
            delta = {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": word + " "},
            }
            yield _sse(delta, "content_block_delta")
            await asyncio.sleep(self.sim.config.seconds_per_token)
        yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        end = {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": output},
        }
        yield _sse(end, "message_delta")
        yield _sse({"type": "message_stop"}, "message_stop")


def create_llm_app(config: SimConfig | None = None) -> Starlette:
    """The simulated provider as an ASGI app (serve it on 127.0.0.1)."""
    sim = _Simulator(config or SimConfig())
    openai_api, anthropic_api = _OpenAI(sim), _Anthropic(sim)

    async def models(request: Request) -> Response:
        if sim.in_incident():
            error = {"message": "Service unavailable (simulated incident)", "type": "server_error"}
            return JSONResponse({"error": error}, status_code=503)
        names = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
        return JSONResponse(
            {"object": "list", "data": [{"id": name, "object": "model"} for name in names]}
        )

    async def clock(request: Request) -> Response:
        if sim.incident is None:
            return JSONResponse({"error": {"message": "no scripted incident"}}, status_code=404)
        try:
            started_at = float((await request.json())["started_at"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": {"message": "started_at: a Unix time"}}, status_code=400)
        sim.incident = replace(sim.incident, started_at=started_at)
        return JSONResponse({"starts": sim.incident.starts, "ends": sim.incident.ends})

    app = Starlette(
        routes=[
            Route("/demo/clock", clock, methods=["POST"]),
            Route("/v1/chat/completions", openai_api.chat, methods=["POST"]),
            Route("/v1/embeddings", openai_api.embeddings, methods=["POST"]),
            Route("/v1/messages", anthropic_api.messages, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )
    app.state.simulator = sim
    return app
