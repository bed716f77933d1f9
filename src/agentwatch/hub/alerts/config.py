"""The alerts part's keys of ``hub.yaml``: ``intake`` and ``notifications``.

::

    intake:
      token_file: /run/secrets/intake_token              # Alertmanager's bearer token
      grafana_hmac_secret_file: /run/secrets/grafana_hmac
      grafana_replay_window: 5m
    notifications:
      group_by: [alertname, service]                     # defaults of every route
      group_wait: 30s
      group_interval: 5m
      repeat_interval: 12h
      channels:
        - {name: oncall, type: slack, url: "${SLACK_WEBHOOK_URL}"}
        - {name: pager, type: pagerduty, routing_key_file: /run/secrets/pd_key}
      routes:                                            # Alertmanager's meaning
        - {match: {severity: critical}, channels: [pager, oncall], continue: false}
        - {match_re: {service: "api|worker"}, channels: [oncall], group_wait: 10s}
      inhibit:                                           # the default shown
        - {source_match: {severity: critical}, target_match: {severity: warning},
           equal: [alertname, service]}
      outbox: {workers: 4, max_age: 24h, retry_initial: 1s, retry_max: 5m}

Without ``routes``, the seeds' table applies: critical → PagerDuty, Slack, e-mail, Discord
and Apprise channels; warning → Slack, Discord and Apprise; every alert (also info and
status-page incidents) → webhook channels.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from ..config import Node, Secret
from .channels import COALESCES, DEFAULT_RATES, TYPES, ChannelConfig
from .matchers import Matcher, MatcherError, parse_matcher

__all__ = [
    "AlertsConfig",
    "InhibitRule",
    "IntakeConfig",
    "OutboxConfig",
    "RouteConfig",
    "Timing",
    "parse_alerts_config",
]

TIMING_KEYS = ("group_by", "group_wait", "group_interval", "repeat_interval")
CHANNEL_KEYS = (
    "name",
    "type",
    "rate_limit",
    "coalesce",
    "storm_threshold",
    "max_age",
    "send_resolved",
)
ROUTE_KEYS = (
    "name",
    "match",
    "match_re",
    "matchers",
    "channels",
    "continue",
    "group_by",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "routes",
)
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_RATE = re.compile(r"(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)")
_PER = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0}
_PER |= {"h": 3600.0, "hour": 3600.0}


@dataclass(frozen=True)
class IntakeConfig:
    token: Secret | None = None
    grafana_secret: Secret | None = None
    grafana_replay_window: float = 300.0
    grafana_signature_header: str = "X-Grafana-Alerting-Signature"
    grafana_timestamp_header: str = "X-Grafana-Alerting-Timestamp"


@dataclass(frozen=True)
class Timing:
    group_by: tuple[str, ...] | None = ("alertname", "service")  # None: every label ('...')
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 12 * 3600.0


@dataclass(frozen=True)
class RouteConfig:
    key: str  # stable id of the route (its groups' rows carry it)
    matchers: tuple[Matcher, ...]
    channels: tuple[str, ...]
    timing: Timing
    continue_: bool = False
    routes: tuple[RouteConfig, ...] = ()


@dataclass(frozen=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]


@dataclass(frozen=True)
class OutboxConfig:
    """``workers``: rows each channel sends at once, counted across every hub on the
    database; a crash repeats at most that many rows per channel (1: one row at a time)."""

    workers: int = 4
    max_age: float = 24 * 3600.0
    retry_initial: float = 1.0
    retry_max: float = 300.0
    lease: float = 60.0


DEFAULT_INHIBIT = (
    InhibitRule(
        source=(Matcher.make("severity", "=", "critical"),),
        target=(Matcher.make("severity", "=", "warning"),),
        equal=("alertname", "service"),
    ),
)


@dataclass(frozen=True)
class AlertsConfig:
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    channels: tuple[ChannelConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    inhibit: tuple[InhibitRule, ...] = DEFAULT_INHIBIT
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    defaults: Timing = field(default_factory=Timing)

    def channel(self, name: str) -> ChannelConfig | None:
        return next((c for c in self.channels if c.name == name), None)


def parse_alerts_config(root: Node) -> AlertsConfig:
    """``intake`` and ``notifications`` of the root node (problems recorded on it)."""
    intake = _intake(root.child("intake"))
    node = root.child("notifications")
    if node is None:
        return AlertsConfig(intake=intake)
    node.allow((*TIMING_KEYS, "channels", "routes", "inhibit", "outbox"))
    defaults = _timing(node, Timing())
    outbox = _outbox(node.child("outbox"))
    channels = _channels(node, outbox.max_age)
    names = {c.name for c in channels}
    routes = (
        tuple(
            _route(child, defaults, (), names, str(index))
            for index, child in enumerate(node.children("routes"))
        )
        if node.has("routes")
        else default_routes(channels, defaults)
    )
    inhibit = (
        tuple(_inhibit(child) for child in node.children("inhibit"))
        if node.has("inhibit")
        else DEFAULT_INHIBIT
    )
    return AlertsConfig(intake, channels, routes, inhibit, outbox, defaults)


def _intake(node: Node | None) -> IntakeConfig:
    if node is None:
        return IntakeConfig()
    node.allow(
        (
            "token",
            "token_file",
            "grafana_hmac_secret",
            "grafana_hmac_secret_file",
            "grafana_replay_window",
            "grafana_signature_header",
            "grafana_timestamp_header",
        )
    )
    defaults = IntakeConfig()
    return IntakeConfig(
        token=node.secret("token"),
        grafana_secret=node.secret("grafana_hmac_secret"),
        grafana_replay_window=node.duration(
            "grafana_replay_window", defaults.grafana_replay_window, minimum=1.0
        ),
        grafana_signature_header=node.text(
            "grafana_signature_header", defaults.grafana_signature_header
        ),
        grafana_timestamp_header=node.text(
            "grafana_timestamp_header", defaults.grafana_timestamp_header
        ),
    )


def _timing(node: Node, inherited: Timing) -> Timing:
    group_by = inherited.group_by
    if node.has("group_by"):
        names = node.str_list("group_by")
        group_by = None if "..." in names else names
    return Timing(
        group_by=group_by,
        group_wait=node.duration("group_wait", inherited.group_wait),
        group_interval=node.duration("group_interval", inherited.group_interval, minimum=0.05),
        repeat_interval=node.duration("repeat_interval", inherited.repeat_interval, minimum=0.05),
    )


def _outbox(node: Node | None) -> OutboxConfig:
    if node is None:
        return OutboxConfig()
    node.allow(("workers", "max_age", "retry_initial", "retry_max", "lease"))
    d = OutboxConfig()
    return OutboxConfig(
        workers=node.integer("workers", d.workers, minimum=1, maximum=64),
        max_age=node.duration("max_age", d.max_age, minimum=1.0),
        retry_initial=node.duration("retry_initial", d.retry_initial, minimum=0.01),
        retry_max=node.duration("retry_max", d.retry_max, minimum=0.01),
        lease=node.duration("lease", d.lease, minimum=1.0),
    )


def parse_rate(value: object) -> float | str | None:
    """Sends per second from ``"1/s"``, ``"120/m"``, a number, or ``"none"``; str: invalid."""
    if value is None or value in ("none", "unlimited", 0):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _RATE.fullmatch(str(value).strip())
    if match is None or float(match.group(1)) <= 0:
        return "invalid"
    return float(match.group(1)) / _PER[match.group(2)]


def _channel(node: Node, max_age: float) -> ChannelConfig | None:
    kind = node.choice("type", tuple(TYPES))
    name = node.text("name")
    if name and not _NAME.fullmatch(name):
        node.problem("name", f"{name!r} is not valid: letters, digits, '_', '.', '-' (100 at most)")
    if kind is None or not name:
        return None
    module = TYPES[kind]
    node.allow((*CHANNEL_KEYS, *module.KEYS))
    rate = parse_rate(node.data.get("rate_limit", DEFAULT_RATES[kind]))
    if rate == "invalid":
        node.problem(
            "rate_limit",
            f"{node.data.get('rate_limit')!r} is not valid: expected "
            "a rate such as 1/s, 120/m, 10/h, or none",
        )
        rate = DEFAULT_RATES[kind]
    options = module.parse(node)
    if kind in ("slack", "discord", "webhook"):  # apprise URLs have their own schemes
        _check_url(node, options)
    coalesce = node.flag("coalesce", kind in COALESCES)
    if coalesce and kind == "pagerduty":
        node.problem("coalesce", "pagerduty events are never coalesced (each dedup_key counts)")
        coalesce = False
    return ChannelConfig(
        name=name,
        type=kind,
        options=options,
        rate=rate if isinstance(rate, float) else None,
        coalesce=coalesce,
        storm_threshold=node.integer("storm_threshold", 10, minimum=1),
        max_age=node.duration("max_age", max_age, minimum=1.0),
        send_resolved=node.flag("send_resolved", True),
    )


def _check_url(node: Node, options: object) -> None:
    """A channel's URL (a secret: never shown) is an http(s) URL, or the wrong file or
    variable was given."""
    url = getattr(options, "url", None)
    if not isinstance(url, Secret) or url.source.endswith("(not read)"):
        return
    if not url.reveal().startswith(("http://", "https://")):
        key = "url_file" if node.has("url_file") else "url"
        node.problem(key, f"is not an http:// or https:// URL (from {url.source}; not shown)")


def _channels(node: Node, max_age: float) -> tuple[ChannelConfig, ...]:
    out: list[ChannelConfig] = []
    for index, child in enumerate(node.children("channels")):
        channel = _channel(child, max_age)
        if channel is None:
            continue
        if any(c.name == channel.name for c in out):
            node.problem(f"channels[{index}].name", f"{channel.name!r} is given twice")
            continue
        out.append(channel)
    return tuple(out)


def _matchers(node: Node) -> tuple[Matcher, ...]:
    out = [Matcher.make(k, "=", v) for k, v in node.str_map("match").items()]
    for name, pattern in node.str_map("match_re").items():
        try:
            out.append(Matcher.make(name, "=~", pattern))
        except MatcherError as exc:
            node.problem(f"match_re.{name}", str(exc))
    for index, text in enumerate(node.str_list("matchers")):
        try:
            out.append(parse_matcher(text))
        except MatcherError as exc:
            node.problem(f"matchers[{index}]", str(exc))
    return tuple(out)


def _route_key(
    node: Node, path: str, matchers: tuple[Matcher, ...], channels: tuple[str, ...]
) -> str:
    if node.has("name"):
        return str(node.text("name"))[:64]
    digest = hashlib.sha256(repr((sorted(map(str, matchers)), channels)).encode()).hexdigest()
    return f"r{path}-{digest[:8]}"


def _route(
    node: Node, inherited: Timing, channels: tuple[str, ...], known: set[str], path: str
) -> RouteConfig:
    node.allow(ROUTE_KEYS)
    matchers = _matchers(node)
    own = node.str_list("channels", channels)
    for name in own:
        if name not in known:
            accepted = ", ".join(sorted(known)) or "none defined"
            node.problem("channels", f"{name!r} is not a channel; channels: {accepted}")
    timing = _timing(node, inherited)
    children = tuple(
        _route(child, timing, own, known, f"{path}.{index}")
        for index, child in enumerate(node.children("routes"))
    )
    return RouteConfig(
        key=_route_key(node, path, matchers, own),
        matchers=matchers,
        channels=own,
        timing=timing,
        continue_=node.flag("continue", False),
        routes=children,
    )


def _inhibit(node: Node) -> InhibitRule:
    node.allow(("source_match", "source_match_re", "target_match", "target_match_re", "equal"))
    source = [Matcher.make(k, "=", v) for k, v in node.str_map("source_match").items()]
    target = [Matcher.make(k, "=", v) for k, v in node.str_map("target_match").items()]
    for key, out in (("source_match_re", source), ("target_match_re", target)):
        for name, pattern in node.str_map(key).items():
            try:
                out.append(Matcher.make(name, "=~", pattern))
            except MatcherError as exc:
                node.problem(f"{key}.{name}", str(exc))
    return InhibitRule(tuple(source), tuple(target), node.str_list("equal"))


def default_routes(channels: tuple[ChannelConfig, ...], timing: Timing) -> tuple[RouteConfig, ...]:
    """The seeds' table over the channels that exist (see the module docstring)."""

    def named(*types: str) -> tuple[str, ...]:
        return tuple(c.name for c in channels if c.type in types)

    table = [
        ("default-webhooks", (), named("webhook"), True),
        (
            "default-critical",
            (Matcher.make("severity", "=", "critical"),),
            named("pagerduty", "slack", "email", "discord", "apprise"),
            False,
        ),
        (
            "default-warning",
            (Matcher.make("severity", "=", "warning"),),
            named("slack", "discord", "apprise"),
            False,
        ),
    ]
    return tuple(
        RouteConfig(key, matchers, names, timing, continue_=cont)
        for key, matchers, names, cont in table
        if names
    )
