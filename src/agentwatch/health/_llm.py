"""LLM provider check: a cheap models-list call with a timeout, its answer cached.

>>> health.register("llm_provider", LLMProviderCheck("openai", model="gpt-4o-mini"), weight=2)
>>> health.register("claude", LLMProviderCheck("anthropic", api_key_env="ANTHROPIC_API_KEY"))
>>> health.register("local", LLMProviderCheck("openai", base_url="http://vllm:8000/v1"))

Listing models costs no tokens and is the call every provider answers fastest, so it tells
"the provider is reachable and takes our key" without spending money. The answer is cached
(``cache_seconds``, 60 by default; a failure only ``failure_cache_seconds``), so probes
every few seconds make one provider call a minute.

Outcome: ``pass`` on 2xx; ``warn`` when rate limited (429: the provider answers, our quota
is spent), when slower than ``warn_latency_seconds`` or when ``model`` is not in the list;
``fail`` when the key is refused (401, 403), on any other status (5xx, Anthropic's 529
overloaded) and on a timeout or transport error. Observed value: the response time in ms.
The key is sent in the provider's header and never appears in an output or detail. Needs
``pip install 'agentwatch[httpx]'``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .base import BaseCheck, CheckResult, Status

__all__ = ["PROVIDERS", "LLMProviderCheck", "Provider"]


@dataclass(frozen=True)
class Provider:
    """How to list a provider's models: URL, key header and where the names are."""

    base_url: str
    path: str
    key_env: str
    key_header: str
    key_prefix: str = ""
    extra_headers: tuple[tuple[str, str], ...] = ()
    list_key: str = "data"
    name_key: str = "id"


PROVIDERS: Mapping[str, Provider] = {
    "openai": Provider(
        "https://api.openai.com/v1", "/models", "OPENAI_API_KEY", "authorization", "Bearer "
    ),
    "anthropic": Provider(
        "https://api.anthropic.com/v1",
        "/models",
        "ANTHROPIC_API_KEY",
        "x-api-key",
        extra_headers=(("anthropic-version", "2023-06-01"),),
    ),
    "gemini": Provider(
        "https://generativelanguage.googleapis.com/v1beta",
        "/models",
        "GEMINI_API_KEY",
        "x-goog-api-key",
        list_key="models",
        name_key="name",
    ),
    "azure": Provider(
        "",  # https://<resource>.openai.azure.com/openai: base_url is required
        "/models?api-version=2024-10-21",
        "AZURE_OPENAI_API_KEY",
        "api-key",
    ),
    "ollama": Provider(
        "http://127.0.0.1:11434/api", "/tags", "", "", list_key="models", name_key="name"
    ),
}


@dataclass(frozen=True)
class _Cached:
    result: CheckResult
    at: float
    ttl: float


class LLMProviderCheck(BaseCheck):
    """Lists the provider's models; see the module docstring.

    ``provider``: openai (also any OpenAI-compatible server with ``base_url``: vLLM,
    LiteLLM, Mistral, Groq...), azure (``base_url`` ``https://<resource>.openai.azure.com/openai``),
    anthropic, gemini or ollama; ``headers`` adds headers (a gateway's own). ``api_key`` or the
    environment variable ``api_key_env`` (default the provider's usual one, e.g.
    ``OPENAI_API_KEY``); no key means no key header (local servers). ``timeout_seconds``
    bounds the call and is also the registry's timeout for this check unless one is given.
    """

    component_type = "component"

    def __init__(
        self,
        provider: str = "openai",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = None,
        model: str | None = None,
        timeout_seconds: float = 5.0,
        warn_latency_seconds: float | None = 2.0,
        cache_seconds: float = 60.0,
        failure_cache_seconds: float = 10.0,
        headers: Mapping[str, str] | None = None,
        client: Any = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        from .._exceptions import ConfigurationError

        if provider not in PROVIDERS:
            raise ConfigurationError("provider", provider, "one of " + ", ".join(PROVIDERS))
        self.provider = provider
        self.spec = PROVIDERS[provider]
        if not (base_url or self.spec.base_url):
            raise ConfigurationError("base_url", base_url, f"the {provider} endpoint URL")
        self.extra_headers = dict(headers or {})
        self.url = (base_url or self.spec.base_url).rstrip("/") + self.spec.path
        env = os.environ if environ is None else environ
        key_env = api_key_env or self.spec.key_env
        self._key = api_key if api_key is not None else (env.get(key_env) if key_env else None)
        self.model = model
        self.timeout_seconds = timeout_seconds
        self.warn_latency_seconds = warn_latency_seconds
        self.cache_seconds = cache_seconds
        self.failure_cache_seconds = failure_cache_seconds
        self.client = client
        self._clock = clock
        self._cached: _Cached | None = None
        self.calls = 0  # provider calls made (what the cache saved is probes - calls)

    def _headers(self) -> dict[str, str]:
        headers = {**dict(self.spec.extra_headers), **self.extra_headers}
        if self._key and self.spec.key_header:
            headers[self.spec.key_header] = self.spec.key_prefix + self._key
        return headers

    async def check(self) -> CheckResult:
        now = self._clock()
        cached = self._cached
        if cached is not None and now - cached.at < cached.ttl:
            age = round(now - cached.at, 3)
            return _with_details(cached.result, cached=True, age_seconds=age)
        result = await self._probe()
        ttl = self.cache_seconds if result.status != "fail" else self.failure_cache_seconds
        self._cached = _Cached(result, self._clock(), ttl)
        return result

    async def _probe(self) -> CheckResult:
        self.calls += 1
        start = time.perf_counter()
        try:
            status_code, body = await self._request()
        except Exception as exc:
            elapsed_ms = round((time.perf_counter() - start) * 1000.0, 3)
            reason = "timeout" if "Timeout" in type(exc).__name__ else type(exc).__name__
            output = f"{self.provider} models list: {reason}: {exc}".rstrip(": ")
            return self._result("fail", elapsed_ms, output, None)
        elapsed = time.perf_counter() - start
        return self._judge(status_code, body, elapsed)

    def _judge(self, status_code: int, body: Any, elapsed: float) -> CheckResult:
        ms = round(elapsed * 1000.0, 3)
        if status_code in (401, 403):
            return self._result(
                "fail", ms, f"credentials refused (HTTP {status_code})", status_code
            )
        if status_code == 429:
            return self._result("warn", ms, "rate limited (HTTP 429)", status_code)
        if not 200 <= status_code < 300:
            return self._result("fail", ms, f"HTTP {status_code} from {self.url}", status_code)
        models = _model_names(body, self.spec)
        extra: dict[str, Any] = {"models": len(models)}
        if self.model is not None:
            extra["model_listed"] = self.model in models
            if not extra["model_listed"]:
                output = f"model {self.model!r} is not offered"
                return self._result("warn", ms, output, status_code, extra)
        slow = self.warn_latency_seconds
        if slow is not None and elapsed >= slow:
            output = f"slow: {elapsed:.3f}s (warn at {slow:g}s)"
            return self._result("warn", ms, output, status_code, extra)
        return self._result("pass", ms, "", status_code, extra)

    def _result(
        self,
        status: Status,
        ms: float,
        output: str,
        status_code: int | None,
        extra: Mapping[str, Any] | None = None,
    ) -> CheckResult:
        details = {
            "provider": self.provider,
            "url": self.url,
            "status_code": status_code,
            "cached": False,
            **(extra or {}),
        }
        return CheckResult(status, ms, "ms", self.component_type, output, details)

    async def _request(self) -> tuple[int, Any]:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - the extra is installed in dev
            raise RuntimeError("LLMProviderCheck needs pip install 'agentwatch[httpx]'") from exc
        if self.client is not None:
            response = await self.client.get(self.url, headers=self._headers())
        else:
            async with httpx.AsyncClient(timeout=self.timeout_seconds) as client:
                response = await client.get(self.url, headers=self._headers())
        try:
            body = response.json()
        except ValueError:
            body = None
        return int(response.status_code), body


def _model_names(body: Any, spec: Provider) -> set[str]:
    items = body.get(spec.list_key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        return set()
    names = {str(item.get(spec.name_key)) for item in items if isinstance(item, dict)}
    if spec.name_key == "name":  # gemini: "models/gemini-2.0-flash"; ollama: "llama3:latest"
        names |= {name.removeprefix("models/") for name in names}
    return names


def _with_details(result: CheckResult, **extra: Any) -> CheckResult:
    from dataclasses import replace

    return replace(result, details={**result.details, **extra})
