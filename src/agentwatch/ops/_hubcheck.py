"""``ops validate``'s hub checks: ``hub/hub.yaml`` through the hub's own config check, and
the wiring of Alertmanager's receivers to the hub's intake.

:func:`hub_file_problems` runs the code behind ``agentwatch hub check`` with secret files
named but not opened (they exist where the hub runs, not here). :func:`wiring_problems`
checks that every Alertmanager receiver posts to the hub's Alertmanager intake with the
intake token file the hub reads, and that the hub routes each severity Alertmanager does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["HUB_FILE", "hub_file_problems", "wiring_problems"]

HUB_FILE = "hub/hub.yaml"
AM_FILE = "alertmanager/alertmanager.yml"
INTAKE_PATH = "/api/v1/alerts/alertmanager"


def hub_file_problems(root: Path) -> list[str]:
    """What ``agentwatch hub check`` says of ``hub/hub.yaml`` (secret files not read)."""
    path = root / HUB_FILE
    if not path.is_file():
        return [f"{HUB_FILE}: missing"]
    try:
        from ..hub.config import HubConfigError
        from ..hub.configfile import check_config
    except ImportError as exc:
        return [
            f"{HUB_FILE}: the hub check needs the hub extra: pip install 'agentwatch[hub]' ({exc})"
        ]
    try:
        check_config(path, read_secrets=False)
    except HubConfigError as exc:
        return [str(problem) for problem in exc.problems]
    return []


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}


def _webhook_problems(receiver: dict[str, Any], token_file: str | None) -> list[str]:
    name = receiver.get("name")
    problems = []
    other = sorted(k for k in receiver if k.endswith("_configs") and k != "webhook_configs")
    if other:
        problems.append(f"{AM_FILE}: receiver {name} notifies directly ({', '.join(other)})")
    for hook in receiver.get("webhook_configs") or ():
        if not str(hook.get("url", "")).endswith(INTAKE_PATH):
            problems.append(
                f"{AM_FILE}: receiver {name} posts to {hook.get('url')!r}, not {INTAKE_PATH}"
            )
        auth = (hook.get("http_config") or {}).get("authorization") or {}
        given = auth.get("credentials_file")
        if not given:
            problems.append(
                f"{AM_FILE}: receiver {name}: no http_config.authorization.credentials_file"
            )
        elif token_file and Path(given).name != Path(token_file).name:
            problems.append(
                f"{AM_FILE}: receiver {name} sends token file {given}, the hub reads {token_file}"
            )
    return problems


def _severities(route: dict[str, Any]) -> set[str]:
    found = set()
    for child in route.get("routes") or ():
        for matcher in child.get("matchers") or ():
            label, _, value = str(matcher).partition("=")
            if label.strip() == "severity":
                found.add(value.strip().strip('"'))
        found |= _severities(child)
    return found


def wiring_problems(root: Path) -> list[str]:
    """Alertmanager → hub: the intake URL, the token file, the severities routed."""
    am, hub = _load(root / AM_FILE), _load(root / HUB_FILE)
    token_file = (hub.get("intake") or {}).get("token_file")
    if not token_file:
        return [f"{HUB_FILE}: intake.token_file missing (Alertmanager's bearer token)"]
    problems = []
    for receiver in am.get("receivers") or ():
        problems += _webhook_problems(receiver, token_file)
    routed = {
        str((route.get("match") or {}).get("severity"))
        for route in (hub.get("notifications") or {}).get("routes") or ()
    }
    for severity in sorted(_severities(am.get("route") or {}) - routed):
        problems.append(f"{HUB_FILE}: no notifications route for severity {severity}")
    return problems
