"""The health endpoints: a pure ASGI app answering in ``application/health+json``.

Under ``prefix`` (default ``/health``):

- ``/health/live``: pass, always 200; touches no dependency.
- ``/health/ready``: the ``ready`` group (critical dependencies and readiness gates).
- ``/health``: every check, in the format of draft-inadarei-api-health-check: ``status``,
  ``version``, ``releaseId``, ``serviceId``, ``description``, ``checks`` keyed
  ``component:measurement``, each a one-element list of ``componentType``,
  ``observedValue``, ``observedUnit``, ``status``, ``time`` and ``output`` (warn and fail).
- ``/health/full``: the same plus ``score`` (0-100), ``service`` (requests per minute,
  error rate, p95 latency over the rolling window) and per check ``latencyMs``,
  ``critical``, ``weight``, ``cached`` and ``details``.
- ``/health/{component}``: one component.

``fail`` answers 503, ``pass`` and ``warn`` 200. With a details token, outputs and details
(hostnames, error messages) are shown only to requests with ``Authorization: Bearer
<token>``; without one they are shown to everyone. Outputs are always redacted.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Protocol

from .._logs.formatter import _iso as iso_time
from .._state import report_internal_error
from ._registry import ComponentResult, HealthRegistry, HealthReport
from .base import STATUS_VALUES

__all__ = ["CONTENT_TYPE", "HealthEndpoints", "SummarySource"]

CONTENT_TYPE = b"application/health+json"
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class SummarySource(Protocol):
    """The rolling request window: ``summary()`` -> requests_per_minute, error_rate, p95."""

    def summary(self) -> Mapping[str, Any]: ...


def check_entry(component: ComponentResult, *, details: bool, full: bool) -> dict[str, Any]:
    """One ``checks`` element of a health+json document."""
    result = component.result
    latency_ms = round(component.duration_seconds * 1000.0, 3)
    entry: dict[str, Any] = {"componentType": result.component_type}
    if result.observed_value is None:
        entry.update(observedValue=latency_ms, observedUnit="ms")
    else:
        entry["observedValue"] = result.observed_value
        if result.observed_unit:
            entry["observedUnit"] = result.observed_unit
    entry["status"] = result.status
    entry["time"] = iso_time(component.time)
    if details and result.status != "pass" and result.output:
        entry["output"] = result.output
    if full:
        entry.update(
            latencyMs=latency_ms,
            critical=component.critical,
            weight=component.weight,
            cached=component.cached,
        )
        if details:
            entry["details"] = dict(result.details)
    return entry


class HealthEndpoints:
    """The ASGI app ``init()`` mounts at the health prefix; see the module docstring."""

    def __init__(
        self,
        registry: HealthRegistry,
        *,
        prefix: str = "/health",
        service_id: str = "",
        version: str = "",
        release_id: str = "",
        description: str = "",
        details_token: str | None = None,
        window: SummarySource | None = None,
    ) -> None:
        self.registry = registry
        self.prefix = prefix.rstrip("/")
        identity = {
            "version": version,
            "releaseId": release_id,
            "serviceId": service_id,
            "description": description,
        }
        self.identity = {key: value for key, value in identity.items() if value}
        self._token = details_token.encode() if details_token else None
        self.window = window

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            status, body = await self._answer(scope)
        except Exception as exc:
            report_internal_error("health", exc)
            status, body = 500, {"status": "fail"}
        await _respond(send, status, body, head=scope.get("method") == "HEAD")

    async def _answer(self, scope: MutableMapping[str, Any]) -> tuple[int, dict[str, Any]]:
        if scope.get("method") not in ("GET", "HEAD"):
            return 405, {"status": "fail", "output": "use GET or HEAD"}
        path = scope.get("path", "")
        if path.startswith(self.prefix):
            path = path[len(self.prefix) :]
        name = path.strip("/")
        details = self._details_allowed(scope)
        if name == "live":
            return 200, {"status": "pass", **self.identity}
        if name in ("", "ready", "full"):
            report = await self.registry.run("ready" if name == "ready" else None)
            full = name == "full"
            return _code(report.status), self._document(report, details, extras=full, summary=full)
        if name not in self.registry:
            return 404, {"status": "fail", "output": f"no health check named {name!r}"}
        component = await self.registry.run_component(name)
        report = HealthReport(
            component.status, 100.0 * STATUS_VALUES[component.status], (component,)
        )
        return _code(component.status), self._document(report, details, extras=details)

    def _document(
        self, report: HealthReport, details: bool, *, extras: bool, summary: bool = False
    ) -> dict[str, Any]:
        document: dict[str, Any] = {"status": report.status, **self.identity}
        failing = [c for c in report.components if c.status != "pass"]
        if details and failing:
            document["output"] = "; ".join(
                f"{c.name}: {c.result.output or c.status}" for c in failing
            )
        document["checks"] = {
            f"{c.name}:{c.result.measurement}": [check_entry(c, details=details, full=extras)]
            for c in report.components
        }
        if summary:
            document["score"] = report.score
            if self.window is not None:
                document["service"] = dict(self.window.summary())
        return document

    def _details_allowed(self, scope: MutableMapping[str, Any]) -> bool:
        if self._token is None:
            return True
        for key, value in scope.get("headers", ()):
            if key == b"authorization" and value[:7].lower() == b"bearer ":
                return hmac.compare_digest(value[7:].strip(), self._token)
        return False


def _code(status: str) -> int:
    return 503 if status == "fail" else 200


async def _respond(send: Send, status: int, body: dict[str, Any], *, head: bool) -> None:
    payload = json.dumps(body, default=str, ensure_ascii=False).encode()
    headers = [
        (b"content-type", CONTENT_TYPE),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if status == 405:
        headers.append((b"allow", b"GET, HEAD"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else payload})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Standalone use (``uvicorn agentwatch...:app``): accept startup and shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
