"""The alert → workflow path: ``POST /webhooks/alerts`` runs the ``alert_notifier`` workflow.

The hub's ``webhook`` channel (or Grafana's webhook contact point, or Alertmanager's)
posts alerts here; each alert becomes one run of ``alert_notifier`` — an agent writes the
alert up with the LLM (falling back to the second provider when the first is the one
failing) and posts it to the incident log — through the background job queue, with
``trigger="webhook"``. The answer is 202 with the run ids.

Bodies accepted: an ``alerts`` list (Alertmanager webhook v4, Grafana, the hub) or one
alert object (``labels``, ``annotations``, ``status``). With a signing secret
(``DEMO_NOTIFIER_SECRET_FILE``), a request whose signature does not verify gets 401. A
repeat of a request with the same ``X-Agentwatch-Idempotency-Key`` (a sender retrying a
delivery it could not record) answers 200 with the runs of the first and starts none.

``GET /webhooks/alerts`` lists the last deliveries it accepted, newest last: when, the
body's shape (``grafana``, ``alertmanager`` or ``agentwatch``, see :func:`shape_of`),
each alert's name and status, and the runs started — what the demo's test reads.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

__all__ = ["AlertNotice", "Delivery", "add_notifier_route", "notices_of", "shape_of", "signed_by"]

WORKFLOW = "alert_notifier"
IDEMPOTENCY_HEADER = "X-Agentwatch-Idempotency-Key"
Verify = Callable[[Mapping[str, str], bytes], bool]
Submit = Callable[[str, str], Any]  # (workflow, input text) -> awaitable run id


class AlertNotice(NamedTuple):
    """What the notifier needs of one alert."""

    status: str
    name: str
    severity: str
    service: str
    summary: str

    def text(self) -> str:
        return (
            f"[{self.status}] {self.name} ({self.severity}) on {self.service or 'unknown service'}: "
            f"{self.summary}"
        )


def _notice(alert: Mapping[str, Any], status: str) -> AlertNotice:
    labels = alert.get("labels") or {}
    annotations = alert.get("annotations") or {}
    return AlertNotice(
        status=str(alert.get("status") or status or "firing"),
        name=str(labels.get("alertname") or alert.get("title") or "alert"),
        severity=str(labels.get("severity", "")),
        service=str(labels.get("service", "")),
        summary=str(annotations.get("summary") or alert.get("message") or ""),
    )


def notices_of(payload: Any) -> list[AlertNotice]:
    """The alerts of a webhook body; ValueError when it holds none."""
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    alerts = payload.get("alerts")
    items = alerts if isinstance(alerts, list) else [payload]
    notices = [
        _notice(item, str(payload.get("status", ""))) for item in items if isinstance(item, dict)
    ]
    if not notices or not any(item.get("labels") for item in items if isinstance(item, dict)):
        raise ValueError("no alert with labels in the body")
    return notices


def shape_of(payload: Mapping[str, Any]) -> str:
    """Which sender's format a webhook body has: Grafana's contact point (``orgId``,
    ``state``), Alertmanager's version 4, or the hub's own (``agentwatch``)."""
    if "orgId" in payload or "state" in payload:
        return "grafana"
    if payload.get("version") == "4":
        return "alertmanager"
    return "agentwatch" if "hubURL" in payload else "other"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One accepted webhook request, as ``GET /webhooks/alerts`` lists it."""

    received_at: float
    shape: str
    alerts: list[dict[str, str]]
    runs: list[str]


class RecentKeys:
    """The runs started for the last ``size`` idempotency keys."""

    def __init__(self, size: int = 1000) -> None:
        self.size = size
        self._runs: OrderedDict[str, list[str]] = OrderedDict()

    def get(self, key: str | None) -> list[str] | None:
        return self._runs.get(key) if key else None

    def add(self, key: str | None, runs: list[str]) -> None:
        if key:
            self._runs[key] = runs
            while len(self._runs) > self.size:
                self._runs.popitem(last=False)


def signed_by(secret_file: str | None) -> Verify | None:
    """A check of the hub's ``X-Agentwatch-Signature`` with the secret in ``secret_file``
    (None: no file, no check)."""
    if secret_file is None:
        return None
    from agentwatch.hub.alerts.signature import SIGNATURE_HEADER, verify_signature

    secret = Path(secret_file).read_text(encoding="utf-8").strip()

    def verify(headers: Mapping[str, str], body: bytes) -> bool:
        return verify_signature(secret, headers.get(SIGNATURE_HEADER), body)

    return verify


def add_notifier_route(app: FastAPI, submit: Submit, verify: Verify | None) -> None:
    """Mount ``POST /webhooks/alerts`` on the demo service."""
    seen = RecentKeys()
    deliveries: deque[Delivery] = deque(maxlen=500)

    @app.get("/webhooks/alerts")
    async def alert_deliveries() -> dict[str, Any]:
        return {"workflow": WORKFLOW, "deliveries": [asdict(d) for d in deliveries]}

    @app.post("/webhooks/alerts", status_code=202)
    async def alert_webhook(request: Request) -> Any:
        body = await request.body()
        if verify is not None and not verify(request.headers, body):
            raise HTTPException(401, "the webhook signature does not verify")
        key = request.headers.get(IDEMPOTENCY_HEADER)
        repeated = seen.get(key)
        if repeated is not None:
            return JSONResponse({"workflow": WORKFLOW, "runs": repeated, "repeat": True})
        try:
            payload = json.loads(body or b"null")
            notices = notices_of(payload)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        runs = [await submit(WORKFLOW, notice.text()) for notice in notices]
        seen.add(key, runs)
        alerts = [{"name": n.name, "status": n.status, "severity": n.severity} for n in notices]
        deliveries.append(Delivery(time.time(), shape_of(payload), alerts, runs))
        return {"workflow": WORKFLOW, "runs": runs}
