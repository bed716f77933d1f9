"""The status and incident API.

- ``GET /api/v1/status``: the pages this request may see; ``GET /api/v1/status/{slug}``: one
  page as JSON (what ``/status/{slug}`` shows). Public pages need nothing, private ones the
  token.
- ``GET /api/v1/incidents?state=open&page=public&monitor=api&limit=50&before=120``,
  ``GET /api/v1/incidents/{id}``, ``POST /api/v1/incidents``,
  ``POST /api/v1/incidents/{id}/updates``, ``POST /api/v1/incidents/{id}/resolve``: the
  token when one is configured. A person's update takes an automatic incident over: it no
  longer resolves itself.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..web import ApiError
from ..web.errors import int_param, read_json_object
from .bodies import incident_edit, new_incident, resolution
from .cache import ViewCache
from .incidents import (
    RESOLVED,
    Incident,
    IncidentFilter,
    IncidentUpdate,
    add_update,
    delete_incident,
    get_incident,
    list_incidents,
    open_incident,
)
from .settings import StatusPage
from .view import DAYS, PageView, build_view

if TYPE_CHECKING:
    from .part import StatusPart

__all__ = ["StatusApi"]

MAX_LIMIT = 500
VIEW_TTL = 2.0  # seconds a built page serves every visitor


class _Body(NamedTuple):
    view: PageView
    days: int
    body: bytes


class _BodyKey(NamedTuple):
    slug: str
    operator: bool  # the token: the monitors' check messages are in the body


def incident_id(request: Request) -> int:
    raw = request.path_params["incident_id"]
    if not raw.isdigit():
        raise ApiError(400, f"incident id {raw!r} is not a number", field="incident_id")
    return int(raw)


class StatusApi:
    def __init__(self, part: StatusPart) -> None:
        self._part = part
        self.views: ViewCache[PageView] = ViewCache(VIEW_TTL)
        self._bodies: dict[_BodyKey, _Body] = {}

    # -- pages -----------------------------------------------------------------------------

    def page_for(self, request: Request) -> StatusPage:
        """The page of ``{slug}``: 404 naming the slug, 401 for a private page without token."""
        slug = request.path_params["slug"]
        page = self._part.settings.page(slug)
        if page is None:
            known = ", ".join(p.slug for p in self._visible(request)) or "(none)"
            raise ApiError(404, f"no status page {slug!r}: the pages are {known}", field="slug")
        if not page.public:
            self._part.ctx.auth.require(request)
        return page

    def _visible(self, request: Request) -> list[StatusPage]:
        allowed = self._part.ctx.auth.allows(request)
        return [p for p in self._part.settings.pages if p.public or allowed]

    async def view(self, page: StatusPage) -> PageView:
        """The page's view, shared for VIEW_TTL seconds (see cache.py)."""
        return await self.views.get(page.slug, lambda: self._build_view(page))

    async def _build_view(self, page: StatusPage) -> PageView:
        ctx = self._part.ctx
        now = ctx.clock()
        async with ctx.db.read() as conn:
            incidents = await list_incidents(
                conn,
                IncidentFilter(
                    page=page.slug,
                    page_monitors=page.monitors,
                    resolved_since=now - page.history_seconds,
                    limit=100,
                ),
            )
        return await build_view(page, ctx.monitors, incidents, now=now, public_url=ctx.public_url)

    async def pages(self, request: Request) -> Response:
        """The status pages this request may see (public ones, and private ones with the token).
        ---
        responses: {200: {description: "{pages: [{slug, title, public, url}]}"}}
        """
        base = self._part.ctx.public_url
        return JSONResponse(
            {
                "pages": [
                    {
                        "slug": p.slug,
                        "title": p.title,
                        "description": p.description,
                        "public": p.public,
                        "url": f"{base}/status/{p.slug}",
                        "api": f"{base}/api/v1/status/{p.slug}",
                    }
                    for p in self._visible(request)
                ]
            }
        )

    async def page(self, request: Request) -> Response:
        """One status page as JSON: overall status, monitors with 90 days of uptime, maintenance,
        current and recent incidents with their timelines.
        ---
        parameters:
          - {name: slug, in: path, required: true, schema: {type: string}}
          - {name: days, in: query, schema: {type: integer, minimum: 0, maximum: 90}, description: "days of uptime listed per monitor (default 90; 0: none)"}
        responses:
          200: {description: "{page, status: {indicator, description}, groups, monitors, maintenance, incidents: {active, recent}, generated_at}"}
          401: {description: a private page without the token}
          404: {description: no such page (field slug)}
        """
        page = self.page_for(request)
        raw = request.query_params.get("days", str(DAYS))
        if not raw.isdigit() or int(raw) > DAYS:
            raise ApiError(400, f"days: {raw!r} is not valid: expected 0 to {DAYS}", field="days")
        key = _BodyKey(page.slug, self._part.ctx.auth.allows(request))
        return Response(await self._body(page, key, int(raw)), media_type="application/json")

    async def _body(self, page: StatusPage, key: _BodyKey, days: int) -> bytes:
        """The page's JSON, encoded once per view and ``days`` (1,000 monitors' 90 days are
        90,000 objects: most of a visit's time), the last one asked for each page by
        visitors and by operators (only theirs has the check messages)."""
        view = await self.view(page)
        kept = self._bodies.get(key)
        if kept is not None and kept.view is view and kept.days == days:
            return kept.body
        shown = view.as_json(self._part.ctx.public_url, days, operator=key.operator)
        body = bytes(JSONResponse(shown).body)
        self._bodies[key] = _Body(view, days, body)
        return body

    # -- incidents -------------------------------------------------------------------------

    def _json(self, incident: Incident) -> dict[str, Any]:
        ctx = self._part.ctx
        return incident.as_json(ctx.clock(), ctx.public_url)

    async def list_incidents(self, request: Request) -> Response:
        """Incidents, newest first.
        ---
        parameters:
          - {name: state, in: query, schema: {type: string, enum: [open, resolved, all]}}
          - {name: page, in: query, schema: {type: string}, description: a status page's slug}
          - {name: monitor, in: query, schema: {type: string}}
          - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 500}}
          - {name: before, in: query, schema: {type: integer}, description: "incidents with a smaller id (paging)"}
        responses: {200: {description: "{incidents: [...], next_before}"}, 400: {description: a bad parameter (field named)}, 401: {description: token required}}
        """
        self._part.ctx.auth.require(request)
        params = request.query_params
        state = params.get("state") or "all"
        if state not in ("open", "resolved", "all"):
            raise ApiError(
                400, f"state: {state!r} is not valid: expected open, resolved or all", field="state"
            )
        slug = params.get("page") or None
        page = self._part.settings.page(slug) if slug else None
        if slug and page is None:
            raise ApiError(400, f"page: {slug!r} is not a status page", field="page")
        limit = int_param(request, "limit", 50, MAX_LIMIT, blank=True) or 50
        f = IncidentFilter(
            state=state,
            page=slug,
            page_monitors=page.monitors if page else (),
            monitor=params.get("monitor") or None,
            before_id=int_param(request, "before", None, 2**62, blank=True),
            limit=limit,
        )
        async with self._part.ctx.db.read() as conn:
            found = await list_incidents(conn, f)
        next_before = found[-1].id if len(found) == limit else None
        return JSONResponse(
            {"incidents": [self._json(i) for i in found], "next_before": next_before}
        )

    async def get(self, request: Request) -> Response:
        """One incident with its timeline.
        ---
        parameters:
          - {name: incident_id, in: path, required: true, schema: {type: integer}}
        responses: {200: {description: the incident}, 404: {description: no such incident}}
        """
        self._part.ctx.auth.require(request)
        async with self._part.ctx.db.read() as conn:
            return JSONResponse(self._json(await _existing(conn, incident_id(request))))

    async def open(self, request: Request) -> Response:
        """Open an incident by hand (it never resolves itself).
        ---
        requestBody:
          content:
            application/json:
              schema:
                type: object
                required: [title, message]
                properties:
                  title: {type: string}
                  message: {type: string}
                  status: {type: string, enum: [investigating, identified, monitoring, resolved]}
                  impact: {type: string, enum: [none, minor, major, critical]}
                  monitors: {type: array, items: {type: string}}
                  pages: {type: array, items: {type: string}, description: "default: the pages showing the monitors, else every page"}
                  by: {type: string}
        responses: {201: {description: the incident}, 400: {description: a bad field (named)}, 401: {description: token required}}
        """
        part = self._part
        part.ctx.auth.require(request)
        states = await part.ctx.monitors.states()
        new = new_incident(
            await read_json_object(request),
            monitors={s.name for s in states} | set(part.settings.monitors),
            pages=[p.slug for p in part.settings.pages],
        )
        new = part.with_default_pages(new)
        async with part.ctx.db.write() as conn:
            down = {s.name for s in states if s.status in ("down", "degraded")}
            incident = await open_incident(conn, new, at=part.ctx.clock(), down=down)
            await part.announce(conn, incident)
        self.views.clear()  # again after the commit: no visitor keeps the page from before
        return JSONResponse(self._json(incident), status_code=201)

    async def update(self, request: Request) -> Response:
        """Add to an incident's timeline (status, message; optionally impact and title).
        A person's update takes an automatic incident over: it no longer resolves itself.
        ---
        requestBody:
          content:
            application/json:
              schema:
                type: object
                required: [message]
                properties:
                  message: {type: string}
                  status: {type: string, enum: [investigating, identified, monitoring, resolved]}
                  impact: {type: string, enum: [none, minor, major, critical]}
                  title: {type: string}
                  by: {type: string}
        responses: {200: {description: the incident}, 400: {description: a bad field (named)}, 404: {description: no such incident}}
        """
        self._part.ctx.auth.require(request)
        edit = incident_edit(await read_json_object(request))
        return await self._edit(request, edit.status, edit)

    async def resolve(self, request: Request) -> Response:
        """Resolve an incident (the body, optional, may carry message and by).
        ---
        responses: {200: {description: the incident}, 404: {description: no such incident}, 409: {description: already resolved}}
        """
        self._part.ctx.auth.require(request)
        body = await request.body()
        edit = resolution(await read_json_object(request) if body.strip() else {})
        return await self._edit(request, "resolved", edit, refuse_resolved=True)

    async def _edit(
        self, request: Request, status: str | None, edit: Any, *, refuse_resolved: bool = False
    ) -> Response:
        part = self._part
        number = incident_id(request)
        async with part.ctx.db.write() as conn:
            incident = await _existing(conn, number)
            if refuse_resolved and not incident.is_open:
                raise ApiError(409, f"incident {number} is already resolved", field="incident_id")
            updated = await add_update(
                conn,
                incident,
                status=status or incident.status,
                message=edit.message,
                by=edit.by,
                at=part.ctx.clock(),
                person=True,
                impact=edit.impact,
                title=edit.title,
            )
            await part.announce(conn, updated)
        self.views.clear()
        return JSONResponse(self._json(updated))

    async def delete(self, request: Request) -> Response:
        """Remove an incident and its timeline (a false alarm); an open one is announced as
        resolved first, so its alert resolves too.
        ---
        parameters:
          - {name: incident_id, in: path, required: true, schema: {type: integer}}
        responses: {200: {description: "{deleted: id}"}, 404: {description: no such incident}}
        """
        part = self._part
        part.ctx.auth.require(request)
        number = incident_id(request)
        async with part.ctx.db.write() as conn:
            incident = await _existing(conn, number)
            if incident.is_open:
                closing = replace(
                    incident,
                    status=RESOLVED,
                    resolved_at=part.ctx.clock(),
                    updates=(
                        *incident.updates,
                        IncidentUpdate(
                            0, part.ctx.clock(), RESOLVED, "This incident was removed.", "api"
                        ),
                    ),
                )
                await part.announce(conn, closing)
            await delete_incident(conn, number)
        self.views.clear()
        return JSONResponse({"deleted": number})


async def _existing(conn: Any, number: int) -> Incident:
    found = await get_incident(conn, number)
    if found is None:
        raise ApiError(404, f"no incident {number}", field="incident_id")
    return found
