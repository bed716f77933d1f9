"""Reading intake bodies: Alertmanager's webhook v4, Grafana's webhook, the generic shape.

Every problem is a 400 naming the field (``alerts[2].labels.severity: 5 is not a string``),
raised before anything is stored. The generic body is one alert, a list of them, or
``{"alerts": [...]}``; an alert is::

    {"labels": {"alertname": "DiskFull", "service": "db", "severity": "warning"},
     "annotations": {"summary": "...", "runbook_url": "..."},
     "status": "firing",                  # or "resolved"; default: firing unless endsAt passed
     "startsAt": "2026-01-01T00:00:00Z", "endsAt": null, "generatorURL": "...",
     "traceId": "4bf92f3577b34da6a3ce929d0e0e4736"}

(``starts_at``, ``ends_at`` and ``generator_url`` are taken too); any other key of a
generic alert is a 400 naming it, and ``endsAt`` before ``startsAt`` is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..web import ApiError
from .model import FIRING, RESOLVED, IncomingAlert

__all__ = ["MAX_ALERTS", "alertmanager_alerts", "generic_alerts", "grafana_alerts"]

MAX_ALERTS = 10_000
MAX_LABELS = 100
MAX_VALUE = 16_384
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_TRACE_KEYS = ("trace_id", "traceId", "traceID", "exemplar_trace_id")
GENERIC_KEYS = (
    "labels",
    "annotations",
    "status",
    "startsAt",
    "starts_at",
    "endsAt",
    "ends_at",
    "generatorURL",
    "generator_url",
    "fingerprint",
    *_TRACE_KEYS,
)


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, f"{field}: {message}", field=field)


def _strings(data: Mapping[str, Any], key: str, where: str, *, labels: bool) -> dict[str, str]:
    value = data.get(key)
    field = _path(where, key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(
            field, f"a JSON {type(value).__name__} is not valid: expected an object of strings"
        )
    if len(value) > MAX_LABELS and labels:
        raise _bad(field, f"{len(value)} labels is over the limit of {MAX_LABELS}")
    out: dict[str, str] = {}
    for name, item in value.items():
        if labels and not _LABEL.fullmatch(name):
            raise _bad(f"{field}.{name}", "is not a label name: letters, digits and _")
        if not isinstance(item, str):
            raise _bad(f"{field}.{name}", f"{item!r} is not a string")
        if len(item) > MAX_VALUE:
            raise _bad(f"{field}.{name}", f"is longer than {MAX_VALUE} characters")
        out[name] = item
    return out


def _time(data: Mapping[str, Any], keys: tuple[str, ...], where: str) -> float | None:
    for key in keys:
        value = data.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise _bad(_path(where, key), f"{value!r} is not valid: expected an RFC 3339 time")
        try:
            ts = datetime.fromisoformat(value).timestamp()
        except ValueError:
            raise _bad(
                _path(where, key), f"{value!r} is not valid: expected an RFC 3339 time"
            ) from None
        return ts if ts > 0 else None  # Go's zero time means "not set"
    return None


def _trace_id(*maps: Mapping[str, Any]) -> str | None:
    for data in maps:
        for key in _TRACE_KEYS:
            value = data.get(key)
            if isinstance(value, str) and _TRACE_ID.fullmatch(value.lower()):
                return value.lower()
    return None


def _status(data: Mapping[str, Any], where: str, default: str | None) -> str:
    value = data.get("status", default)
    if value not in (FIRING, RESOLVED):
        raise _bad(_path(where, "status"), f"{value!r} is not valid: expected firing or resolved")
    return str(value)


def _alert_list(body: Any, key: str = "alerts") -> list[Any]:
    if not isinstance(body, Mapping):
        raise ApiError(400, f"request body is a JSON {type(body).__name__}: expected an object")
    alerts = body.get(key)
    if not isinstance(alerts, list):
        raise _bad(key, "is required: a list of alerts")
    if len(alerts) > MAX_ALERTS:
        raise _bad(key, f"{len(alerts)} alerts is over the limit of {MAX_ALERTS} per request")
    return alerts


def _common(item: Any, where: str, source: str, status_default: str | None) -> IncomingAlert:
    if not isinstance(item, Mapping):
        raise _bad(
            where or "body", f"a JSON {type(item).__name__} is not valid: expected an object"
        )
    labels = _strings(item, "labels", where, labels=True)
    if not labels:
        raise _bad(_path(where, "labels"), "is required: at least one label (alertname)")
    annotations = _strings(item, "annotations", where, labels=False)
    generator = item.get("generatorURL") or item.get("generator_url") or ""
    if not isinstance(generator, str):
        raise _bad(_path(where, "generatorURL"), f"{generator!r} is not a string")
    return IncomingAlert(
        labels=labels,
        status=_status(item, where, status_default),
        source=source,
        annotations=annotations,
        starts_at=_time(item, ("startsAt", "starts_at"), where),
        ends_at=_time(item, ("endsAt", "ends_at"), where),
        generator_url=generator,
        trace_id=_trace_id(annotations, labels, item),
    )


def alertmanager_alerts(body: Any) -> list[IncomingAlert]:
    """The alerts of an Alertmanager webhook (version 4) body."""
    if isinstance(body, Mapping) and body.get("version") not in (None, "4"):
        raise _bad("version", f'{body.get("version")!r} is not supported: expected "4"')
    return [
        _common(item, f"alerts[{i}]", "alertmanager", None)
        for i, item in enumerate(_alert_list(body))
    ]


def grafana_alerts(body: Any) -> list[IncomingAlert]:
    """The alerts of a Grafana webhook body; its dashboard and panel URLs become links."""
    out = []
    for index, item in enumerate(_alert_list(body)):
        alert = _common(item, f"alerts[{index}]", "grafana", None)
        links = {
            name: item[key]
            for name, key in (("dashboard", "dashboardURL"), ("panel", "panelURL"))
            if isinstance(item.get(key), str) and item[key]
        }
        out.append(IncomingAlert(**{**_fields(alert), "links": links}) if links else alert)
    return out


def _fields(alert: IncomingAlert) -> dict[str, Any]:
    return {name: getattr(alert, name) for name in alert.__dataclass_fields__}


def _known_keys(item: Any, where: str) -> None:
    """The generic shape is ours: a key it does not know (``annotation``) is a typo, not
    something to drop silently."""
    if not isinstance(item, Mapping):
        return
    for key in item:
        if key not in GENERIC_KEYS:
            raise _bad(
                _path(where, str(key)),
                f"unknown key; accepted here: {', '.join(GENERIC_KEYS)}",
            )


def generic_alerts(body: Any, now: float) -> list[IncomingAlert]:
    """One alert, a list of alerts, or ``{"alerts": [...]}``; ``alertname`` is required."""
    if isinstance(body, list):
        items, prefix = body, "alerts"
        if len(items) > MAX_ALERTS:
            raise _bad("alerts", f"{len(items)} alerts is over the limit of {MAX_ALERTS}")
    elif isinstance(body, Mapping) and "alerts" in body:
        items, prefix = _alert_list(body), "alerts"
    else:
        items, prefix = [body], ""
    out = []
    for index, item in enumerate(items):
        where = f"{prefix}[{index}]" if prefix else ""
        _known_keys(item, where)
        alert = _common(item, where, "generic", FIRING)
        if alert.starts_at and alert.ends_at and alert.ends_at < alert.starts_at:
            raise _bad(_path(where, "endsAt"), "is before startsAt: expected a later time")
        field = _path(where, "labels.alertname")
        if not alert.labels.get("alertname"):
            raise _bad(field, "is required")
        trace = alert.trace_id or _trace_id(item)
        explicit = isinstance(item, Mapping) and "status" in item
        if not explicit and alert.ends_at is not None and alert.ends_at <= now:
            alert = IncomingAlert(**{**_fields(alert), "status": RESOLVED})
        out.append(IncomingAlert(**{**_fields(alert), "trace_id": trace}))
    return out
