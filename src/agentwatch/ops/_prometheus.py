"""prometheus/prometheus.yml: scrape jobs, rule files, Alertmanager.

The service's targets carry a ``service`` label (rules and dashboards select on it); the
service is scraped every 5 s, everything else at the global interval. ``cluster`` is an
external label, so alerts reach Alertmanager grouped by it.
"""

from __future__ import annotations

from ._options import GenerateOptions

__all__ = ["RULE_FILES", "prometheus_config"]

RULE_FILES = ("rules/alerts.yml", "rules/slo.yml")
HUB_SERVICE = "agentwatch-hub"


def _job(name: str, targets: tuple[str, ...], **extra: object) -> dict[str, object]:
    labels = extra.pop("labels", None)
    static: dict[str, object] = {"targets": list(targets)}
    if labels:
        static["labels"] = labels
    return {"job_name": name, **extra, "static_configs": [static]}


def prometheus_config(options: GenerateOptions) -> dict[str, object]:
    profile = options.profile
    jobs = [
        _job(
            options.service,
            options.service_targets,
            scrape_interval=profile.service_scrape_interval,
            metrics_path=options.metrics_path,
            labels={"service": options.service},
        ),
    ]
    if options.hub_targets:
        jobs.append(_job(HUB_SERVICE, options.hub_targets, labels={"service": HUB_SERVICE}))
    jobs += [_job(name, targets) for name, targets in options.infra_targets.items() if targets]
    return {
        "global": {
            "scrape_interval": profile.scrape_interval,
            "evaluation_interval": profile.evaluation_interval,
            "external_labels": {"cluster": options.cluster},
        },
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": list(options.alertmanager_targets)}]}]
        },
        "rule_files": list(RULE_FILES),
        "scrape_configs": jobs,
    }
