"""One check of one monitor: what it saw, as a :class:`ProbeResult`.

Every probe is bounded by the monitor's ``timeout`` and never raises: a failure is a
``down`` result whose message says what happened. HTTP and health probes send a W3C
``traceparent`` (sampled), so a failing check links to the trace it caused in the service.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from .config import Expect, MonitorConfig

__all__ = ["PROBES", "ProbeResult", "run_probe"]

HEALTH_STATUS = {"pass": "up", "ok": "up", "up": "up", "warn": "degraded", "fail": "down"}
HEALTH_STATUS |= {"error": "down", "down": "down"}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    status: str  # up | degraded | down
    latency_ms: float | None
    message: str = ""
    trace_id: str | None = None
    components: Mapping[str, str] = field(default_factory=dict)  # health checks: name -> status


Probe = Callable[[MonitorConfig, httpx.AsyncClient], Awaitable[ProbeResult]]


async def run_probe(monitor: MonitorConfig, http: httpx.AsyncClient) -> ProbeResult:
    """The monitor's check, within its timeout; any failure is a ``down`` result."""
    probe = PROBES[monitor.type]
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(probe(monitor, http), monitor.timeout)
    except TimeoutError:
        return ProbeResult("down", _ms(started), f"no answer within {monitor.timeout:g}s")
    except Exception as exc:  # a probe never takes the scheduler down
        result = ProbeResult("down", _ms(started), _describe(exc, monitor))
    return replace(result, message=scrub(result.message, monitor))


def scrub(message: str, monitor: MonitorConfig) -> str:
    """``message`` without any part of the monitor's secrets (see MonitorConfig.scrub)."""
    return monitor.scrub(message) if message else message


# -- http and health -------------------------------------------------------------------------


def _traceparent() -> tuple[str, dict[str, str]]:
    trace_id = secrets.token_hex(16)
    return trace_id, {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}


async def _http(monitor: MonitorConfig, http: httpx.AsyncClient) -> ProbeResult:
    trace_id, headers = _traceparent()
    started = time.perf_counter()
    response = await http.request(
        monitor.method,
        monitor.url,
        headers={**monitor.headers, **headers},
        content=monitor.body,
        timeout=monitor.timeout,
        follow_redirects=monitor.follow_redirects,
    )
    latency = _ms(started)
    problem = _expectation_problem(monitor.expect, response)
    if problem:
        return ProbeResult("down", latency, problem, trace_id)
    days = _cert_days_left(response)
    if (
        monitor.expect.cert_days is not None
        and days is not None
        and days < monitor.expect.cert_days
    ):
        return ProbeResult("degraded", latency, f"TLS certificate expires in {days} days", trace_id)
    return ProbeResult("up", latency, f"HTTP {response.status_code}", trace_id)


def _expectation_problem(expect: Expect, response: httpx.Response) -> str | None:
    code = response.status_code
    if expect.status and code not in expect.status:
        wanted = " or ".join(str(s) for s in expect.status)
        return f"HTTP {code} from {response.url}, expected {wanted}"
    if not expect.status and not 200 <= code < 400:
        return f"HTTP {code} from {response.url}"
    text = response.text
    if expect.body is not None and expect.body not in text:
        return f"the body does not contain {expect.body!r}"
    if expect.body_regex is not None and re.search(expect.body_regex, text) is None:
        return f"the body does not match {expect.body_regex!r}"
    if expect.json_path is not None:
        try:
            document = json.loads(text)
        except ValueError:
            return f"{expect.json_path}: the body is not JSON"
        try:
            value = json_path(document, expect.json_path)
        except (ValueError, LookupError, TypeError) as exc:
            return f"{expect.json_path}: {exc}"
        if expect.json_equals is not None and value != expect.json_equals:
            return f"{expect.json_path} is {value!r}, expected {expect.json_equals!r}"
    return None


_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]")


def json_path(document: Any, path: str) -> Any:
    """The value at a simple JSONPath (``$.a.b[0]['c d']``); LookupError when absent."""
    if not path.startswith("$"):
        raise ValueError("a path starts with $")
    value, rest = document, path[1:]
    while rest:
        match = _STEP.match(rest)
        if match is None:
            raise ValueError(f"cannot read {rest!r}")
        key = match.group(1) or match.group(3)
        if key is not None:
            if not isinstance(value, dict) or key not in value:
                raise LookupError(f"no key {key!r}")
            value = value[key]
        else:
            index = int(match.group(2))
            if not isinstance(value, list) or index >= len(value):
                raise LookupError(f"no item {index}")
            value = value[index]
        rest = rest[match.end() :]
    return value


def _cert_days_left(response: httpx.Response) -> int | None:
    stream = response.extensions.get("network_stream")
    if stream is None or response.url.scheme != "https":
        return None
    ssl_object = stream.get_extra_info("ssl_object")
    cert = ssl_object.getpeercert() if ssl_object is not None else None
    if not cert or "notAfter" not in cert:
        return None
    expires = ssl.cert_time_to_seconds(cert["notAfter"])
    return int((expires - time.time()) // 86400)


async def _health(monitor: MonitorConfig, http: httpx.AsyncClient) -> ProbeResult:
    trace_id, headers = _traceparent()
    started = time.perf_counter()
    response = await http.get(
        monitor.url,
        headers={"accept": "application/health+json", **monitor.headers, **headers},
        timeout=monitor.timeout,
    )
    latency = _ms(started)
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):  # not JSON, or a list: "'list' object has no attribute"
        return ProbeResult(
            "down", latency, f"HTTP {response.status_code}, not health+json", trace_id
        )
    status = HEALTH_STATUS.get(str(document.get("status", "")).lower())
    if status is None:
        status = "up" if response.status_code < 400 else "down"
    components = _components(document.get("checks"))
    failing = [f"{name} {state}" for name, state in components.items() if state != "pass"]
    message = f"health {document.get('status')}" + (f": {', '.join(failing)}" if failing else "")
    return ProbeResult(status, latency, message, trace_id, components)


def _components(checks: Any) -> dict[str, str]:
    if not isinstance(checks, dict):
        return {}
    out: dict[str, str] = {}
    for name, entries in checks.items():
        items = entries if isinstance(entries, list) else [entries]
        states = [str(e.get("status", "")) for e in items if isinstance(e, dict)]
        worst = "fail" if "fail" in states else "warn" if "warn" in states else "pass"
        out[str(name)] = worst
    return out


# -- sockets -----------------------------------------------------------------------------------


async def _tcp(monitor: MonitorConfig, _http: httpx.AsyncClient) -> ProbeResult:
    started = time.perf_counter()
    _reader, writer = await asyncio.open_connection(monitor.host, monitor.port)
    latency = _ms(started)
    writer.close()
    await writer.wait_closed()
    return ProbeResult("up", latency, f"connected to {monitor.target}")


async def _redis(monitor: MonitorConfig, _http: httpx.AsyncClient) -> ProbeResult:
    assert monitor.secret is not None
    url = urlsplit(monitor.secret.reveal())
    started = time.perf_counter()
    ssl_context = ssl.create_default_context() if url.scheme == "rediss" else None
    reader, writer = await asyncio.open_connection(url.hostname, url.port or 6379, ssl=ssl_context)
    try:
        if url.password:
            user = [url.username] if url.username else []
            writer.write(_resp("AUTH", *user, url.password))
            await _expect_reply(reader, b"+OK")
        writer.write(_resp("PING"))
        await _expect_reply(reader, b"+PONG")
    finally:
        writer.close()
    return ProbeResult("up", _ms(started), "PONG")


def _resp(*words: str) -> bytes:
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


async def _expect_reply(reader: asyncio.StreamReader, wanted: bytes) -> None:
    line = (await reader.readline()).rstrip(b"\r\n")
    if line != wanted:
        raise ConnectionError(f"redis answered {line.decode(errors='replace')[:200]!r}")


async def _postgres(monitor: MonitorConfig, _http: httpx.AsyncClient) -> ProbeResult:
    import psycopg

    assert monitor.secret is not None
    dsn = monitor.secret.reveal().replace("postgresql+psycopg://", "postgresql://", 1)
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(
        dsn, connect_timeout=max(1, int(monitor.timeout))
    ) as conn:
        await conn.execute("SELECT 1")
    return ProbeResult("up", _ms(started), "SELECT 1")


async def _dns(monitor: MonitorConfig, _http: httpx.AsyncClient) -> ProbeResult:
    family = {"A": socket.AF_INET, "AAAA": socket.AF_INET6}.get(monitor.record, 0)
    started = time.perf_counter()
    infos = await asyncio.get_running_loop().getaddrinfo(monitor.host, None, family=family)
    addresses = sorted({str(info[4][0]) for info in infos})
    return ProbeResult("up", _ms(started), ", ".join(addresses[:5]))


async def _push(monitor: MonitorConfig, _http: httpx.AsyncClient) -> ProbeResult:
    raise AssertionError("push monitors are judged by the scheduler, not probed")


PROBES: dict[str, Probe] = {
    "http": _http,
    "health": _health,
    "tcp": _tcp,
    "redis": _redis,
    "postgres": _postgres,
    "dns": _dns,
    "push": _push,
}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


def _describe(exc: Exception, monitor: MonitorConfig) -> str:
    unresolved = _gaierror(exc)
    if unresolved is not None:  # not "connection refused": the name does not resolve
        return f"the host name does not resolve: {unresolved.strerror or unresolved}"[:500]
    if isinstance(exc, httpx.ConnectError | ConnectionRefusedError):
        return f"connection refused or unreachable: {exc}"[:500]
    if monitor.type == "postgres" and type(exc).__name__ == "ProgrammingError":
        return "the DSN is not valid (libpq cannot read it; not shown, it is a secret)"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


def _gaierror(exc: BaseException) -> socket.gaierror | None:
    """The resolver's error under ``exc`` (httpx wraps it twice), if that is what failed."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
