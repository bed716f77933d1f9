"""``/status`` (the pages) and ``/status/{slug}`` (one page), server-rendered.

A page reloads itself every ``refresh`` seconds with a ``<meta http-equiv="refresh">`` (no
JavaScript); ``?refresh=off`` stops it (a reader who needs time gets it). A private page
sends a browser without the token to ``/login`` and back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..web import ApiError
from .feed import atom_feed
from .fragments import Fragments
from .incidents import IMPACTS, STATUSES, iso
from .view import percent

if TYPE_CHECKING:
    from .part import StatusPart

__all__ = ["INCIDENT_ICONS", "StatusPages"]

# incident status -> (icon, word); the page shows both
INCIDENT_ICONS = {
    "investigating": ("⚠", "Investigating"),
    "identified": ("◎", "Identified"),
    "monitoring": ("◔", "Monitoring"),
    "resolved": ("✔", "Resolved"),
}
IMPACT_WORDS = {
    "none": "No impact",
    "minor": "Minor impact",
    "major": "Major impact",
    "critical": "Critical impact",
}
assert set(INCIDENT_ICONS) == set(STATUSES) and set(IMPACT_WORDS) == set(IMPACTS)


class StatusPages:
    def __init__(self, part: StatusPart) -> None:
        self._part = part
        env = part.ctx.templates.env
        env.filters.update(  # prefixed: the environment is every part's
            incident_icon=lambda s: INCIDENT_ICONS.get(s, ("•", s))[0],
            incident_word=lambda s: INCIDENT_ICONS.get(s, ("•", s.capitalize()))[1],
            impact_word=lambda s: IMPACT_WORDS.get(s, s),
            status_iso=iso,
            status_percent=percent,
        )
        self.fragments = Fragments(env)

    async def warm(self) -> None:
        """Build each page's view (shared as any other) and render its monitors' pieces:
        the first visitors after a start, often during an incident, then do not each wait
        for 90 days of 1,000 monitors read and rendered, nor for the templates to compile."""
        self._part.ctx.templates.env.get_template("status/page.html")
        for page in self._part.settings.pages:
            view = await self._part.api.view(page)
            self.fragments.of(page.slug, view.monitors)

    async def index(self, request: Request) -> Response:
        part = self._part
        allowed = part.ctx.auth.allows(request)
        pages = [p for p in part.settings.pages if p.public or allowed]
        context: dict[str, object] = {"pages": pages, "signed_in": allowed}
        if not allowed:
            context["nav"] = ()
        return part.ctx.templates.render(request, "status/index.html", context)

    async def feed(self, request: Request) -> Response:
        """The page's incidents as Atom (a private page's feed needs the token)."""
        view = await self._part.api.view(self._part.api.page_for(request))
        return Response(
            atom_feed(view),
            media_type="application/atom+xml; charset=utf-8",
            headers={"Cache-Control": "no-store"},
        )

    async def show(self, request: Request) -> Response:
        """A status page as HTML: no script, no external asset, refreshes itself.
        ---
        responses: {200: {description: the page, content: {text/html: {}}}, 303: {description: "a private page: to /login"}, 404: {description: no such page}}
        """
        part = self._part
        templates = part.ctx.templates
        try:
            page = part.api.page_for(request)
        except ApiError as exc:
            if exc.status == 401:
                target = f"/login?{urlencode({'next': str(request.url.path)})}"
                return RedirectResponse(target, status_code=303)
            return templates.render(
                request, "status/missing.html", {"message": exc.message}, status_code=exc.status
            )
        view = await part.api.view(page)
        paused = request.query_params.get("refresh") == "off"
        operator = part.ctx.auth.allows(request)
        context = {
            "view": view,
            "page": page,
            "paused": paused,
            "now": view.now,
            "monitor_html": self.fragments.of(page.slug, view.monitors, operator=operator),
        }
        if not operator:
            context["nav"] = ()  # a visitor sees the page, not the operators' links
        return templates.render(
            request,
            "status/page.html",
            context,
            refresh_seconds=None if paused else page.refresh_seconds,
            headers={} if page.public else {"X-Robots-Tag": "noindex"},
        )
