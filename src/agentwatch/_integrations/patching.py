"""Shared machinery of the LLM client auto-instrumentation (openai, anthropic).

A patched ``create`` runs the real one inside an :class:`~agentwatch._genai.llm.LLMCall`:
the call's span is current while the request is sent (HTTP client spans nest under it),
a whole response is read at once, a stream is wrapped and the call ends when the stream
ends — exhausted, closed, failed, cancelled or dropped.

Inside an explicit ``llm_call`` (the application's own span around its retry loop, say)
a patched ``create`` starts no second span: it adds the response's usage, model and
finish reasons to that call, and leaves success or failure to it.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace

from .._genai.llm import LLMCall
from .._genai.operation import current_operation
from .._state import report_internal_error

__all__ = ["CallPlan", "enrichable_call", "patch_method", "require", "unpatch_method"]

Describe = Callable[[Any, Mapping[str, Any]], "CallPlan"]


def require(module: str, extra: str, feature: str) -> Any:
    """Import an optional library or fail naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{feature} needs the {module.split('.')[0]!r} package: "
            f"pip install 'agentwatch[{extra}]'"
        ) from exc


@dataclass
class CallPlan:
    """What a patched method learned from its arguments before the call."""

    call: LLMCall
    stream: bool
    prompt: Any = None
    input_estimate: int = 0


def server_of(resource: Any) -> tuple[str | None, int | None]:
    """Host and port of the client behind an API resource (``resource._client.base_url``)."""
    base = getattr(getattr(resource, "_client", None), "base_url", None)
    if base is None:
        return None, None
    parts = urlsplit(str(base))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname, port


def estimate_tokens(messages: Any) -> int:
    """About four characters a token: used only when a stream ends before its usage."""
    if isinstance(messages, str):
        return (len(messages) + 3) // 4
    total = 0
    for message in messages or ():
        content = message.get("content") if isinstance(message, Mapping) else message
        total += (len(str(content or "")) + 3) // 4 + 4
    return total


def enrichable_call() -> LLMCall | None:
    """The application's own running ``llm_call`` when its span is the current one."""
    operation = current_operation()
    if (
        isinstance(operation, LLMCall)
        and operation.running
        and trace.get_current_span() is operation.span
    ):
        return operation
    return None


def _plan(describe: Describe, resource: Any, kwargs: Mapping[str, Any]) -> CallPlan | None:
    try:
        return describe(resource, kwargs)
    except Exception as exc:
        report_internal_error("llm_autoinstrument", exc)
        return None


def _begin(plan: CallPlan) -> LLMCall:
    call = plan.call
    call.start()  # raises BudgetExceededError before the request when a hard budget is spent
    call.input_tokens_estimate = plan.input_estimate
    if plan.prompt is not None:
        call.set_prompt(plan.prompt)
    return call


def _finish(call: LLMCall, stream: bool, result: Any) -> Any:
    if stream:
        call.detach()  # the span lives on while the application reads the stream
        return call.observe_stream(result)
    call.record_response(result)
    call.end()
    return result


def _enrich(outer: LLMCall, stream: bool, result: Any) -> Any:
    if stream:
        return outer.stream(result)
    outer.record_response(result)
    return result


def wrap_sync(original: Callable[..., Any], describe: Describe) -> Callable[..., Any]:
    @functools.wraps(original)
    def create(resource: Any, *args: Any, **kwargs: Any) -> Any:
        plan = _plan(describe, resource, kwargs)
        if plan is None:
            return original(resource, *args, **kwargs)
        outer = enrichable_call()
        if outer is not None:
            return _enrich(outer, plan.stream, original(resource, *args, **kwargs))
        call = _begin(plan)
        try:
            result = original(resource, *args, **kwargs)
        except BaseException as exc:
            call.end(exc)
            raise
        return _finish(call, plan.stream, result)

    return create


def wrap_async(original: Callable[..., Any], describe: Describe) -> Callable[..., Any]:
    @functools.wraps(original)
    async def create(resource: Any, *args: Any, **kwargs: Any) -> Any:
        plan = _plan(describe, resource, kwargs)
        if plan is None:
            return await original(resource, *args, **kwargs)
        outer = enrichable_call()
        if outer is not None:
            return _enrich(outer, plan.stream, await original(resource, *args, **kwargs))
        call = _begin(plan)
        try:
            result = await original(resource, *args, **kwargs)
        except BaseException as exc:
            call.end(exc)
            raise
        return _finish(call, plan.stream, result)

    return create


_ORIGINAL = "__agentwatch_original__"


def patch_method(owner: type, name: str, describe: Describe, *, is_async: bool) -> None:
    """Replace ``owner.name`` with an instrumented version (once)."""
    current = owner.__dict__[name]
    if hasattr(current, _ORIGINAL):
        return
    wrapper = (wrap_async if is_async else wrap_sync)(current, describe)
    setattr(wrapper, _ORIGINAL, current)
    setattr(owner, name, wrapper)


def unpatch_method(owner: type, name: str) -> None:
    current = owner.__dict__.get(name)
    original = getattr(current, _ORIGINAL, None)
    if original is not None:
        setattr(owner, name, original)
