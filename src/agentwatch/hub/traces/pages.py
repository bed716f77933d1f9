"""``/traces`` (errors first, filters) and ``/traces/{id}`` (the waterfall), as HTML."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..web import ApiError, Templates
from . import queries
from .api import TraceApi, check_trace_id
from .params import trace_filter
from .waterfall import waterfall

__all__ = ["TracePages"]

SINCE_CHOICES = (
    ("", "any time"),
    ("15m", "last 15 minutes"),
    ("1h", "last hour"),
    ("6h", "last 6 hours"),
    ("24h", "last 24 hours"),
)


class TracePages:
    def __init__(self, api: TraceApi, templates: Templates) -> None:
        self.api = api
        self.templates = templates

    def _login(self, request: Request) -> Response | None:
        if self.api.auth.allows(request):
            return None
        return RedirectResponse(
            f"/login?{urlencode({'next': str(request.url.path)})}", status_code=303
        )

    async def list_page(self, request: Request) -> Response:
        if (login := self._login(request)) is not None:
            return login
        params = dict(request.query_params)
        try:
            f = trace_filter(params, self.api.clock)
        except ApiError as exc:
            return self.templates.render(
                request,
                "traces/list.html",
                self._context(params, [], None, [], exc.message),
                status_code=400,
            )
        rows, cursor = await self.api.read(lambda conn: queries.list_traces(conn, f))
        services = await self.api.read(queries.services)
        return self.templates.render(
            request, "traces/list.html", self._context(params, rows, cursor, services, None)
        )

    @staticmethod
    def _context(
        params: dict[str, str],
        rows: list[queries.TraceSummary],
        cursor: str | None,
        services: list[str],
        error: str | None,
    ) -> dict[str, object]:
        older = None
        if cursor:
            older = "/traces?" + urlencode(
                {**{k: v for k, v in params.items() if v and k != "cursor"}, "cursor": cursor}
            )
        return {
            "rows": rows,
            "params": params,
            "services": services,
            "since_choices": SINCE_CHOICES,
            "older": older,
            "error": error,
        }

    async def show(self, request: Request) -> Response:
        if (login := self._login(request)) is not None:
            return login
        try:
            trace_id = check_trace_id(request.path_params["trace_id"])
            detail = await self.api.detail(trace_id)
        except ApiError as exc:
            return self.templates.render(
                request, "traces/missing.html", {"message": exc.message}, status_code=exc.status
            )
        return self.templates.render(
            request,
            "traces/trace.html",
            {"detail": detail, "summary": detail.summary, "rows": waterfall(detail)},
        )
