"""The intake endpoints: Alertmanager, Grafana and the generic one.

- ``POST /api/v1/alerts/alertmanager``: Alertmanager's webhook v4 with ``Authorization:
  Bearer <intake.token_file>`` (the generated config passes it with
  ``http_config.authorization.credentials_file``).
- ``POST /api/v1/alerts/grafana``: Grafana's webhook, signed with HMAC-SHA256 over
  ``"<timestamp>:<body>"`` (the contact point's ``hmacConfig`` with ``timestampHeader``);
  a timestamp more than ``grafana_replay_window`` (5 minutes) away is refused.
- ``POST /api/v1/alerts``: the generic shape (see :mod:`.payloads`), bearer token.

The hub's API token is accepted wherever the intake token is. Without any token (a hub on
loopback) the intake is open, like the rest of such a hub. Every alert is stored with its
group's timer before the 200 answer; a body that does not parse stores nothing (400).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..web import ApiError
from ..web.errors import MAX_BODY
from .config import IntakeConfig
from .model import IncomingAlert
from .payloads import alertmanager_alerts, generic_alerts, grafana_alerts

if TYPE_CHECKING:
    from .part import AlertsPart

__all__ = ["Intake"]


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _same(presented: str | None, secret: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), secret.encode())


async def _body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiError(413, f"request body of {len(body)} bytes is over {MAX_BODY}")
    return body


def _json(body: bytes) -> Any:
    if not body:
        raise ApiError(400, "request body is empty: expected JSON")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None


class Intake:
    def __init__(self, part: AlertsPart) -> None:
        self._part = part

    @property
    def _config(self) -> IntakeConfig:
        return self._part.config.intake

    def check_token(self, request: Request) -> None:
        """401 unless the bearer token is the intake token or the API token."""
        token, auth = self._config.token, self._part.ctx.auth
        presented = _bearer(request)
        if token is None:
            auth.require(request)
            return
        if _same(presented, token.reveal()) or (auth.enabled and auth.check(presented)):
            return
        raise ApiError(
            401,
            "missing or invalid bearer token (Authorization: Bearer <intake.token_file>)",
            field="Authorization",
            headers={"WWW-Authenticate": 'Bearer realm="agentwatch-hub-intake"'},
        )

    def check_grafana(self, request: Request, body: bytes) -> None:
        """401 unless the body carries a valid, recent Grafana HMAC signature."""
        config = self._config
        if config.grafana_secret is None:
            self.check_token(request)
            return
        signature = request.headers.get(config.grafana_signature_header)
        stamp = request.headers.get(config.grafana_timestamp_header)
        if not signature:
            raise ApiError(
                401,
                f"missing {config.grafana_signature_header} (Grafana hmacConfig)",
                field=config.grafana_signature_header,
            )
        if not stamp or not stamp.strip().isdigit():
            raise ApiError(
                401,
                f"missing {config.grafana_timestamp_header}: set hmacConfig.timestampHeader "
                "so replays can be refused",
                field=config.grafana_timestamp_header,
            )
        age = abs(self._part.ctx.clock() - int(stamp))
        if age > config.grafana_replay_window:
            raise ApiError(
                401,
                f"signature timestamp is {age:.0f} s away from now, over the replay window "
                f"of {config.grafana_replay_window:.0f} s",
                field=config.grafana_timestamp_header,
            )
        expected = hmac.new(
            config.grafana_secret.reveal().encode(),
            stamp.strip().encode() + b":" + body,
            hashlib.sha256,
        ).hexdigest()
        if not hmac.compare_digest(expected, signature.strip().lower()):
            raise ApiError(
                401,
                f"{config.grafana_signature_header} does not match the body",
                field=config.grafana_signature_header,
            )

    async def _accept(self, alerts: Sequence[IncomingAlert], source: str) -> Response:
        accepted = await self._part.accept(alerts)
        self._part.metrics.received.labels(source).inc(len(alerts))
        return JSONResponse({"accepted": accepted.alerts, "changed": accepted.changed})

    async def alertmanager(self, request: Request) -> Response:
        """Alertmanager's webhook (version 4), bearer token from intake.token_file.
        ---
        requestBody: {content: {application/json: {schema: {type: object}}}}
        responses: {200: {description: stored}, 400: {description: malformed, the field is named}, 401: {description: bad or missing token}}
        """
        self.check_token(request)
        return await self._accept(alertmanager_alerts(_json(await _body(request))), "alertmanager")

    async def grafana(self, request: Request) -> Response:
        """Grafana's webhook contact point, HMAC-signed with a timestamp.
        ---
        responses: {200: {description: stored}, 400: {description: malformed}, 401: {description: bad signature or replay}}
        """
        body = await _body(request)
        self.check_grafana(request, body)
        return await self._accept(grafana_alerts(_json(body)), "grafana")

    async def generic(self, request: Request) -> Response:
        """A generic alert, a list of them, or {"alerts": [...]}.
        ---
        responses: {200: {description: stored}, 400: {description: malformed, the field is named}, 401: {description: bad or missing token}}
        """
        self.check_token(request)
        clock: Callable[[], float] = self._part.ctx.clock
        return await self._accept(generic_alerts(_json(await _body(request)), clock()), "generic")
