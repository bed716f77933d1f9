"""Grafana's alerting provisioning: one contact point, the hub, signed with HMAC.

``grafana/provisioning/alerting/hub.yml`` provisions the contact point ``agentwatch-hub``
(a webhook to the hub's ``/api/v1/alerts/grafana``, HMAC-SHA256 over timestamp and body,
the secret read by Grafana from a file with ``$__file{...}``) and a notification policy
sending every Grafana alert to it, resolves included. :func:`alerting_problems` checks
that shape (``ops validate``) and that it agrees with ``hub/hub.yaml``'s intake.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ._options import GenerateOptions
from ._routing import SECRET_FILES

__all__ = [
    "ALERTING_FILE",
    "CONTACT_POINT",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "alerting_problems",
    "contact_points",
]

ALERTING_FILE = "grafana/provisioning/alerting/hub.yml"
CONTACT_POINT = "agentwatch-hub"
SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"  # the hub's intake defaults
TIMESTAMP_HEADER = "X-Grafana-Alerting-Timestamp"
_FILE_REF = re.compile(r"\$__file\{([^}]+)\}")


def contact_points(options: GenerateOptions) -> dict[str, Any]:
    secret = f"{options.secrets_mount.rstrip('/')}/{SECRET_FILES['grafana_hmac']}"
    return {
        "apiVersion": 1,
        "contactPoints": [
            {
                "orgId": 1,
                "name": CONTACT_POINT,
                "receivers": [
                    {
                        "uid": CONTACT_POINT,
                        "type": "webhook",
                        "disableResolveMessage": False,
                        "settings": {
                            "url": options.grafana_webhook_url,
                            "httpMethod": "POST",
                            "hmacConfig": {
                                "secret": f"$__file{{{secret}}}",
                                "header": SIGNATURE_HEADER,
                                "timestampHeader": TIMESTAMP_HEADER,
                            },
                        },
                    }
                ],
            }
        ],
        "policies": [
            {
                "orgId": 1,
                "receiver": CONTACT_POINT,
                "group_by": ["grafana_folder", "alertname"],
            }
        ],
    }


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None


def _receiver_problems(where: str, receiver: Any, hub_secret: str | None) -> list[str]:
    if not isinstance(receiver, dict):
        return [f"{where}: expected a mapping"]
    problems = [f"{where}.{key}: missing" for key in ("uid", "type") if not receiver.get(key)]
    settings = receiver.get("settings") or {}
    if receiver.get("type") != "webhook":
        return [*problems, f"{where}.type: {receiver.get('type')!r}, expected 'webhook'"]
    if not str(settings.get("url", "")).endswith("/api/v1/alerts/grafana"):
        problems.append(f"{where}.settings.url: {settings.get('url')!r} is not the hub's intake")
    hmac = settings.get("hmacConfig") or {}
    match = _FILE_REF.fullmatch(str(hmac.get("secret", "")))
    if match is None:
        problems.append(f"{where}.settings.hmacConfig.secret: expected $__file{{PATH}}")
    elif hub_secret is not None and Path(match.group(1)).name != Path(hub_secret).name:
        problems.append(
            f"{where}.settings.hmacConfig.secret: file {match.group(1)} is not the hub's "
            f"intake.grafana_hmac_secret_file {hub_secret}"
        )
    for key, expected in (("header", SIGNATURE_HEADER), ("timestampHeader", TIMESTAMP_HEADER)):
        if hmac.get(key) != expected:
            problems.append(
                f"{where}.settings.hmacConfig.{key}: {hmac.get(key)!r}, the hub reads {expected}"
            )
    return problems


def alerting_problems(root: Path) -> list[str]:
    """Problems with the Grafana contact point provisioning, one line each."""
    config = _load(root / ALERTING_FILE)
    if not isinstance(config, dict):
        return [f"{ALERTING_FILE}: missing or not a mapping"]
    problems = [] if config.get("apiVersion") == 1 else [f"{ALERTING_FILE}: apiVersion must be 1"]
    hub = _load(root / "hub" / "hub.yaml") or {}
    hub_secret = (hub.get("intake") or {}).get("grafana_hmac_secret_file")
    names = set()
    for index, point in enumerate(config.get("contactPoints") or ()):
        where = f"{ALERTING_FILE}: contactPoints[{index}]"
        names.add(point.get("name"))
        receivers = point.get("receivers") or ()
        if not receivers:
            problems.append(f"{where}.receivers: empty")
        for number, receiver in enumerate(receivers):
            problems += _receiver_problems(f"{where}.receivers[{number}]", receiver, hub_secret)
    if not names:
        problems.append(f"{ALERTING_FILE}: contactPoints: none")
    for index, policy in enumerate(config.get("policies") or ()):
        if policy.get("receiver") not in names:
            problems.append(
                f"{ALERTING_FILE}: policies[{index}].receiver: {policy.get('receiver')!r} "
                "is not a contact point of the file"
            )
    return problems
