"""``llm_call``: one LLM request as a GenAI client span plus the llm pack.

>>> with agentwatch.llm_call("openai", "gpt-4o-mini") as call:
...     response = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
...     call.record_response(response)          # or call.record_usage(input_tokens=...)

The span follows the OpenTelemetry GenAI conventions: named ``{operation} {model}``, kind
CLIENT, with ``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
``gen_ai.response.model``, ``gen_ai.response.id``, ``gen_ai.usage.input_tokens`` (cached
tokens included), ``gen_ai.usage.output_tokens``, ``gen_ai.usage.cache_read.input_tokens``,
``gen_ai.response.finish_reasons`` and ``error.type``, plus ``agentwatch.llm.cost_usd``.
When it ends it records ``llm_requests_total{status}``, the duration, tokens by type
(input excluding cached, cached_input, output), the cost from the price table, errors by
type, time to first token for streams, unpriced calls, and charges matching budgets.

Streams: ``for chunk in call.stream(stream)`` (or ``async for``). Usage and duration are
recorded when the ``with`` block ends however it ends — stream exhausted, abandoned with
``break``, failed or cancelled.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Self

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from .._exceptions import BudgetExceededError
from .._metrics.registry import Metrics
from .._state import report_internal_error, telemetry
from . import budget as _budget
from .operation import Operation, current_operation
from .pricing import price_table
from .streams import ObservedAsyncStream, ObservedStream, StreamObserver, read_response

__all__ = ["LLMCall", "current_llm_call", "record_usage"]

_log = logging.getLogger("agentwatch")
_REQUEST_ATTRIBUTES = {
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "seed": "gen_ai.request.seed",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
}


def _messages_json(redactor: Any, messages: Any, role: str) -> str:
    """Messages in the GenAI JSON shape ({role, parts:[{type, content}]}), redacted."""
    if isinstance(messages, str):
        messages = [{"role": role, "content": messages}]
    shaped = []
    for message in messages:
        if isinstance(message, str):
            message = {"role": role, "content": message}
        content = message.get("content") if isinstance(message, Mapping) else message
        text = content if isinstance(content, str) else json.dumps(content, default=str)
        who = message.get("role", role) if isinstance(message, Mapping) else role
        shaped.append({"role": who, "parts": [{"type": "text", "content": text}]})
    return json.dumps(redactor.redact_value(shaped), ensure_ascii=False)


class LLMCall(Operation):
    """One LLM request. Build with :func:`agentwatch.llm_call`."""

    kind = SpanKind.CLIENT
    component = "llm_call"

    def __init__(
        self,
        provider: str,
        model: str,
        operation: str = "chat",
        *,
        server_address: str | None = None,
        server_port: int | None = None,
        request: Mapping[str, Any] | None = None,
        capture_content: bool | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.operation = operation
        self.server_address = server_address
        self.server_port = server_port
        self.request = dict(request or {})
        self._capture = capture_content
        super().__init__()

    def _reset(self) -> None:
        super()._reset()
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_input_tokens = 0
        self.usage_estimated = False
        self.input_tokens_estimate: int | None = None
        self.response_model: str | None = None
        self.response_id: str | None = None
        self.finish_reasons: list[str] = []
        self.cost_usd = 0.0
        self.priced = True
        self.time_to_first_token: float | None = None
        self._observers: list[StreamObserver] = []
        self._responses: set[str] = set()
        self._scope: dict[str, str | None] = {}

    @property
    def capture_content(self) -> bool:
        if self._capture is not None:
            return self._capture
        return telemetry().settings.capture_content

    # -- span ---------------------------------------------------------------------------
    def _span_name(self) -> str:
        return f"{self.operation} {self.model}"

    def _attributes(self) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": self.operation,
            "gen_ai.provider.name": self.provider,
            "gen_ai.request.model": self.model,
        }
        if self.server_address:
            attributes["server.address"] = self.server_address
            if self.server_port:
                attributes["server.port"] = self.server_port
        for key, name in _REQUEST_ATTRIBUTES.items():
            value = self.request.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attributes[name] = value
        return attributes

    def start(self, *, attach: bool = True) -> Self:
        """Start the call; raises :class:`BudgetExceededError` when a hard budget is spent."""
        super().start(attach=attach)
        blocked = self._check_budgets()
        if blocked is not None:
            self.end(blocked)
            raise blocked
        return self

    def _check_budgets(self) -> BudgetExceededError | None:
        try:
            scope: dict[str, str | None] = {"provider": self.provider, "model": self.model}
            operation = self.parent
            while operation is not None:
                for key, value in operation.scope().items():
                    scope.setdefault(key, value)
                operation = operation.parent
            self._scope = scope
            for item in _budget.matching(scope):
                item.check()
        except BudgetExceededError as exc:
            return exc
        except Exception as exc:
            report_internal_error(self.component, exc)
        return None

    # -- what the application tells us ------------------------------------------------------
    def record_usage(
        self, input_tokens: int = 0, output_tokens: int = 0, cached_input_tokens: int = 0
    ) -> None:
        """Add token usage. ``input_tokens`` counts every input token, cached ones included."""
        self.input_tokens += max(int(input_tokens), 0)
        self.output_tokens += max(int(output_tokens), 0)
        self.cached_input_tokens += max(int(cached_input_tokens), 0)

    def record_estimated_usage(self, output_tokens: int) -> None:
        """Usage for a stream that ended before the provider reported it."""
        self.usage_estimated = True
        self.record_usage(input_tokens=self.input_tokens_estimate or 0, output_tokens=output_tokens)

    def claim_response(self, response_id: Any) -> bool:
        """False when this response was recorded already (auto-instrumentation did it)."""
        if not response_id:
            return True
        if response_id in self._responses:
            return False
        self._responses.add(str(response_id))
        return True

    def record_response(self, response: Any) -> None:
        """Read usage, model, id and finish reasons from a provider response (or dict).

        A response recorded twice (by ``instrument_openai()`` and by you) counts once.
        """
        try:
            read_response(self, response)
        except Exception as exc:
            report_internal_error(self.component, exc)

    def set_response(
        self,
        model: str | None = None,
        finish_reasons: Sequence[str] | None = None,
        response_id: str | None = None,
    ) -> None:
        if model:
            self.response_model = str(model)
        if finish_reasons:
            self.finish_reasons.extend(finish_reasons)
        if response_id:
            self.response_id = str(response_id)

    def set_prompt(self, messages: Any) -> None:
        """Record the input messages when content capture is on (redacted)."""
        if self.capture_content and self.span.is_recording():
            redactor = telemetry().redactor
            self.span.set_attribute(
                "gen_ai.input.messages", _messages_json(redactor, messages, "user")
            )

    def set_completion(self, messages: Any) -> None:
        """Record the output messages when content capture is on (redacted)."""
        if self.capture_content and self.span.is_recording():
            redactor = telemetry().redactor
            self.span.set_attribute(
                "gen_ai.output.messages", _messages_json(redactor, messages, "assistant")
            )

    def first_token(self) -> None:
        """Note the first streamed token now (done for you by :meth:`stream`)."""
        if self.time_to_first_token is None and self._started:
            self.time_to_first_token = time.perf_counter() - self._started

    def retry(self, reason: str, *, attempt: int | None = None, error: Any = None) -> None:
        """Count a retry (``llm_retries_total{provider,reason}``) and add a span event."""
        try:
            telemetry().metrics["llm_retries_total"].labels(self.provider, reason).inc()
            attributes: dict[str, AttributeValue] = {"retry.reason": reason}
            if attempt is not None:
                attributes["retry.attempt"] = attempt
            if error is not None:
                attributes["error.type"] = (
                    error if isinstance(error, str) else type(error).__qualname__
                )
            self.span.add_event("gen_ai.retry", attributes)
        except Exception as exc:
            report_internal_error(self.component, exc)

    def fallback(self, to_provider: str, to_model: str | None = None, *, reason: str = "") -> None:
        """Count a fallback (``llm_fallbacks_total``) and add a span event."""
        try:
            telemetry().metrics["llm_fallbacks_total"].labels(self.provider, to_provider).inc()
            attributes: dict[str, AttributeValue] = {
                "fallback.from_provider": self.provider,
                "fallback.to_provider": to_provider,
            }
            if to_model:
                attributes["fallback.to_model"] = to_model
            if reason:
                attributes["fallback.reason"] = reason
            self.span.add_event("gen_ai.fallback", attributes)
        except Exception as exc:
            report_internal_error(self.component, exc)

    def stream(self, chunks: Any) -> Any:
        """Wrap a sync or async stream: chunks pass through, usage is noted."""
        observer = StreamObserver(self)
        self._observers.append(observer)
        if hasattr(chunks, "__aiter__"):
            return ObservedAsyncStream(chunks, observer, None)
        return ObservedStream(chunks, observer, None)

    def observe_stream(self, chunks: Any) -> Any:
        """Wrap a stream that ends this call when it ends (auto-instrumentation)."""
        observer = StreamObserver(self)
        self._observers.append(observer)
        if hasattr(chunks, "__aiter__"):
            return ObservedAsyncStream(chunks, observer, self.end)
        return ObservedStream(chunks, observer, self.end)

    def _on_result(self, result: object) -> None:
        if result is not None and not isinstance(result, (str, bytes)):
            self.record_response(result)

    # -- end ------------------------------------------------------------------------------
    def _before_end(self) -> None:
        for observer in self._observers:
            observer.flush()
        price = price_table().get(self.provider, self.model)
        if price is None and self.response_model:
            price = price_table().get(self.provider, self.response_model)
        self.priced = price is not None
        if price is not None:
            self.cost_usd = price.cost(
                self.input_tokens, self.output_tokens, self.cached_input_tokens
            )
        span = self.span
        if not span.is_recording():
            return
        span.set_attributes(
            {
                "gen_ai.usage.input_tokens": self.input_tokens,
                "gen_ai.usage.output_tokens": self.output_tokens,
                "agentwatch.llm.cost_usd": self.cost_usd,
            }
        )
        if self.cached_input_tokens:
            span.set_attribute("gen_ai.usage.cache_read.input_tokens", self.cached_input_tokens)
        if self.usage_estimated:
            span.set_attribute("agentwatch.usage.estimated", True)
        if not self.priced:
            span.set_attribute("agentwatch.llm.unpriced", True)
        if self.response_model:
            span.set_attribute("gen_ai.response.model", self.response_model)
        if self.response_id:
            span.set_attribute("gen_ai.response.id", self.response_id)
        if self.finish_reasons:
            span.set_attribute("gen_ai.response.finish_reasons", list(self.finish_reasons))

    def _record_end(self, metrics: Metrics) -> None:
        provider, model = self.provider, self.model
        metrics["llm_requests_total"].labels(provider, model, self.operation, self.status).inc()
        metrics["llm_request_duration_seconds"].labels(provider, model, self.operation).observe(
            self.duration_seconds
        )
        tokens = metrics["llm_tokens_total"]
        uncached = max(self.input_tokens - self.cached_input_tokens, 0)
        for kind, count in (
            ("input", uncached),
            ("cached_input", self.cached_input_tokens),
            ("output", self.output_tokens),
        ):
            if count:
                tokens.labels(provider, model, kind).inc(count)
        metrics["llm_cost_usd_total"].labels(provider, model).inc(self.cost_usd)
        if self.error_type:
            metrics["llm_errors_total"].labels(provider, model, self.error_type).inc()
        if not self.priced:
            metrics["llm_unpriced_calls_total"].labels(provider, model).inc()
        if self.time_to_first_token is not None:
            metrics["llm_time_to_first_token_seconds"].labels(provider, model).observe(
                self.time_to_first_token
            )
        if self.cost_usd > 0:
            for item in _budget.matching(self._scope):
                item.add(self.cost_usd)

    def __repr__(self) -> str:
        return f"LLMCall({self.provider!r}, {self.model!r}, {self.operation!r})"


def current_llm_call() -> LLMCall | None:
    """The innermost running ``llm_call`` in this context, if any."""
    operation = current_operation()
    while operation is not None:
        if isinstance(operation, LLMCall):
            return operation
        operation = operation.parent
    return None


def record_usage(
    input_tokens: int = 0, output_tokens: int = 0, cached_input_tokens: int = 0
) -> None:
    """Add usage to the innermost running ``llm_call`` (for decorated functions)."""
    call = current_llm_call()
    if call is None:
        _log.warning("agentwatch.record_usage() called outside an llm_call: usage not recorded")
        return
    call.record_usage(input_tokens, output_tokens, cached_input_tokens)
