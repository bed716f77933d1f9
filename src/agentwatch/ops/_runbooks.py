"""runbooks/<Alert>.md: description, impact, diagnosis with the exact queries, resolution,
escalation, one file per alert name (tiers and SLOs of one name share it)."""

from __future__ import annotations

from ._rules import LABEL_REF, AlertRule

__all__ = ["runbooks"]

_ESCALATION = {
    "critical": "Page the on-call engineer (PagerDuty). If not mitigated within 30 minutes, "
    "escalate to the service owner and open an incident on the status page.",
    "warning": "Handle within the working day; the on-call engineer owns it. Escalate to "
    "critical handling if it keeps firing for more than 4 hours or users report impact.",
    "info": "No escalation: look at it at the next working session.",
}


def _fill(text: str, service: str) -> str:
    return LABEL_REF.sub(lambda m: service if m.group(1) == "service" else f"<{m.group(1)}>", text)


def _runbook(name: str, rules: list[AlertRule], service: str) -> str:
    first = rules[0]
    lines = [f"# {name}", "", "## Description", ""]
    for rule in rules:
        labels = ", ".join(f"{k}={v}" for k, v in rule.all_labels().items())
        lines += [
            f"- **{labels}**: {rule.description}",
            "",
            "  ```promql",
            *(f"  {line}" for line in rule.expr.strip().splitlines()),
            "  ```",
            "",
        ]
    lines += ["## Impact", "", first.impact, "", "## Diagnosis", ""]
    seen: set[str] = set()
    for rule in rules:
        for what, query in rule.diagnosis:
            if query not in seen:
                seen.add(query)
                lines += [f"- {what}:", "", "  ```promql", f"  {query}", "  ```", ""]
    lines += ["## Resolution", "", *(f"1. {step}" for step in first.resolution), ""]
    lines += ["## Escalation", ""]
    for severity in dict.fromkeys(rule.severity for rule in rules):
        lines += [f"- {severity}: {_ESCALATION.get(severity, _ESCALATION['warning'])}"]
    return "\n".join(lines) + "\n"


def runbooks(rules: list[AlertRule], service: str) -> dict[str, str]:
    """``{"<Alert>.md": markdown}`` for every alert name."""
    by_name: dict[str, list[AlertRule]] = {}
    for rule in rules:
        by_name.setdefault(rule.name, []).append(rule)
    index = ["# Runbooks", "", "| alert | severity | summary |", "|---|---|---|"]
    files = {}
    for name, group in sorted(by_name.items()):
        files[f"{name}.md"] = _runbook(name, group, service)
        severities = "/".join(dict.fromkeys(r.severity for r in group))
        index.append(f"| [{name}]({name}.md) | {severities} | {_fill(group[0].summary, service)} |")
    files["README.md"] = "\n".join(index) + "\n"
    return files
