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

Every document also carries ``notes`` (the draft's array of notes, when there are any) and
the extension fields ``environment``, ``uptime_seconds`` (since the endpoints were built,
that is since ``init()``) and ``timestamp`` (RFC 3339, UTC, milliseconds). ``aliases`` maps
root paths Kubernetes users type (``/live``, ``/ready``, ``/livez``...) to the endpoints:
see :func:`alias_target`.

``fail`` answers 503, ``pass`` and ``warn`` 200. With a details token, outputs and details
(hostnames, error messages) are shown only to requests with ``Authorization: Bearer
<token>``; without one they are shown to everyone. Outputs are always redacted.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any, Protocol

from .._exceptions import ConfigurationError
from .._logs.formatter import _iso as iso_time
from .._state import report_internal_error
from ._registry import ComponentResult, HealthRegistry, HealthReport
from .base import STATUS_VALUES

__all__ = ["CONTENT_TYPE", "HealthAlias", "HealthEndpoints", "SummarySource", "alias_target"]

CONTENT_TYPE = b"application/health+json"
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Notes = Sequence[str] | Callable[[], Sequence[str]]
_ALIAS_TARGETS = {"live": "live", "ready": "ready", "health": ""}


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
        environment: str = "",
        notes: Notes = (),
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
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
        self.environment = environment
        self.notes = notes
        self._clock = clock
        self._wall_clock = wall_clock
        self._started = clock()
        self._token = details_token.encode() if details_token else None
        self.window = window

    def uptime_seconds(self) -> float:
        """Seconds since these endpoints were built (``init()``), to the millisecond."""
        return round(max(0.0, self._clock() - self._started), 3)

    def envelope(self, status: str) -> dict[str, Any]:
        """The fields every document starts with: status, identity, notes, extensions."""
        document: dict[str, Any] = {"status": status, **self.identity}
        notes = self.notes() if callable(self.notes) else self.notes
        if notes:
            document["notes"] = [str(note) for note in notes]
        if self.environment:
            document["environment"] = self.environment
        document["uptime_seconds"] = self.uptime_seconds()
        document["timestamp"] = iso_time(self._wall_clock())
        return document

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
            status, body = 500, {"status": "fail", "output": "internal error (logged)"}
        await _respond(send, status, body, head=scope.get("method") == "HEAD")

    async def _answer(self, scope: MutableMapping[str, Any]) -> tuple[int, dict[str, Any]]:
        if scope.get("method") not in ("GET", "HEAD"):
            return 405, {**self.envelope("fail"), "output": "use GET or HEAD"}
        path = scope.get("path", "")
        if path.startswith(self.prefix):
            path = path[len(self.prefix) :]
        name = path.strip("/")
        details = self._details_allowed(scope)
        if name == "live":
            return 200, self.envelope("pass")
        if name in ("", "ready", "full"):
            report = await self.registry.run("ready" if name == "ready" else None)
            full = name == "full"
            return _code(report.status), self._document(report, details, extras=full, summary=full)
        if name not in self.registry:
            return 404, {**self.envelope("fail"), "output": f"no health check named {name!r}"}
        component = await self.registry.run_component(name)
        report = HealthReport(
            component.status, 100.0 * STATUS_VALUES[component.status], (component,)
        )
        return _code(component.status), self._document(report, details, extras=details)

    def _document(
        self, report: HealthReport, details: bool, *, extras: bool, summary: bool = False
    ) -> dict[str, Any]:
        document = self.envelope(report.status)
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


def alias_target(path: str) -> str:
    """The endpoint a root alias answers as: ``/live`` and ``/livez`` are ``live``,
    ``/ready`` and ``/readyz`` ``ready``, ``/health`` and ``/healthz`` the summary.

    Raises ConfigurationError for any other path.
    """
    name = path.strip("/")
    target = _ALIAS_TARGETS.get(name.removesuffix("z"))
    if "/" in name or target is None:
        raise ConfigurationError(
            "health_aliases", path, "/live, /ready, /health, or the same ending in z"
        )
    return target


class HealthAlias:
    """A root path (``/ready``) answering exactly like its health endpoint."""

    def __init__(self, endpoints: HealthEndpoints, path: str) -> None:
        self.endpoints = endpoints
        self.path = "/" + path.strip("/")
        self.target = alias_target(path)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            rest = scope.get("path", "")[len(self.path) :]
            target = f"/{self.target}" if self.target else ""
            path = self.endpoints.prefix + target + rest
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.endpoints(scope, receive, send)


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
