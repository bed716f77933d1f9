"""HTTP dependency check: an LLM provider, another service, its health endpoint.

>>> health.register("billing", HTTPCheck("http://billing:8000/health/ready"))
>>> health.register("openai", HTTPCheck("https://api.openai.com/v1/models",
...     headers={"Authorization": f"Bearer {key}"}, expected_status=(200, 401)), weight=2)

Observed value: the response time in ms (``name:responseTime``). Fails on an unexpected
status or a transport error; warns when slower than ``warn_latency_seconds``. Needs
``pip install 'agentwatch[httpx]'``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from .base import BaseCheck, CheckResult

__all__ = ["HTTPCheck"]


class HTTPCheck(BaseCheck):
    """Request ``url`` and compare the status with ``expected_status`` (default: 2xx, 3xx)."""

    def __init__(
        self,
        url: str,
        *,
        method: str = "GET",
        expected_status: int | Iterable[int] = range(200, 400),
        warn_latency_seconds: float | None = None,
        headers: Mapping[str, str] | None = None,
        client: Any = None,
        request_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self.url = url
        self.method = method
        self.expected = (
            frozenset({expected_status})
            if isinstance(expected_status, int)
            else frozenset(expected_status)
        )
        self.warn_latency_seconds = warn_latency_seconds
        self.headers = dict(headers or {})
        self.client = client
        self.request_timeout = request_timeout

    async def check(self) -> CheckResult:
        start = time.perf_counter()
        status_code = await self._request()
        elapsed = time.perf_counter() - start
        details = {"status_code": status_code, "method": self.method, "url": self.url}
        latency_ms = round(elapsed * 1000.0, 3)
        if status_code not in self.expected:
            output = f"HTTP {status_code} from {self.method} {self.url}"
            return CheckResult("fail", latency_ms, "ms", self.component_type, output, details)
        if self.warn_latency_seconds is not None and elapsed >= self.warn_latency_seconds:
            output = f"slow: {elapsed:.3f}s (warn at {self.warn_latency_seconds:g}s)"
            return CheckResult("warn", latency_ms, "ms", self.component_type, output, details)
        return CheckResult("pass", latency_ms, "ms", self.component_type, details=details)

    async def _request(self) -> int:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - the extra is installed in dev
            raise RuntimeError("HTTPCheck needs pip install 'agentwatch[httpx]'") from exc
        if self.client is not None:
            response = await self.client.request(self.method, self.url, headers=self.headers)
            return int(response.status_code)
        async with httpx.AsyncClient(timeout=self.request_timeout) as client:
            response = await client.request(self.method, self.url, headers=self.headers)
            return int(response.status_code)
