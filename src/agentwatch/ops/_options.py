"""What ``agentwatch ops generate`` takes: options, the timing profile, status values.

The status values the SDK records are fixed here: HTTP ``status`` is the numeric code as
text (``"503"``); LLM, agent, workflow and tool runs record ``status`` as
:data:`STATUS_SUCCESS` or :data:`STATUS_ERROR`. Rules and dashboards select on these, so the
genai helpers must record exactly these values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from .._catalog import PACKS
from .._catalog.packfile import PackFile, load_packs, pack_file, shipped_packs
from .._exceptions import ConfigurationError
from .._genai.operation import ERROR, SUCCESS
from ._thresholds import OpsSettings

if TYPE_CHECKING:
    from ._slo import SloSpec

__all__ = [
    "DEFAULT_INFRA_TARGETS",
    "DEFAULT_PROFILE",
    "DEPENDENCIES",
    "HOST_PACK",
    "K8S_FORMATS",
    "STATUS_ERROR",
    "STATUS_SUCCESS",
    "TEST_PROFILE",
    "GenerateOptions",
    "Profile",
    "ReceiverOptions",
    "load_pack_files",
    "resolve_packs",
]

STATUS_SUCCESS = SUCCESS  # the values the genai helpers record (agentwatch._genai.operation)
STATUS_ERROR = ERROR
HTTP_SERVER_ERROR = '"5.."'
HOST_PACK = "host"  # node-exporter, postgres-exporter, redis-exporter rules: not a catalog pack

DEFAULT_INFRA_TARGETS: Mapping[str, tuple[str, ...]] = {
    "node-exporter": ("node-exporter:9100",),
    "postgres-exporter": ("postgres-exporter:9187",),
    "redis-exporter": ("redis-exporter:9121",),
    "cadvisor": ("cadvisor:8080",),
    "otel-collector": ("otel-collector:8888",),
    "prometheus": ("localhost:9090",),
}


@dataclass(frozen=True)
class Profile:
    """Timings. ``time_scale`` compresses every rule window and ``for:`` (and SLO windows).

    The test profile turns minutes into seconds so an end-to-end test sees an alert fire
    within seconds; generated promtool tests follow the same scale.
    """

    name: str = "default"
    time_scale: Fraction = Fraction(1)
    scrape_interval: str = "15s"
    service_scrape_interval: str = "5s"
    evaluation_interval: str = "15s"
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "12h"


DEFAULT_PROFILE = Profile()
TEST_PROFILE = Profile(
    name="test",
    time_scale=Fraction(1, 60),
    scrape_interval="1s",
    service_scrape_interval="1s",
    evaluation_interval="1s",
    group_wait="1s",
    group_interval="2s",
    repeat_interval="12h",
)
PROFILES = {p.name: p for p in (DEFAULT_PROFILE, TEST_PROFILE)}
K8S_FORMATS = ("kustomize", "helm")
DEPENDENCIES = ("postgres", "redis")  # what the hub's generated monitors can watch


@dataclass(frozen=True)
class ReceiverOptions:
    """Who is told: the hub's e-mail channel, and where Alertmanager reads its secret.

    Slack and PagerDuty need no option here: their webhook URL and routing key are secret
    files (``slack_webhook_url``, ``pagerduty_routing_key``) and an incoming webhook names
    its own channel. ``smtp_username`` empty: no SMTP login. ``secrets_dir`` is where
    Alertmanager reads the hub's intake token. Read from the environment by
    :meth:`from_env` (``AGENTWATCH_ALERT_*``).
    """

    email_to: str = "oncall@example.com"
    smtp_smarthost: str = "smtp.example.com:587"
    smtp_from: str = "agentwatch@example.com"
    smtp_username: str = "agentwatch"
    secrets_dir: str = "/etc/alertmanager/secrets"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ReceiverOptions:
        """Fields from ``AGENTWATCH_ALERT_<FIELD>`` (e.g. ``AGENTWATCH_ALERT_EMAIL_TO``)."""
        values = {
            name: environ[key]
            for name in cls.__dataclass_fields__
            if (key := f"AGENTWATCH_ALERT_{name.upper()}") in environ
        }
        return cls(**values)


@dataclass(frozen=True)
class GenerateOptions:
    """Everything ``agentwatch ops generate`` needs; every field has a working default.

    The hub: Alertmanager and Grafana post to ``hub_url`` (``alert_webhook_url`` overrides
    Alertmanager's URL); notifications link to ``hub_public_url``; the hub and Grafana read
    their secrets from files in ``secrets_mount``; the hub monitors the service's health
    endpoints and ``dependencies`` (``postgres``, ``redis``).

    ``packs`` names built-in packs and shipped pack files (``rag``, ``business``, ...);
    ``pack_files`` adds pack files by path (their packs are always chosen).
    SLOs: the defaults of the chosen packs, then ``slo_file``'s, then ``slos`` (same name
    replaces). ``profile`` sets the timings (``TEST_PROFILE`` turns minutes into seconds).

    >>> GenerateOptions(service="agent-api", packs=("http", "llm"))  # doctest: +SKIP
    """

    service: str = "agent-api"
    service_targets: tuple[str, ...] = ("host.docker.internal:8000",)
    metrics_path: str = "/metrics"
    packs: tuple[str, ...] | None = None
    pack_files: tuple[Path, ...] = ()
    slo_file: Path | None = None
    slos: tuple[SloSpec, ...] = ()
    cluster: str = "local"
    hub_targets: tuple[str, ...] = ("hub:8787",)
    infra_targets: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_INFRA_TARGETS)
    )
    alertmanager_targets: tuple[str, ...] = ("alertmanager:9093",)
    hub_url: str = "http://hub:8787"  # as Alertmanager and Grafana reach the hub
    hub_public_url: str = "http://127.0.0.1:8787"  # as people reach it (links in messages)
    alert_webhook_url: str = ""  # "": hub_url + /api/v1/alerts/alertmanager
    secrets_mount: str = "/run/secrets"  # where the hub and Grafana read secret files
    dependencies: tuple[str, ...] = ("postgres", "redis")  # the hub's monitors of them
    runbook_url_base: str = "http://127.0.0.1:8787/runbooks/"
    dashboard_url: str = ""  # the dashboard_url annotation of every alert, when given
    status_page_url: str = ""  # likewise status_page_url (the hub links the status page)
    traces_url: str = ""  # likewise traces_url (the hub links the service's error traces)
    llm_cost_per_hour_usd: Decimal = Decimal(50)
    service_image: str = ""
    receivers: ReceiverOptions = field(default_factory=ReceiverOptions)
    profile: Profile = DEFAULT_PROFILE
    traces_backend: str = "tempo"  # or "jaeger" (see _traces.py)
    k8s_format: str = "kustomize"  # or "helm": the chart beside the plain manifests
    settings: OpsSettings = field(default_factory=OpsSettings)  # agentwatch-ops.yaml

    def __post_init__(self) -> None:
        from ._traces import traces_backend

        traces_backend(self.traces_backend)
        if self.k8s_format not in K8S_FORMATS:
            raise ConfigurationError("k8s_format", self.k8s_format, " or ".join(K8S_FORMATS))
        if not self.service or not all(c.isalnum() or c in "-_." for c in self.service):
            raise ConfigurationError("service", self.service, "letters, digits, '-', '_', '.'")
        if not self.service_targets:
            raise ConfigurationError("service_targets", self.service_targets, "host:port targets")
        for name in self.dependencies:
            if name not in DEPENDENCIES:
                raise ConfigurationError("dependencies", name, " or ".join(DEPENDENCIES))

    @property
    def alertmanager_webhook_url(self) -> str:
        """Where Alertmanager posts: the hub's Alertmanager intake."""
        return self.alert_webhook_url or f"{self.hub_url.rstrip('/')}/api/v1/alerts/alertmanager"

    @property
    def grafana_webhook_url(self) -> str:
        """Where Grafana's contact point posts: the hub's Grafana intake."""
        return f"{self.hub_url.rstrip('/')}/api/v1/alerts/grafana"

    @property
    def image(self) -> str:
        return self.service_image or f"{self.service}:0.1.0"


def load_pack_files(options: GenerateOptions) -> tuple[PackFile, ...]:
    """Define the pack files the options name: shipped ones in ``packs``, then ``pack_files``."""
    shipped = set(shipped_packs())
    named = [pack for pack in options.packs or () if pack in shipped and pack not in PACKS]
    return load_packs([*named, *options.pack_files])


def resolve_packs(
    packs: tuple[str, ...] | None, files: tuple[PackFile, ...] = ()
) -> tuple[str, ...]:
    """The packs to generate for, in catalog order; ``None`` means every pack (and host).

    Every pack is every built-in and business pack; pack files count only when chosen:
    ``files`` (given by path, always chosen) or named in ``packs``.
    """
    known = (*PACKS, HOST_PACK)
    if packs is None:
        mine = {file.pack for file in files}
        return tuple(p for p in known if pack_file(p) is None or p in mine)
    for pack in packs:
        if pack not in known:
            choices = sorted({*known, *shipped_packs()})
            raise ConfigurationError("packs", pack, "one of " + ", ".join(choices))
    chosen = set(packs) | {"agentwatch"} | {file.pack for file in files}
    return tuple(p for p in known if p in chosen)
