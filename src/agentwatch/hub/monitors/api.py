"""The monitors' HTTP API (``/api/v1/monitors``, push heartbeats, maintenance), the operator
list ``/`` and badges. Every error is an :class:`ApiError` naming the field."""

from __future__ import annotations

import hmac
import math
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..config import ENV_REFERENCE, HubConfigError, parse_duration
from ..web import ApiError
from ..web.errors import int_param, read_json_object
from . import store
from .badge import badge_svg
from .config import MonitorConfig, dependency_cycle, depends_problems, monitor_from_json
from .maintenance import add_window, end_window
from .uptime import UptimeWindows
from .views import UPTIME_WINDOWS, EncodedListing, monitor_json

if TYPE_CHECKING:
    from .part import MonitorsPart

__all__ = ["MonitorsApi"]

HISTORY_LIMIT = 10_000
_WINDOW_KEYS = ("monitors", "duration", "starts_at", "name", "reason")  # a POSTed window


class MonitorsApi:
    def __init__(self, part: MonitorsPart) -> None:
        self.part = part
        self.ctx = part.ctx
        self.uptime = UptimeWindows(UPTIME_WINDOWS)
        self.encoded = EncodedListing()

    # -- reading -------------------------------------------------------------------------

    async def _rows(
        self, names: list[str] | None = None, *, detail: bool = False
    ) -> tuple[list[Any], dict[str, dict[str, float | None]]]:
        async with self.ctx.db.read() as conn:
            rows = await store.state_rows(conn, names, () if detail else store.LISTED)
            uptime = await self.uptime.of(conn, [r.name for r in rows], self.ctx.clock())
        return rows, uptime

    async def _listing(
        self, names: list[str] | None = None, *, detail: bool = False
    ) -> list[dict[str, Any]]:
        rows, uptime = await self._rows(names, detail=detail)
        return [monitor_json(row, uptime[row.name], detail=detail) for row in rows]

    async def list_monitors(self, request: Request) -> Response:
        """Every monitor (hub.yaml and API) with its current status and uptime.
        ---
        responses:
          200: {description: "{monitors: [{name, type, status, latency_ms, last_check, message, cause, trace_id, owner, paused, uptime: {24h, 7d, 30d, 90d}}]}"}
          401: {description: token required}
        """
        self.ctx.auth.require(request)
        rows, uptime = await self._rows()
        return Response(self.encoded.body(rows, uptime), media_type="application/json")

    async def get_monitor(self, request: Request) -> Response:
        """One monitor, with its health components and the spec it runs.
        ---
        responses: {200: {description: "the monitor, plus components and spec"}, 401: {description: token required}, 404: {description: no such monitor}}
        """
        self.ctx.auth.require(request)
        found = await self._listing([request.path_params["name"]], detail=True)
        if not found:
            raise _no_monitor(request.path_params["name"])
        return JSONResponse(found[0])

    async def history(self, request: Request) -> Response:
        """A monitor's check results, newest first.
        ---
        parameters:
          - {name: since, in: query, schema: {type: string}, description: "unix seconds, an RFC 3339 time or a duration ago (24h); default 24h"}
          - {name: until, in: query, schema: {type: string}, description: "the same; default now"}
          - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 10000}}
        responses:
          200: {description: "{monitor, since, until, results: [{at, status, latency_ms, message, trace_id}]}"}
          400: {description: a bad parameter, named}
          401: {description: token required}
          404: {description: no such monitor}
        """
        self.ctx.auth.require(request)
        name = request.path_params["name"]
        now = self.ctx.clock()
        since = _time_param(request, "since", now - 86400.0, now)
        until = _time_param(request, "until", now, now)
        if until < since:
            raise ApiError(
                400,
                f"until: {until:.3f} is before since ({since:.3f}): expected until >= since",
                field="until",
            )
        limit = int_param(request, "limit", 1000, HISTORY_LIMIT)
        async with self.ctx.db.read() as conn:
            if not await store.state_rows(conn, [name]):
                raise _no_monitor(name)
            rows = await store.history(conn, name, since, until, limit)
        results = [
            {
                "at": r.at,
                "status": r.status,
                "latency_ms": r.latency_ms,
                "message": r.message,
                "trace_id": r.trace_id,
            }
            for r in rows
        ]
        return JSONResponse({"monitor": name, "since": since, "until": until, "results": results})

    # -- writing -------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        """Create a monitor (the hub.yaml schema); it is owned by the API.
        ---
        requestBody: {required: true, content: {application/json: {schema: {type: object, description: "a monitor in the hub.yaml schema: name, type (http, health, tcp, postgres, redis, dns, push), interval, timeout, down_after, up_after, depends_on, labels, description, and the keys of its type (url, method, headers, body, expect; host, port; dsn_file / url_file / token; record; grace)", required: [name, type]}}}}
        responses: {201: {description: the monitor}, 400: {description: invalid, the field is named}, 401: {description: token required}, 409: {description: the name is taken}}
        """
        self.ctx.auth.require(request)
        monitor = _parse_body(await read_json_object(request), self.ctx.environ)
        if monitor.name in self.part.monitors():
            raise ApiError(409, f"a monitor named {monitor.name!r} exists", field="name")
        self._check_depends(monitor)
        async with self.ctx.db.write() as conn:
            await store.insert_api_monitor(conn, monitor, self.ctx.clock())
        self.part.set_api_monitor(monitor)
        return JSONResponse((await self._listing([monitor.name], detail=True))[0], status_code=201)

    async def replace(self, request: Request) -> Response:
        """Replace a monitor made through the API (hub.yaml's monitors are changed in the file).
        ---
        requestBody: {required: true, content: {application/json: {schema: {type: object, description: "a monitor in the hub.yaml schema: name, type (http, health, tcp, postgres, redis, dns, push), interval, timeout, down_after, up_after, depends_on, labels, description, and the keys of its type (url, method, headers, body, expect; host, port; dsn_file / url_file / token; record; grace)", required: [name, type]}}}}
        responses: {200: {description: the monitor}, 400: {description: invalid, the field is named}, 401: {description: token required}, 404: {description: no such monitor}, 409: {description: defined in hub.yaml}}
        """
        self.ctx.auth.require(request)
        name = request.path_params["name"]
        self._owned_by_api(name)
        body = await read_json_object(request)
        if body.get("name", name) != name:
            raise ApiError(
                400,
                f"name: {body['name']!r} differs from the monitor in the path ({name!r}): "
                "a monitor is its name; create a new one to rename",
                field="name",
            )
        body = {"name": name, **body}  # name first, as the export prints it
        monitor = _parse_body(body, self.ctx.environ)
        self._check_depends(monitor)
        was_paused = self.part.api_monitors[name].paused
        async with self.ctx.db.write() as conn:
            await store.replace_api_monitor(conn, monitor)
        self.part.set_api_monitor(monitor)
        if monitor.paused != was_paused:  # ``paused`` in the body, as the file's
            await self.part.set_paused(monitor, monitor.paused)
        return JSONResponse((await self._listing([name], detail=True))[0])

    async def delete(self, request: Request) -> Response:
        """Delete a monitor made through the API; its alerts resolve.
        ---
        responses: {204: {description: deleted}, 401: {description: token required}, 404: {description: no such monitor}, 409: {description: defined in hub.yaml, or in the depends_on of another monitor}}
        """
        self.ctx.auth.require(request)
        name = request.path_params["name"]
        self._owned_by_api(name)
        children = sorted(m.name for m in self.part.monitors().values() if name in m.depends_on)
        if children:  # as the file's rule: no depends_on naming a monitor that is not there
            raise ApiError(
                409,
                f"monitor {name!r} is in the depends_on of {', '.join(children)}: "
                "change or delete those first",
                field="name",
            )
        async with self.ctx.db.write() as conn:
            await self.part.removing(conn, [self.part.api_monitors[name]])
            await store.delete_monitor(conn, name)
        self.part.set_api_monitor(None, name)
        self.part.metrics.forget(name)
        return Response(status_code=204)

    def _check_depends(self, monitor: MonitorConfig) -> None:
        """The YAML's rules for ``depends_on``: existing monitors (or ``internet``), no cycle."""
        current = self.part.monitors()
        problems = depends_problems(monitor, [*current, monitor.name])
        if problems:
            raise ApiError(400, f"depends_on: {problems[0]}", field="depends_on")
        graph = {name: m.depends_on for name, m in current.items()}
        graph[monitor.name] = monitor.depends_on
        cycle = dependency_cycle(monitor.name, graph)
        if cycle is not None:
            raise ApiError(
                400,
                f"depends_on: is a cycle ({' -> '.join(cycle)}): a monitor cannot depend on itself",
                field="depends_on",
            )

    def _owned_by_api(self, name: str) -> None:
        if name in self.part.api_monitors:
            return
        if name in self.part.config.by_name():
            raise ApiError(
                409, f"monitor {name!r} is defined in hub.yaml: change it there", field="name"
            )
        raise _no_monitor(name)

    async def pause(self, request: Request) -> Response:
        """Pause a monitor (no checks, no alerts; its alerts resolve).
        ---
        responses: {200: {description: the monitor}, 401: {description: token required}, 404: {description: no such monitor}}
        """
        return await self._set_paused(request, True)

    async def resume(self, request: Request) -> Response:
        """Resume a paused monitor (pending until its next check).
        ---
        responses: {200: {description: the monitor}, 401: {description: token required}, 404: {description: no such monitor}}
        """
        return await self._set_paused(request, False)

    async def _set_paused(self, request: Request, paused: bool) -> Response:
        self.ctx.auth.require(request)
        name = request.path_params["name"]
        monitor = self.part.monitors().get(name)
        if monitor is None:
            raise _no_monitor(name)
        await self.part.set_paused(monitor, paused)
        return JSONResponse((await self._listing([name]))[0])

    async def push(self, request: Request) -> Response:
        """A push monitor's heartbeat (GET or POST), from the job it watches.
        ---
        parameters:
          - {name: token, in: query, schema: {type: string}, description: the monitor's token}
          - {name: status, in: query, schema: {type: string, enum: [up, down]}}
          - {name: msg, in: query, schema: {type: string}}
        responses: {200: {description: "{ok, monitor, status}"}, 400: {description: bad status}, 401: {description: wrong token}, 404: {description: no such push monitor}}
        """
        name = request.path_params["name"]
        monitor = self.part.monitors().get(name)
        if monitor is None or monitor.type != "push":
            raise ApiError(404, f"no push monitor named {name!r}", field="name")
        token = request.query_params.get("token") or self.ctx.auth.presented(request)
        wanted = monitor.secret.reveal() if monitor.secret else None
        if wanted is not None and not hmac.compare_digest((token or "").encode(), wanted.encode()):
            raise ApiError(401, "missing or wrong push token (?token=...)", field="token")
        if wanted is None:
            self.ctx.auth.require(request)
        status = request.query_params.get("status", "up")
        if status not in ("up", "down"):
            raise ApiError(
                400, f"status {status!r} is not valid: expected up or down", field="status"
            )
        message = request.query_params.get("msg", "heartbeat")[:500]
        await self.part.heartbeat(monitor, status, message)
        return JSONResponse({"ok": True, "monitor": name, "status": status})

    # -- maintenance ---------------------------------------------------------------------

    async def maintenance(self, request: Request) -> Response:
        """GET: the maintenance windows in force, then those to come (active false). POST:
        start one now (or at starts_at).
        ---
        requestBody: {content: {application/json: {schema: {type: object, properties: {monitors: {type: array, items: {type: string}, description: "none: every monitor"}, duration: {type: string, example: 30m}, starts_at: {type: string, description: unix seconds or RFC 3339}, name: {type: string}, reason: {type: string}}}}}}
        responses: {200: {description: "{maintenance: [...]}"}, 201: {description: started}, 400: {description: invalid, the field is named}, 401: {description: token required}}
        """
        self.ctx.auth.require(request)
        now = self.ctx.clock()
        if request.method == "POST":
            return await self._start_window(request, now)
        calendar = self.part.calendar
        windows = [
            {
                "id": w.id,
                "name": w.name,
                "monitors": list(w.monitors),
                "starts_at": w.starts_at,
                "ends_at": w.ends_at,
                "reason": w.reason,
                "source": "api" if w.id else "hub.yaml",
                "active": w.starts_at <= now,
            }
            for w in [*calendar.active(now), *calendar.upcoming(now)]
        ]
        return JSONResponse({"maintenance": windows})

    async def _start_window(self, request: Request, now: float) -> Response:
        # {"monitor": ["api"]} would be a window over every monitor
        body = await read_json_object(request, _WINDOW_KEYS)
        monitors = body.get("monitors", [])
        if not isinstance(monitors, list) or not all(isinstance(m, str) for m in monitors):
            raise ApiError(400, "monitors: expected a list of monitor names", field="monitors")
        unknown = sorted(set(monitors) - set(self.part.monitors()))
        if unknown:
            raise ApiError(
                400, f"monitors: no monitor named {', '.join(unknown)}", field="monitors"
            )
        seconds = parse_duration(body.get("duration", "30m"))
        if seconds is None or seconds <= 0 or math.isinf(seconds):
            raise ApiError(
                400,
                f"duration: {body.get('duration')!r} is not valid: expected a duration such as 30m",
                field="duration",
            )
        starts = now if body.get("starts_at") is None else instant(body["starts_at"], now)
        if starts is None:
            raise ApiError(
                400,
                f"starts_at: {body['starts_at']!r} is not valid: expected unix seconds or an "
                "RFC 3339 time such as 2026-12-06T19:00:00Z",
                field="starts_at",
            )
        for key in ("name", "reason"):
            if not isinstance(body.get(key, ""), str):
                raise ApiError(400, f"{key}: {body[key]!r} is not a string", field=key)
        name = str(body.get("name") or f"maintenance of {', '.join(monitors) or 'every monitor'}")
        async with self.ctx.db.write() as conn:
            window_id = await add_window(
                conn,
                name=name,
                monitors=monitors,
                starts_at=starts,
                ends_at=starts + seconds,
                reason=str(body.get("reason", "")),
                now=now,
            )
            await self.part.calendar.load(conn, now)
        self.part.scheduler.wake()
        return JSONResponse(
            {
                "id": window_id,
                "name": name,
                "monitors": monitors,
                "starts_at": starts,
                "ends_at": starts + seconds,
            },
            status_code=201,
        )

    async def end_maintenance(self, request: Request) -> Response:
        """End a maintenance window now.
        ---
        responses: {204: {description: ended}, 400: {description: bad id}, 401: {description: token required}, 404: {description: no such window}}
        """
        self.ctx.auth.require(request)
        try:
            window_id = int(request.path_params["window_id"])
        except ValueError:
            raise ApiError(400, "id: expected a number", field="id") from None
        now = self.ctx.clock()
        async with self.ctx.db.write() as conn:
            ended = await end_window(conn, window_id, now)
            await self.part.calendar.load(conn, now)
        if not ended:
            raise ApiError(404, f"no running maintenance window {window_id}", field="id")
        return Response(status_code=204)

    # -- pages -------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        if not self.ctx.auth.allows(request):
            return RedirectResponse(f"/login?{urlencode({'next': '/'})}", status_code=303)
        monitors = await self._listing()
        counts: dict[str, int] = {}
        for monitor in monitors:
            counts[monitor["status"]] = counts.get(monitor["status"], 0) + 1
        order = {"down": 0, "degraded": 1, "maintenance": 2, "pending": 3, "up": 4, "paused": 5}
        monitors.sort(key=lambda m: (order.get(m["status"], 9), m["name"]))
        return self.ctx.templates.render(
            request,
            "monitors/overview.html",
            {
                "monitors": monitors,
                "counts": counts,
                "windows": self.part.calendar.active(self.ctx.clock()),
            },
            refresh_seconds=15,
        )

    async def badge(self, request: Request) -> Response:
        """An SVG badge of a monitor's status (public for monitors on a public page).
        ---
        responses: {200: {description: the badge, content: {image/svg+xml: {}}}, 401: {description: token required (not on a public page)}, 404: {description: no such monitor}}
        """
        name = request.path_params["name"]
        if not self.part.is_public(name):
            self.ctx.auth.require(request)
        async with self.ctx.db.read() as conn:
            rows = await store.state_rows(conn, [name])
        if not rows:
            raise _no_monitor(name)
        return Response(
            badge_svg(name, rows[0].status),
            media_type="image/svg+xml",
            headers={"Cache-Control": "max-age=30"},
        )


def _parse_body(body: dict[str, Any], environ: Any) -> Any:
    reference = _env_reference(body, "")
    if reference is not None:
        key, name = reference
        raise ApiError(
            400,
            f"{key}: ${{{name}}} is not expanded in a monitor made through the API (it would "
            "hand the hub's environment to whoever holds the token): give the secret as a "
            "*_file key, or define the monitor in hub.yaml",
            field=key,
        )
    try:
        return monitor_from_json(body, environ=environ)
    except HubConfigError as exc:
        first = exc.problems[0]
        field = first.path.split(".", 1)[1] if "." in first.path else first.path
        message = "; ".join(f"{p.path.split('.', 1)[-1]}: {p.message}" for p in exc.problems)
        raise ApiError(400, message, field=field) from None


def _env_reference(value: Any, path: str) -> tuple[str, str] | None:
    """The first ``${NAME}`` in a request body, as (key path, NAME)."""
    if isinstance(value, str):
        found = ENV_REFERENCE.search(value)
        return (path, found.group(1)) if found else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        inner = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else str(key)
        found_in = _env_reference(item, inner)
        if found_in is not None:
            return found_in
    return None


def _no_monitor(name: str) -> ApiError:
    return ApiError(404, f"no monitor named {name!r}", field="name")


def _time_param(request: Request, key: str, default: float, now: float) -> float:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    at = instant(raw, now)
    if at is None:
        raise ApiError(
            400,
            f"{key}: {raw!r} is not valid: expected unix seconds, an RFC 3339 time such as "
            "2026-12-06T19:00:00Z, or a duration such as 24h (ago)",
            field=key,
        )
    return at


def instant(raw: object, now: float) -> float | None:
    """Unix seconds from a number, an RFC 3339 time or a duration ago (``24h``); else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw) if math.isfinite(raw) else None
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return number if math.isfinite(number) else None
    if text == "now":
        return now
    if text[:4].isdigit() and "-" in text:
        # an unencoded "+01:00" in a query string arrives as " 01:00"
        text = re.sub(r"(T[\d:.]+) (\d\d:?\d\d)$", r"\1+\2", text)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    ago = parse_duration(text)
    return None if ago is None else now - ago
