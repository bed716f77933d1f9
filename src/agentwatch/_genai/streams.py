"""Reading LLM responses and streams: usage, model, finish reasons, content.

Works on the objects of the ``openai`` and ``anthropic`` client libraries and on plain
dicts of the same shape (OpenAI chat completions, embeddings and responses; Anthropic
messages; Gemini ``usage_metadata``), so hand-written HTTP clients get the same treatment.

:class:`ObservedStream` / :class:`ObservedAsyncStream` wrap a stream: every chunk passes
through unchanged while the observer notes the first token, the usage the provider reports
(OpenAI's last chunk with ``stream_options={"include_usage": True}``; Anthropic's
``message_start`` and ``message_delta`` events) and the finish reasons. When the stream
ends — exhausted, closed, failed, cancelled or dropped half way — the observer flushes what
it saw into the call exactly once. A stream that stopped before the provider reported usage
is recorded with the output tokens counted (one per content chunk) and the estimated input
tokens, and the span says ``agentwatch.usage.estimated = true``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from .._state import report_internal_error

if TYPE_CHECKING:
    from .llm import LLMCall

__all__ = ["ObservedAsyncStream", "ObservedStream", "StreamObserver", "read_response", "read_usage"]


class Usage(NamedTuple):
    """The tokens a response reports."""

    input_tokens: int  # cached ones included
    output_tokens: int
    cached_input_tokens: int


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` for mappings, ``obj.name`` otherwise; None when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def read_usage(usage: Any) -> Usage | None:
    """(input tokens including cached, output tokens, cached input tokens), or None."""
    if usage is None:
        return None
    prompt = field(usage, "prompt_tokens")
    if prompt is not None:  # OpenAI chat completions and embeddings
        cached = field(field(usage, "prompt_tokens_details"), "cached_tokens")
        return Usage(_int(prompt), _int(field(usage, "completion_tokens")), _int(cached))
    gemini = field(usage, "prompt_token_count")
    if gemini is not None:
        output = _int(field(usage, "candidates_token_count"))
        output += _int(field(usage, "thoughts_token_count"))
        return Usage(_int(gemini), output, _int(field(usage, "cached_content_token_count")))
    source = field(usage, "input_tokens")
    output_tokens = field(usage, "output_tokens")
    if source is None and output_tokens is None:
        return None
    read = field(usage, "cache_read_input_tokens")
    created = field(usage, "cache_creation_input_tokens")
    if read is not None or created is not None:  # Anthropic: input_tokens excludes the cache
        return Usage(_int(source) + _int(read) + _int(created), _int(output_tokens), _int(read))
    cached = field(field(usage, "input_tokens_details"), "cached_tokens")  # OpenAI responses
    return Usage(_int(source), _int(output_tokens), _int(cached))


def finish_reasons(response: Any) -> list[str]:
    reasons = [field(choice, "finish_reason") for choice in field(response, "choices") or ()]
    stop = field(response, "stop_reason")
    if stop:
        reasons.append(stop)
    return [str(reason) for reason in reasons if reason]


def response_text(response: Any) -> list[str]:
    """The text of each choice (OpenAI) or of the content blocks (Anthropic)."""
    texts = []
    for choice in field(response, "choices") or ():
        content = field(field(choice, "message"), "content")
        if isinstance(content, str):
            texts.append(content)
    blocks = field(response, "content")
    if isinstance(blocks, list):
        text = "".join(str(field(block, "text") or "") for block in blocks)
        texts.append(text)
    return texts


def read_response(call: LLMCall, response: Any) -> None:
    """Record a whole (non-streamed) response's usage, model, id and finish reasons."""
    if not call.claim_response(field(response, "id")):
        return
    usage = read_usage(field(response, "usage") or field(response, "usage_metadata"))
    if usage is not None:
        call.record_usage(**usage._asdict())
    call.set_response(
        model=field(response, "model"),
        finish_reasons=finish_reasons(response),
        response_id=field(response, "id"),
    )
    if call.capture_content:
        texts = response_text(response)
        if texts:
            call.set_completion(texts)


class StreamObserver:
    """Notes what a stream carries; :meth:`flush` hands it to the call once."""

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        self.content_chunks = 0
        self.reported: Usage | None = None
        self.reasons: list[str] = []
        self.model: str | None = None
        self.response_id: str | None = None
        self.text: list[str] = []
        self.flushed = False

    def observe(self, chunk: Any) -> None:
        try:
            kind = field(chunk, "type")
            if isinstance(kind, str) and kind.startswith(("message_", "content_block_")):
                self._anthropic(kind, chunk)
            else:
                self._openai(chunk)
        except Exception as exc:
            report_internal_error("llm_stream", exc)

    def _content(self, text: Any) -> None:
        if text:
            self.content_chunks += 1
            self.call.first_token()
            if self.call.capture_content:
                self.text.append(str(text))

    def _openai(self, chunk: Any) -> None:
        self.model = field(chunk, "model") or self.model
        self.response_id = field(chunk, "id") or self.response_id
        for choice in field(chunk, "choices") or ():
            self._content(field(field(choice, "delta"), "content"))
            reason = field(choice, "finish_reason")
            if reason:
                self.reasons.append(str(reason))
        usage = read_usage(field(chunk, "usage"))
        if usage is not None:
            self.reported = usage

    def _anthropic(self, kind: str, event: Any) -> None:
        if kind == "message_start":
            message = field(event, "message")
            self.model = field(message, "model") or self.model
            self.response_id = field(message, "id") or self.response_id
            usage = read_usage(field(message, "usage"))
            if usage is not None:
                self.reported = usage
        elif kind == "content_block_delta":
            self._content(field(field(event, "delta"), "text"))
        elif kind == "message_delta":
            reason = field(field(event, "delta"), "stop_reason")
            if reason:
                self.reasons.append(str(reason))
            usage = field(event, "usage")
            output = field(usage, "output_tokens")  # cumulative
            if output is not None:
                reported = self.reported or Usage(0, 0, 0)
                self.reported = reported._replace(output_tokens=_int(output))

    def flush(self) -> None:
        if self.flushed:
            return
        self.flushed = True
        call = self.call
        if not call.claim_response(self.response_id):  # the same stream, observed twice
            return
        if self.reported is not None:
            call.record_usage(**self.reported._asdict())
        else:
            call.record_estimated_usage(output_tokens=self.content_chunks)
        call.set_response(
            model=self.model, finish_reasons=self.reasons, response_id=self.response_id
        )
        if self.text:
            call.set_completion(["".join(self.text)])


Done = Callable[[BaseException | None], None]


class _Observed:
    def __init__(self, inner: Any, observer: StreamObserver, on_done: Done | None) -> None:
        self._inner = inner
        self._observer = observer
        self._on_done = on_done
        self._finished = False

    def _done(self, error: BaseException | None) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            self._observer.flush()
            if self._on_done is not None:
                self._on_done(error)
        except Exception as exc:
            report_internal_error("llm_stream", exc)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    def __del__(self) -> None:  # dropped half way: record what was seen
        if not getattr(self, "_finished", True):
            self._done(None)


class ObservedStream(_Observed):
    """A sync stream whose chunks the observer sees; ends the call when it ends."""

    def __init__(self, inner: Any, observer: StreamObserver, on_done: Done | None) -> None:
        super().__init__(inner, observer, on_done)
        self._iterator: Iterator[Any] = iter(inner)

    def __iter__(self) -> ObservedStream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._iterator)
        except StopIteration:
            self._done(None)
            raise
        except BaseException as exc:
            self._done(exc)
            raise
        self._observer.observe(chunk)
        return chunk

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._done(None)

    def __enter__(self) -> ObservedStream:
        return self

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        if error is not None:
            self._done(error)
        self.close()


class ObservedAsyncStream(_Observed):
    """An async stream whose chunks the observer sees; ends the call when it ends."""

    def __init__(self, inner: Any, observer: StreamObserver, on_done: Done | None) -> None:
        super().__init__(inner, observer, on_done)
        self._iterator: AsyncIterator[Any] = inner.__aiter__()

    def __aiter__(self) -> ObservedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._iterator.__anext__()
        except StopAsyncIteration:
            self._done(None)
            raise
        except BaseException as exc:
            self._done(exc)
            raise
        self._observer.observe(chunk)
        return chunk

    async def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None) or getattr(self._inner, "aclose", None)
            if close is not None:
                result = close()
                if hasattr(result, "__await__"):
                    await result
        finally:
            self._done(None)

    async def aclose(self) -> None:
        await self.close()

    async def __aenter__(self) -> ObservedAsyncStream:
        return self

    async def __aexit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        if error is not None:
            self._done(error)
        await self.close()
