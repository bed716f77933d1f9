"""alertmanager/alertmanager.yml: every alert to the hub's intake, routed by severity.

Alertmanager groups, inhibits and posts; the hub delivers (``_routing.py`` holds the one
severity table both use). Each severity of the table has its own route and receiver
(``hub-critical``, ``hub-warning``; ``hub`` for the rest), every receiver a webhook to the
hub's ``/api/v1/alerts/alertmanager`` with the intake token as bearer
(``http_config.authorization.credentials_file``). Critical inhibits warning for the same
alert, service and SLO; a page-level SLO alert inhibits the ticket-level one.

The token file is under ``ReceiverOptions.secrets_dir``; no secret is written here.
"""

from __future__ import annotations

from ._options import GenerateOptions
from ._routing import INHIBIT_RULES, SECRET_FILES, SEVERITY_ROUTES, receiver_name

__all__ = ["HUB_RECEIVER", "alertmanager_config", "intake_token_file"]

HUB_RECEIVER = receiver_name(None)


def intake_token_file(options: GenerateOptions) -> str:
    """Where Alertmanager reads the hub's intake token."""
    return f"{options.receivers.secrets_dir.rstrip('/')}/{SECRET_FILES['intake_token']}"


def _route(options: GenerateOptions) -> dict[str, object]:
    profile = options.profile
    return {
        "receiver": HUB_RECEIVER,
        "group_by": ["alertname", "cluster", "service"],
        "group_wait": profile.group_wait,
        "group_interval": profile.group_interval,
        "repeat_interval": profile.repeat_interval,
        "routes": [
            {"receiver": receiver_name(row.severity), "matchers": [f'severity="{row.severity}"']}
            for row in SEVERITY_ROUTES
        ],
    }


def _hub_receiver(name: str, options: GenerateOptions) -> dict[str, object]:
    return {
        "name": name,
        "webhook_configs": [
            {
                "url": options.alertmanager_webhook_url,
                "send_resolved": True,
                "http_config": {
                    "authorization": {
                        "type": "Bearer",
                        "credentials_file": intake_token_file(options),
                    }
                },
            }
        ],
    }


def alertmanager_config(options: GenerateOptions) -> dict[str, object]:
    names = [HUB_RECEIVER, *(receiver_name(row.severity) for row in SEVERITY_ROUTES)]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": _route(options),
        "inhibit_rules": [
            {
                "source_matchers": [f'{rule.source[0]}="{rule.source[1]}"'],
                "target_matchers": [f'{rule.target[0]}="{rule.target[1]}"'],
                "equal": list(rule.equal),
            }
            for rule in INHIBIT_RULES
        ],
        "receivers": [_hub_receiver(name, options) for name in names],
    }
