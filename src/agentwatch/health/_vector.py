"""Vector store check: the store answers and, when named, the collection is there and filled.

>>> health.register("vectors", VectorStoreCheck.qdrant("http://qdrant:6333", collection="docs"))
>>> health.register("vectors", VectorStoreCheck.chroma("http://chroma:8000"))
>>> health.register("vectors", VectorStoreCheck.weaviate("http://weaviate:8080"))
>>> health.register("vectors", VectorStoreCheck.milvus("http://milvus:9091"))
>>> health.register("vectors", VectorStoreCheck(lambda: index.ntotal, min_vectors=1))

Observed value: vectors in the collection (``name:vectors``) when the store reports it, else
the response time. ``fail`` when the store does not answer, refuses, lacks the collection or
holds fewer than ``min_vectors``; Qdrant's collection status ``yellow`` (optimising) warns
and ``red`` fails. Any other store: a callable returning the vector count (sync or async),
or a :class:`CheckResult`. Needs ``pip install 'agentwatch[httpx]'`` for the HTTP stores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .base import BaseCheck, CheckResult, Status, call_maybe_async

__all__ = ["VectorReading", "VectorStoreCheck"]

_QDRANT_STATUS: Mapping[str, Status] = {"green": "pass", "yellow": "warn", "grey": "warn"}


@dataclass(frozen=True)
class VectorReading:
    """What a probe saw: the store's state, vectors held (None: not reported), a message."""

    status: Status
    vectors: int | None = None
    output: str = ""
    details: Mapping[str, Any] | None = None


Probe = Callable[[], Any]


class VectorStoreCheck(BaseCheck):
    """A vector store's health from a probe; see the module docstring for the presets."""

    component_type = "datastore"

    def __init__(
        self,
        probe: Probe,
        *,
        min_vectors: int | None = None,
        store: str = "custom",
        blocking: bool = True,
        timeout_seconds: float | None = None,
    ) -> None:
        super().__init__()
        self.probe = probe
        self.timeout_seconds = timeout_seconds  # the HTTP presets' own; the registry waits longer
        self.min_vectors = min_vectors
        self.store = store
        self._blocking = blocking

    @classmethod
    def qdrant(
        cls,
        url: str,
        *,
        collection: str | None = None,
        api_key: str | None = None,
        min_vectors: int | None = None,
        client: Any = None,
        timeout_seconds: float = 5.0,
    ) -> VectorStoreCheck:
        """Qdrant: ``GET /healthz``, or ``GET /collections/{collection}`` (status, points)."""
        headers = {"api-key": api_key} if api_key else {}
        http = _Http(url, headers, client, timeout_seconds)

        async def probe() -> VectorReading:
            if collection is None:
                return await http.alive("/healthz")
            code, body = await http.get(f"/collections/{collection}")
            if code == 404:
                return VectorReading("fail", None, f"collection {collection!r} not found")
            if code != 200:
                return VectorReading("fail", None, f"HTTP {code} from {http.base}")
            result = body.get("result", {}) if isinstance(body, dict) else {}
            state = str(result.get("status", "red"))
            status = _QDRANT_STATUS.get(state, "fail")
            count = result.get("points_count")
            output = "" if status == "pass" else f"collection {collection!r} is {state}"
            details = {"collection": collection, "collection_status": state}
            return VectorReading(status, count if isinstance(count, int) else None, output, details)

        return cls(
            probe,
            min_vectors=min_vectors,
            store="qdrant",
            blocking=False,
            timeout_seconds=timeout_seconds,
        )

    @classmethod
    def chroma(
        cls, url: str, *, client: Any = None, timeout_seconds: float = 5.0
    ) -> VectorStoreCheck:
        """Chroma: ``GET /api/v2/heartbeat``."""
        http = _Http(url, {}, client, timeout_seconds)
        return cls(
            lambda: http.alive("/api/v2/heartbeat"),
            store="chroma",
            blocking=False,
            timeout_seconds=timeout_seconds,
        )

    @classmethod
    def weaviate(
        cls, url: str, *, client: Any = None, timeout_seconds: float = 5.0
    ) -> VectorStoreCheck:
        """Weaviate: ``GET /v1/.well-known/ready`` (503 while it starts)."""
        http = _Http(url, {}, client, timeout_seconds)
        return cls(
            lambda: http.alive("/v1/.well-known/ready"),
            store="weaviate",
            blocking=False,
            timeout_seconds=timeout_seconds,
        )

    @classmethod
    def milvus(
        cls, url: str, *, client: Any = None, timeout_seconds: float = 5.0
    ) -> VectorStoreCheck:
        """Milvus: ``GET /healthz`` on its metrics port (9091)."""
        http = _Http(url, {}, client, timeout_seconds)
        return cls(
            lambda: http.alive("/healthz"),
            store="milvus",
            blocking=False,
            timeout_seconds=timeout_seconds,
        )

    async def check(self) -> CheckResult:
        start = time.perf_counter()
        if self._blocking:
            value = await self.in_thread(self.probe)
            if hasattr(value, "__await__"):
                value = await value
        else:
            value = await call_maybe_async(self.probe)
        if isinstance(value, CheckResult):
            return value
        ms = round((time.perf_counter() - start) * 1000.0, 3)
        return self._result(_reading(value), ms)

    def _result(self, reading: VectorReading, ms: float) -> CheckResult:
        details = {"store": self.store, "response_ms": ms, **(reading.details or {})}
        status, output = reading.status, reading.output
        if reading.vectors is not None:
            details["vectors"] = reading.vectors
            if (
                self.min_vectors is not None
                and reading.vectors < self.min_vectors
                and status != "fail"
            ):
                status = "fail"
                output = f"{reading.vectors} vectors, fewer than {self.min_vectors}"
            return CheckResult(
                status, reading.vectors, "vectors", self.component_type, output, details, "vectors"
            )
        return CheckResult(status, ms, "ms", self.component_type, output, details)


def _reading(value: Any) -> VectorReading:
    if isinstance(value, VectorReading):
        return value
    if isinstance(value, bool) or value is None:
        return VectorReading(
            "pass" if value is not False else "fail",
            None,
            "" if value is not False else "probe returned False",
        )
    if isinstance(value, int):
        return VectorReading("pass", value)
    raise TypeError(
        f"a vector store probe returns a count, a bool or a VectorReading, not {value!r}"
    )


class _Http:
    """GET against one store with its headers and timeout (a client may be injected)."""

    def __init__(self, base: str, headers: Mapping[str, str], client: Any, timeout: float) -> None:
        self.base = base.rstrip("/")
        self.headers = dict(headers)
        self.client = client
        self.timeout = timeout

    async def get(self, path: str) -> tuple[int, Any]:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - the extra is installed in dev
            raise RuntimeError("VectorStoreCheck needs pip install 'agentwatch[httpx]'") from exc
        if self.client is not None:
            response = await self.client.get(self.base + path, headers=self.headers)
        else:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(self.base + path, headers=self.headers)
        try:
            body = response.json()
        except ValueError:
            body = None
        return int(response.status_code), body

    async def alive(self, path: str) -> VectorReading:
        code, _body = await self.get(path)
        if 200 <= code < 300:
            return VectorReading("pass")
        return VectorReading("fail", None, f"HTTP {code} from {self.base}{path}")
