"""The alerts part's API beside the intake: alerts, acknowledgements, silences, outbox.

All need the API token (``Authorization: Bearer``) when one is configured:

- ``GET /api/v1/alerts?status=firing`` and ``GET /api/v1/alerts/{fingerprint}``
- ``POST /api/v1/alerts/{fingerprint}/ack`` ``{"by": "ana", "comment": "on it"}``
- ``GET|POST /api/v1/silences``, ``DELETE /api/v1/silences/{id}`` (expires it)
- ``GET /api/v1/outbox?state=dead&channel=pager&limit=100``
- ``POST /api/v1/outbox/{id}/retry`` and ``POST /api/v1/outbox/retry`` ``{"all": true}`` or
  ``{"ids": [3, 4]}``: dead rows back to pending with a fresh ``max_age``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..web import ApiError
from ..web.errors import int_param, read_json_object
from .acks import acknowledge
from .message import iso
from .model import AlertRecord
from .muting import Muting
from .outbox import STATES, list_rows, retry_rows
from .silences import (
    SILENCE_KEYS,
    active_silences,
    add_silence,
    expire_silence,
    list_silences,
    parse_silence,
    public,
)
from .tables import alerts

if TYPE_CHECKING:
    from .part import AlertsPart

__all__ = ["AlertsApi"]


def alert_json(alert: AlertRecord, muted: str | None) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "status": alert.status,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "links": alert.links,
        "source": alert.source,
        "startsAt": iso(alert.starts_at),
        "endsAt": iso(alert.resolved_at),
        "firstSeen": iso(alert.first_seen),
        "lastSeen": iso(alert.last_seen),
        "traceId": alert.trace_id,
        "cause": alert.cause,
        "mutedBy": muted,
        "acknowledged": None
        if alert.acked_at is None
        else {"at": iso(alert.acked_at), "by": alert.acked_by, "comment": alert.ack_comment},
    }


class AlertsApi:
    def __init__(self, part: AlertsPart) -> None:
        self._part = part

    def _muting(self, conn: Any, silences: Any) -> Muting:
        ctx = self._part.ctx
        return Muting(conn, silences, self._part.config.inhibit, ctx.maintenance, ctx.clock())

    async def list_alerts(self, request: Request) -> Response:
        """Alerts, newest first; ?status=firing|resolved, ?limit= (default 100, at most 1000).
        ---
        responses: {200: {description: the alerts}, 401: {description: token required}}
        """
        self._part.ctx.auth.require(request)
        status = request.query_params.get("status")
        if status not in (None, "firing", "resolved"):
            raise ApiError(
                400, f"status: {status!r} is not valid: expected firing or resolved", field="status"
            )
        limit = int_param(request, "limit", 100, 1000)
        query = sa.select(alerts).order_by(alerts.c.last_seen.desc()).limit(limit)
        if status:
            query = query.where(alerts.c.status == status)
        async with self._part.ctx.db.read() as conn:
            rows = [AlertRecord.from_row(r) for r in await conn.execute(query)]
            muting = self._muting(conn, await active_silences(conn, self._part.ctx.clock()))
            body = [alert_json(a, await muting.reason(a)) for a in rows]
        return JSONResponse({"alerts": body})

    async def get_alert(self, request: Request) -> Response:
        """One alert by fingerprint.
        ---
        responses: {200: {description: the alert}, 404: {description: no such alert}}
        """
        self._part.ctx.auth.require(request)
        fp = request.path_params["fingerprint"]
        async with self._part.ctx.db.read() as conn:
            row = (await conn.execute(sa.select(alerts).where(alerts.c.fingerprint == fp))).first()
            if row is None:
                raise ApiError(404, f"no alert with fingerprint {fp}", field="fingerprint")
            alert = AlertRecord.from_row(row)
            muting = self._muting(conn, await active_silences(conn, self._part.ctx.clock()))
            return JSONResponse(alert_json(alert, await muting.reason(alert)))

    async def ack(self, request: Request) -> Response:
        """Acknowledge a firing alert: repeats stop, its channels are told.
        ---
        responses: {200: {description: acknowledged}, 404: {description: no such alert}, 409: {description: the alert is resolved}}
        """
        self._part.ctx.auth.require(request)
        body = await read_json_object(request) if await request.body() else {}
        by, comment = body.get("by", ""), body.get("comment", "")
        for key, value in (("by", by), ("comment", comment)):
            if not isinstance(value, str):
                raise ApiError(400, f"{key}: {value!r} is not a string", field=key)
        part, now = self._part, self._part.ctx.clock()
        channels = {c.name: c for c in part.config.channels}
        async with part.ctx.db.write() as conn:
            alert, told = await acknowledge(
                conn,
                request.path_params["fingerprint"],
                by,
                comment,
                channels,
                part.ctx.public_url,
                now,
            )
        if told:
            part.sender.wake()
        return JSONResponse({**alert_json(alert, None), "told": told})

    async def silences(self, request: Request) -> Response:
        """GET: silences in force or to come (?expired=true: all); POST: add one.
        ---
        responses: {200: {description: the silences}, 201: {description: created}, 400: {description: invalid, the field is named}}
        """
        self._part.ctx.auth.require(request)
        now = self._part.ctx.clock()
        if request.method == "GET":
            expired = request.query_params.get("expired") == "true"
            async with self._part.ctx.db.read() as conn:
                found = await list_silences(conn, now, expired=expired)
            return JSONResponse({"silences": [public(s, now) for s in found]})
        values = parse_silence(await read_json_object(request, SILENCE_KEYS), now)
        async with self._part.ctx.db.write() as conn:
            silence_id = await add_silence(conn, values)
        return JSONResponse({"id": silence_id}, status_code=201)

    async def expire(self, request: Request) -> Response:
        """Expire a silence now.
        ---
        responses: {200: {description: expired}, 404: {description: no such silence}}
        """
        self._part.ctx.auth.require(request)
        raw = request.path_params["silence_id"]
        async with self._part.ctx.db.write() as conn:
            found = raw.isdigit() and await expire_silence(conn, int(raw), self._part.ctx.clock())
        if not found:
            raise ApiError(404, f"no silence {raw}", field="id")
        return JSONResponse({"id": int(raw), "expired": True})

    async def outbox(self, request: Request) -> Response:
        """Outbox rows newest first; ?state=pending|sending|sent|dead|coalesced, ?channel=, ?limit=, ?before=ID.
        ---
        responses: {200: {description: the rows}, 400: {description: bad state}}
        """
        self._part.ctx.auth.require(request)
        state = request.query_params.get("state")
        if state is not None and state not in STATES:
            raise ApiError(
                400,
                f"state: {state!r} is not valid: expected one of {', '.join(STATES)}",
                field="state",
            )
        before = request.query_params.get("before")
        async with self._part.ctx.db.read() as conn:
            rows = await list_rows(
                conn,
                state=state,
                channel=request.query_params.get("channel"),
                limit=int_param(request, "limit", 100, 1000),
                before=int(before) if before and before.isdigit() else None,
            )
        return JSONResponse({"rows": [r.public() for r in rows]})

    async def retry(self, request: Request) -> Response:
        """Dead rows back to pending: /api/v1/outbox/{id}/retry, or {"all": true} / {"ids": [...]}.
        ---
        responses: {200: {description: the rows retried}, 404: {description: no such dead row}}
        """
        self._part.ctx.auth.require(request)
        ids: list[int] | None
        if "row_id" in request.path_params:
            raw = request.path_params["row_id"]
            ids = [int(raw)] if raw.isdigit() else []
        else:
            body = await read_json_object(request)
            ids = None if body.get("all") is True else body.get("ids")
            if ids is not None and (
                not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)
            ):
                raise ApiError(
                    400, 'ids: expected a list of row ids, or {"all": true}', field="ids"
                )
        part = self._part
        channels = {c.name: c for c in part.config.channels}
        async with part.ctx.db.write() as conn:
            retried = await retry_rows(conn, ids, channels, part.ctx.clock())
        if "row_id" in request.path_params and not retried:
            raise ApiError(404, f"no dead outbox row {request.path_params['row_id']}", field="id")
        part.sender.wake()
        return JSONResponse({"retried": retried})
