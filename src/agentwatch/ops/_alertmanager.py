"""alertmanager/alertmanager.yml: routes by severity, inhibitions, receivers.

Every alert reaches the hub's alert intake (webhook receiver ``hub``, ``continue: true``);
critical alerts also go to Slack, e-mail and PagerDuty, warnings to Slack; info alerts go
to the webhook only. Critical inhibits warning for the same alert, service and SLO; a
page-level SLO alert inhibits the ticket-level one for the same SLO and service.

Secrets are file references (``*_file``) under ``ReceiverOptions.secrets_dir``; the
deployment mounts them (compose secrets, Kubernetes secrets). No secret is written here.
"""

from __future__ import annotations

from ._options import GenerateOptions

__all__ = ["HUB_RECEIVER", "alertmanager_config"]

HUB_RECEIVER = "hub"


def _secret(options: GenerateOptions, name: str) -> str:
    return f"{options.receivers.secrets_dir.rstrip('/')}/{name}"


def _route(options: GenerateOptions) -> dict[str, object]:
    profile = options.profile
    return {
        "receiver": HUB_RECEIVER,
        "group_by": ["alertname", "cluster", "service"],
        "group_wait": profile.group_wait,
        "group_interval": profile.group_interval,
        "repeat_interval": profile.repeat_interval,
        "routes": [
            {"receiver": HUB_RECEIVER, "continue": True},
            {"receiver": "critical", "matchers": ['severity="critical"']},
            {"receiver": "warning", "matchers": ['severity="warning"']},
        ],
    }


def _slack(channel: str) -> dict[str, object]:
    return {
        "channel": channel,
        "send_resolved": True,
        "title": "{{ .Status | toUpper }} {{ .CommonLabels.alertname }} ({{ .CommonLabels.service }})",
        "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.runbook_url }}\n{{ end }}",
    }


def _receivers(options: GenerateOptions) -> list[dict[str, object]]:
    r = options.receivers
    return [
        {
            "name": HUB_RECEIVER,
            "webhook_configs": [{"url": options.alert_webhook_url, "send_resolved": True}],
        },
        {
            "name": "critical",
            "slack_configs": [_slack(r.slack_channel_critical)],
            "email_configs": [{"to": r.email_to, "send_resolved": True}],
            "pagerduty_configs": [
                {
                    "routing_key_file": _secret(options, "pagerduty_routing_key"),
                    "severity": "critical",
                    "description": "{{ .CommonAnnotations.summary }}",
                    "links": [{"href": "{{ .CommonAnnotations.runbook_url }}", "text": "Runbook"}],
                }
            ],
        },
        {"name": "warning", "slack_configs": [_slack(r.slack_channel_warning)]},
    ]


def alertmanager_config(options: GenerateOptions) -> dict[str, object]:
    r = options.receivers
    return {
        "global": {
            "resolve_timeout": "5m",
            "smtp_smarthost": r.smtp_smarthost,
            "smtp_from": r.smtp_from,
            "smtp_auth_username": r.smtp_username,
            "smtp_auth_password_file": _secret(options, "smtp_password"),
            "smtp_require_tls": True,
            "slack_api_url_file": _secret(options, "slack_webhook_url"),
        },
        "route": _route(options),
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["alertname", "service", "slo"],
            },
            {
                "source_matchers": ['urgency="page"'],
                "target_matchers": ['urgency="ticket"'],
                "equal": ["slo", "service"],
            },
        ],
        "receivers": _receivers(options),
    }
