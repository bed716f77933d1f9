"""``agentwatch ops generate --out DIR`` and ``agentwatch ops validate DIR``.

The hub's e-mail channel comes from the environment (``AGENTWATCH_ALERT_SMTP_FROM``,
``AGENTWATCH_ALERT_EMAIL_TO``, ``AGENTWATCH_ALERT_SMTP_SMARTHOST``, ... see
:class:`ReceiverOptions`); secrets are never taken as arguments or written to files.
"""

from __future__ import annotations

import argparse
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError, ValidationFailedError
from ._generate import generate
from ._options import (
    DEFAULT_INFRA_TARGETS,
    K8S_FORMATS,
    PROFILES,
    GenerateOptions,
    ReceiverOptions,
)
from ._thresholds import DEFAULT_SETTINGS_FILE, OpsSettings, load_ops_settings
from ._traces import TRACES_BACKENDS
from ._validate import validate

__all__ = ["options_from_args", "register"]


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for value in values or () for v in value.split(",") if v.strip())


def _infra(args: argparse.Namespace) -> dict[str, tuple[str, ...]]:
    if args.no_infra:
        return {}
    if not args.infra_target:
        return dict(DEFAULT_INFRA_TARGETS)
    jobs: dict[str, tuple[str, ...]] = {}
    for item in args.infra_target:
        job, sep, target = item.partition("=")
        if not sep or not job or not target:
            raise ConfigurationError("--infra-target", item, "JOB=HOST:PORT")
        jobs[job] = (*jobs.get(job, ()), target)
    return jobs


def options_from_args(args: argparse.Namespace, environ: dict[str, str]) -> GenerateOptions:
    """GenerateOptions from parsed ``ops generate`` arguments and the environment."""
    try:
        cost = Decimal(args.llm_cost_per_hour)
    except ArithmeticError:
        raise ConfigurationError(
            "--llm-cost-per-hour", args.llm_cost_per_hour, "a number"
        ) from None
    return GenerateOptions(
        service=args.service,
        service_targets=_split(args.target) or ("host.docker.internal:8000",),
        metrics_path=args.metrics_path,
        packs=_split([args.packs]) if args.packs else None,
        pack_files=tuple(Path(path) for path in args.pack_file or ()),
        slo_file=Path(args.slo_file) if args.slo_file else None,
        cluster=args.cluster,
        hub_targets=() if args.no_hub else (_split(args.hub_target) or ("hub:8787",)),
        infra_targets=_infra(args),
        alertmanager_targets=_split(args.alertmanager) or ("alertmanager:9093",),
        hub_url=args.hub_url,
        hub_public_url=args.hub_public_url,
        alert_webhook_url=args.alert_webhook_url,
        secrets_mount=args.secrets_mount,
        dependencies=_dependencies(args.dependency),
        runbook_url_base=args.runbook_url_base,
        dashboard_url=args.dashboard_url,
        llm_cost_per_hour_usd=cost,
        service_image=args.image,
        receivers=ReceiverOptions.from_env(environ),
        profile=PROFILES[args.profile],
        traces_backend=args.traces_backend,
        k8s_format=args.k8s_format,
        settings=_settings(args.settings),
    )


def _dependencies(values: list[str] | None) -> tuple[str, ...]:
    """``--dependency postgres,redis`` (the default), ``--dependency none`` for none."""
    if values is None:
        return GenerateOptions().dependencies
    return tuple(name for name in _split(values) if name != "none")


def _settings(path: str | None) -> OpsSettings:
    """``--settings FILE``, else ./agentwatch-ops.yaml when it exists, else the defaults."""
    if path is None:
        path = DEFAULT_SETTINGS_FILE if Path(DEFAULT_SETTINGS_FILE).is_file() else None
    return load_ops_settings(path) if path else OpsSettings()


def _generate(args: argparse.Namespace) -> int:
    written = generate(args.out, options_from_args(args, dict(os.environ)))
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    try:
        report = validate(args.folder)
    except ValidationFailedError as exc:
        print(f"agentwatch ops validate: {exc}")
        return 1
    for check, outcome in report.checks.items():
        print(f"{check}: {outcome}")
    return 0


def _add_generate(ops: Any) -> None:
    defaults = GenerateOptions()
    p = ops.add_parser("generate", help="write the operations folder from the metric catalog")
    p.add_argument("--out", required=True, help="folder to write (replaced atomically)")
    p.add_argument("--service", default=defaults.service, help="service name (label service)")
    p.add_argument("--target", action="append", help="service HOST:PORT to scrape (repeat)")
    p.add_argument("--metrics-path", default=defaults.metrics_path)
    p.add_argument(
        "--packs",
        help="comma-separated packs the service uses, built-in or shipped (rag, business, ...; default: all built-in)",
    )
    p.add_argument(
        "--pack-file",
        action="append",
        help="YAML pack file: metrics, dashboard, alerts (repeat; its pack is chosen)",
    )
    p.add_argument(
        "--settings",
        help="ops settings file: alert thresholds, retention (default ./agentwatch-ops.yaml)",
    )
    p.add_argument("--slo-file", help="YAML file of SLOs (see agentwatch.ops.SloSpec)")
    p.add_argument("--cluster", default=defaults.cluster, help="external label cluster")
    p.add_argument("--hub-target", action="append", help="hub HOST:PORT (default hub:8787)")
    p.add_argument("--no-hub", action="store_true", help="do not scrape the hub")
    p.add_argument("--infra-target", action="append", help="JOB=HOST:PORT (replaces defaults)")
    p.add_argument("--no-infra", action="store_true", help="no exporter/collector jobs")
    p.add_argument("--alertmanager", action="append", help="Alertmanager HOST:PORT")
    p.add_argument(
        "--hub-url",
        default=defaults.hub_url,
        help="the hub as Alertmanager and Grafana reach it (their webhooks post there)",
    )
    p.add_argument(
        "--hub-public-url",
        default=defaults.hub_public_url,
        help="the hub as people reach it (links in notifications)",
    )
    p.add_argument(
        "--alert-webhook-url",
        default=defaults.alert_webhook_url,
        help="Alertmanager's webhook URL (default: HUB_URL/api/v1/alerts/alertmanager)",
    )
    p.add_argument(
        "--secrets-mount",
        default=defaults.secrets_mount,
        help="folder where the hub and Grafana read their secret files",
    )
    p.add_argument(
        "--dependency",
        action="append",
        help="what the hub monitors beside the service: postgres, redis (default both; none)",
    )
    p.add_argument("--runbook-url-base", default=defaults.runbook_url_base)
    p.add_argument(
        "--dashboard-url", default="", help="dashboard_url annotation of every alert (none)"
    )
    p.add_argument("--llm-cost-per-hour", default=str(defaults.llm_cost_per_hour_usd))
    p.add_argument("--image", default="", help="service image for k8s (default SERVICE:0.1.0)")
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="default",
        help="timings; 'test' compresses minutes to seconds",
    )
    p.add_argument(
        "--traces-backend",
        choices=sorted(TRACES_BACKENDS),
        default=defaults.traces_backend,
        help="where the Collector sends traces and Grafana reads them",
    )
    p.add_argument(
        "--k8s-format",
        choices=K8S_FORMATS,
        default=defaults.k8s_format,
        help="k8s/ manifests with a kustomization.yaml, or a Helm chart in helm/ beside them",
    )
    p.set_defaults(func=_generate)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("ops", help="generate and validate the operations folder")
    ops = parser.add_subparsers(dest="ops_command", metavar="SUBCOMMAND", required=True)
    _add_generate(ops)
    v = ops.add_parser("validate", help="check a generated folder with promtool and amtool")
    v.add_argument("folder")
    v.set_defaults(func=_validate)
