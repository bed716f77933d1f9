"""The monitors part's keys of ``hub.yaml``: ``monitors``, ``maintenance`` and ``monitoring``.

::

    monitors:
      - {name: api, type: http, url: "http://127.0.0.1:8000/", interval: 30s,
         expect: {status: 200, body: "ok", json: {path: "$.status", equals: "pass"}}}
      - {name: api-health, type: health, url: "http://127.0.0.1:8000/health/full"}
      - {name: postgres, type: postgres, dsn_file: /run/secrets/pg_dsn, interval: 60s}
      - {name: redis, type: redis, url: "redis://127.0.0.1:6379/0"}
      - {name: smtp, type: tcp, host: 127.0.0.1, port: 25}
      - {name: resolver, type: dns, host: example.internal}
      - {name: nightly, type: push, interval: 24h, grace: 1h}
    maintenance:
      - {name: deploys, monitors: [api], cron: "0 3 * * 1-5", duration: 30m, timezone: Europe/Paris}
    monitoring:                     # all optional
      concurrency: 64               # checks running at once
      keep_results: 7d              # raw results
      keep_hourly: 90d
      keep_daily: 400d

A monitor is its ``name``: reloading the file keeps the history of every monitor still
named in it. Monitors created through the API use the same schema and are never touched
by a reload.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..config import Node, Secret, root
from .cron import CronError, parse_cron
from .targets import (
    checked_method,
    checked_url,
    hidden_values,
    redis_url,
    server_of,
    without_credentials,
)

__all__ = [
    "TYPES",
    "Expect",
    "MaintenanceWindow",
    "MonitorConfig",
    "MonitorsConfig",
    "Retention",
    "parse_monitor",
    "parse_monitors_config",
]

TYPES = ("http", "health", "tcp", "postgres", "redis", "dns", "push")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_COMMON = (
    "name",
    "type",
    "interval",
    "timeout",
    "down_after",
    "up_after",
    "depends_on",
    "labels",
    "description",
    "paused",
)
_KEYS = {
    "http": ("url", "method", "headers", "body", "expect", "follow_redirects"),
    "health": ("url", "headers"),
    "tcp": ("host", "port"),
    "postgres": ("dsn", "dsn_file"),
    "redis": ("url", "url_file"),
    "dns": ("host", "record"),
    "push": ("grace", "token", "token_file"),
}


@dataclass(frozen=True)
class Expect:
    """What an ``http`` check accepts; all given conditions must hold."""

    status: tuple[int, ...] = ()  # empty: any 2xx or 3xx
    body: str | None = None  # text the body contains
    body_regex: str | None = None
    json_path: str | None = None  # "$.a.b[0].c"
    json_equals: Any = None
    cert_days: int | None = None  # degraded below this many days of TLS certificate left


@dataclass(frozen=True)
class MonitorConfig:
    name: str
    type: str
    interval: float = 60.0
    timeout: float = 10.0
    down_after: int = 1
    up_after: int = 1
    depends_on: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    paused: bool = False
    url: str = ""
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    follow_redirects: bool = False
    expect: Expect = field(default_factory=Expect)
    host: str = ""
    port: int = 0
    record: str = "A"
    grace: float = 60.0
    secret: Secret | None = None  # dsn, redis URL or push token
    spec: Mapping[str, Any] = field(default_factory=dict)  # the YAML it was read from
    # what ``${ENV}`` put into the url, headers and body, and the url's password: an API key
    # in a query string or a header is as secret as a DSN
    hidden: tuple[str, ...] = field(default=(), repr=False)

    @property
    def target(self) -> str:
        """Where the check looks, never a secret."""
        if self.type in ("http", "health"):
            return self.scrub(without_credentials(self.url))
        if self.type in ("tcp",):
            return f"{self.host}:{self.port}"
        if self.type == "dns":
            return f"{self.host} {self.record}"
        if self.type in ("postgres", "redis") and self.secret is not None:
            return server_of(self.secret.reveal())
        return ""

    def scrub(self, text: str) -> str:
        """``text`` without any part of the monitor's secrets (a DSN, a Redis URL, a token,
        an expanded ``${ENV}``): a driver's error may quote what it was given, e.g. a DSN it
        cannot parse, and an HTTP error names the URL."""
        values = [*self.hidden, *([self.secret.reveal()] if self.secret is not None else [])]
        pieces: set[str] = set()
        for value in values:
            pieces.update({value, *re.split(r"[\s'\"]+", value), *value.splitlines()})
            try:
                password = urlsplit(value.strip()).password
            except ValueError:
                password = None
            pieces.update(filter(None, [password]))
            pieces.update(re.findall(r"password\s*=\s*'?([^\s']+)", value))
        for piece in sorted((p for p in pieces if len(p) >= 4), key=len, reverse=True):
            text = text.replace(piece, "***")
        return text


@dataclass(frozen=True)
class MaintenanceWindow:
    name: str
    monitors: tuple[str, ...]  # empty: every monitor
    duration: float
    cron: str | None = None
    timezone: str = "UTC"
    start: float | None = None  # a one-off window (unix seconds)
    reason: str = ""


@dataclass(frozen=True)
class Retention:
    results: float = 7 * 86400.0
    hourly: float = 90 * 86400.0
    daily: float = 400 * 86400.0


@dataclass(frozen=True)
class MonitorsConfig:
    monitors: tuple[MonitorConfig, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    concurrency: int = 64
    retention: Retention = field(default_factory=Retention)
    pages: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # monitor -> page slugs
    public: frozenset[str] = frozenset()  # monitors shown on a public page

    def by_name(self) -> dict[str, MonitorConfig]:
        """The monitors by name (made once: the scheduler asks at every wake)."""
        return self._by_name

    @cached_property
    def _by_name(self) -> dict[str, MonitorConfig]:
        return {monitor.name: monitor for monitor in self.monitors}


def parse_monitors_config(node: Node) -> MonitorsConfig:
    monitors = [parse_monitor(child) for child in node.children("monitors")]
    _check_names(node, monitors)
    settings = node.child("monitoring")
    concurrency, retention = 64, Retention()
    if settings is not None:
        settings.allow(("concurrency", "keep_results", "keep_hourly", "keep_daily"))
        concurrency = settings.integer("concurrency", 64, minimum=1, maximum=10_000)
        retention = Retention(
            results=settings.duration("keep_results", Retention.results, minimum=3600.0),
            hourly=settings.duration("keep_hourly", Retention.hourly, minimum=86400.0),
            daily=settings.duration("keep_daily", Retention.daily, minimum=86400.0),
        )
    windows = tuple(_window(child) for child in node.children("maintenance"))
    _check_window_names(node, monitors, windows)
    pages, public = _pages(node)
    return MonitorsConfig(
        monitors=tuple(m for m in monitors if m is not None),
        maintenance=tuple(w for w in windows if w is not None),
        concurrency=concurrency,
        retention=retention,
        pages=pages,
        public=public,
    )


def _pages(node: Node) -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
    """Which status pages show each monitor (the status part reads and checks the key; this
    only looks, to link notifications to the page and to make public badges)."""
    raw = node.data.get("status_pages")
    pages: dict[str, tuple[str, ...]] = {}
    public: set[str] = set()
    for page in raw if isinstance(raw, list) else []:
        if not isinstance(page, Mapping) or not isinstance(page.get("monitors"), list):
            continue
        for name in page["monitors"]:
            if isinstance(name, str):
                pages[name] = (*pages.get(name, ()), str(page.get("slug", "")))
                if page.get("public", False) is True:
                    public.add(name)
    return pages, frozenset(public)


def parse_monitor(node: Node) -> MonitorConfig | None:
    """One monitor from its YAML (or API JSON) node; None when it cannot be read."""
    kind = node.choice("type", TYPES)
    name = node.text("name")
    if name is not None and not _NAME.fullmatch(str(name)):
        node.problem("name", f"{name!r} is not valid: expected 1-100 letters, digits, _ . -")
        name = None
    node.allow(
        _COMMON + (_KEYS[kind] if kind in _KEYS else tuple(k for v in _KEYS.values() for k in v))
    )
    if kind is None or name is None:
        return None
    common: dict[str, Any] = {
        "name": str(name),
        "type": kind,
        "interval": node.duration("interval", 60.0, minimum=1.0),
        "timeout": node.duration("timeout", 10.0, minimum=0.05),
        "down_after": node.integer("down_after", 1, minimum=1, maximum=100),
        "up_after": node.integer("up_after", 1, minimum=1, maximum=100),
        "depends_on": node.str_list("depends_on"),
        "labels": node.str_map("labels"),
        "description": node.text("description", ""),
        "paused": node.flag("paused", False),
        "spec": _plain(node),
    }
    return MonitorConfig(**common, **_specific(node, kind))


def _specific(node: Node, kind: str) -> dict[str, Any]:
    if kind in ("http", "health"):
        url = checked_url(node, ("http://", "https://"))
        return {
            "url": url,
            "hidden": hidden_values(node, url),
            "method": checked_method(node),
            "headers": node.str_map("headers"),
            "body": node.text("body", None),
            "follow_redirects": node.flag("follow_redirects", False),
            "expect": _expect(node.child("expect")),
        }
    if kind == "tcp":
        return {
            "host": node.text("host"),
            "port": node.integer("port", minimum=1, maximum=65535),
        }
    if kind == "dns":
        return {
            "host": node.text("host"),
            "record": node.choice("record", ("A", "AAAA", "ANY"), "A"),
        }
    if kind == "postgres":
        return {"secret": node.secret("dsn", required=True)}
    if kind == "redis":
        return {"secret": redis_url(node)}
    return {"grace": node.duration("grace", 60.0, minimum=0.0), "secret": node.secret("token")}


def _expect(node: Node | None) -> Expect:
    if node is None:
        return Expect()
    node.allow(("status", "body", "body_regex", "json", "cert_days"))
    status: tuple[int, ...] = ()
    if node.has("status"):
        raw = node.data["status"]
        values = raw if isinstance(raw, list) else [raw]
        if all(isinstance(v, int) and 100 <= v <= 599 for v in values):
            status = tuple(values)
        else:
            node.problem("status", f"{raw!r} is not valid: expected an HTTP status or a list")
    regex = node.text("body_regex", None)
    if regex is not None:
        try:
            re.compile(regex)
        except re.error as exc:
            node.problem("body_regex", f"{regex!r} is not a regular expression: {exc}")
            regex = None
    json_node = node.child("json")
    path, equals = None, None
    if json_node is not None:
        json_node.allow(("path", "equals"))
        path = json_node.text("path")
        equals = json_node.data.get("equals")
        if path is not None and not str(path).startswith("$"):
            json_node.problem("path", f"{path!r} is not valid: expected a path such as $.status")
    return Expect(
        status=status,
        body=node.text("body", None),
        body_regex=regex,
        json_path=path,
        json_equals=equals,
        cert_days=node.integer("cert_days", None, minimum=0),
    )


def _window(node: Node) -> MaintenanceWindow | None:
    node.allow(("name", "monitors", "cron", "duration", "timezone", "start", "reason"))
    name = node.text("name")
    cron = node.text("cron", None)
    duration = node.duration("duration", 3600.0, minimum=60.0)
    zone = node.text("timezone", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        node.problem("timezone", f"{zone!r} is not valid: expected an IANA time zone")
    if cron is not None:
        try:
            parse_cron(cron)
        except CronError as exc:
            node.problem("cron", f"{cron!r} is not valid: {exc}")
            return None
    elif not node.has("start"):
        node.problem(None, "expected `cron` (a repeating window) or `start` (a one-off)")
        return None
    start = _start(node) if node.has("start") else None
    if name is None:
        return None
    return MaintenanceWindow(
        name=str(name),
        monitors=node.str_list("monitors"),
        duration=duration,
        cron=cron,
        timezone=zone,
        start=start,
        reason=node.text("reason", ""),
    )


def _check_window_names(
    node: Node,
    monitors: list[MonitorConfig | None],
    windows: tuple[MaintenanceWindow | None, ...],
) -> None:
    """A window's monitors are the file's (a typo would leave a deploy uncovered); a file
    with no monitors at all, whose monitors come from the API, is not checked."""
    known = sorted(m.name for m in monitors if m is not None)
    if not known:
        return
    for index, window in enumerate(windows):
        for position, name in enumerate(window.monitors if window is not None else ()):
            if name not in known:
                node.problem(
                    f"maintenance[{index}].monitors[{position}]",
                    f"{name!r} is not a monitor of this file: expected one of {', '.join(known)}",
                )


def _start(node: Node) -> float | None:
    """A one-off window's start: unix seconds or an RFC 3339 time (YAML may have read an
    unquoted one as a timestamp already)."""
    value = node.data.get("start")
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            node.problem(
                "start",
                f"{value!r} is not valid: expected an RFC 3339 time such as "
                "2026-12-07T03:00:00Z, or unix seconds",
            )
            return None
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    start: float | None = node.number("start", None)
    return start


def _check_names(node: Node, monitors: list[MonitorConfig | None]) -> None:
    seen: set[str] = set()
    known = {m.name for m in monitors if m is not None}
    for index, monitor in enumerate(monitors):
        if monitor is None:
            continue
        if monitor.name in seen:
            node.problem(f"monitors[{index}].name", f"{monitor.name!r} is used twice")
        seen.add(monitor.name)
        for problem in depends_problems(monitor, known):
            node.problem(f"monitors[{index}].depends_on", problem)
    graph = {m.name: m.depends_on for m in monitors if m is not None}
    for index, monitor in enumerate(monitors):
        cycle = None if monitor is None else dependency_cycle(monitor.name, graph)
        if cycle is not None:
            node.problem(
                f"monitors[{index}].depends_on",
                f"is a cycle ({' -> '.join(cycle)}): a monitor cannot depend on itself",
            )


def depends_problems(monitor: MonitorConfig, known: Iterable[str]) -> list[str]:
    """What is wrong with ``monitor.depends_on`` given the monitors that exist."""
    names = set(known)
    accepted = ", ".join([*sorted(names - {monitor.name}), "internet"])
    return [
        f"{parent!r} is not a monitor: expected one of {accepted}"
        for parent in monitor.depends_on
        if parent not in names and parent != "internet"
    ]


def dependency_cycle(start: str, graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """The path ``start -> ... -> start`` through ``depends_on``, if there is one."""
    path, seen = [start], {start}

    def walk(name: str) -> list[str] | None:
        for parent in graph.get(name, ()):
            if parent == start:
                return [*path, start]
            if parent in seen:
                continue
            seen.add(parent)
            path.append(parent)
            found = walk(parent)
            if found is not None:
                return found
            path.pop()
        return None

    return walk(start)


def _plain(node: Node) -> dict[str, Any]:
    return dict(node.data)


def monitor_from_json(data: Mapping[str, Any], *, environ: Mapping[str, str]) -> MonitorConfig:
    """A monitor posted to the API: the YAML schema, problems raised as HubConfigError."""
    top = root({"monitors": [dict(data)]}, file="request body", environ=environ)
    children = top.children("monitors")
    monitor = parse_monitor(children[0]) if children else None
    top.raise_problems()
    assert monitor is not None
    return monitor
