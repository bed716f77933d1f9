"""Server-rendered pages: one Jinja2 environment over the core's and every part's templates.

A part's templates live in ``hub/<part>/templates/`` and are named ``"<part>/<file>"``; the
core's in ``hub/web/templates/`` as ``"web/<file>"``. Every page extends ``web/base.html``,
which carries the only CSS (inline: no external asset is ever loaded) and the header links
of the installed parts. Statuses are shown as an icon *and* a word, never colour alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

__all__ = ["STATUS_ICONS", "Templates", "format_ago", "format_duration", "format_time"]

# status -> (icon, word); the CSS class is the status itself
STATUS_ICONS: Mapping[str, tuple[str, str]] = {
    "up": ("✔", "Up"),
    "degraded": ("◐", "Degraded"),
    "down": ("✖", "Down"),
    "pending": ("…", "Pending"),
    "paused": ("⏸", "Paused"),
    "maintenance": ("⚒", "Maintenance"),
    "firing": ("✖", "Firing"),
    "resolved": ("✔", "Resolved"),
    "error": ("✖", "Error"),
    "ok": ("✔", "OK"),
}


def format_time(ts: float | None) -> str:
    """``2026-12-06 12:34:56 UTC``."""
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float | None) -> str:
    """``850 ms``, ``12.3 s``, ``4 m 05 s``, ``2 h 10 m``, ``3 d 4 h``, ``14 d``."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.001 else f"{seconds * 1e6:.0f} µs"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} m"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def format_ago(ts: float | None, now: float | None = None) -> str:
    if ts is None:
        return "never"
    delta = (time.time() if now is None else now) - ts
    return "just now" if delta < 1 else f"{format_duration(delta)} ago"


def _status_icon(status: str) -> str:
    return STATUS_ICONS.get(status, ("•", status.capitalize()))[0]


def _status_word(status: str) -> str:
    return STATUS_ICONS.get(status, ("•", status.capitalize()))[1]


class Templates:
    """The Jinja2 environment of the hub; ``render`` makes an HTMLResponse."""

    def __init__(
        self,
        parts: Sequence[str] = (),
        *,
        nav: Sequence[tuple[str, str]] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        loaders: dict[str, jinja2.BaseLoader] = {
            "web": jinja2.PackageLoader("agentwatch.hub.web", "templates")
        }
        for part in parts:
            try:
                loaders[part] = jinja2.PackageLoader(f"agentwatch.hub.{part}", "templates")
            except ValueError:  # a part without templates
                continue
        self.env = jinja2.Environment(
            loader=jinja2.PrefixLoader(loaders, delimiter="/"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            when=format_time,
            duration=format_duration,
            ago=lambda ts: format_ago(ts, clock()),
            status_icon=_status_icon,
            status_word=_status_word,
        )
        self.env.globals["nav"] = tuple(nav)

    def render_text(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        refresh_seconds: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """``name`` rendered with ``context``, the request and the page's refresh period."""
        html = self.render_text(
            name, request=request, refresh_seconds=refresh_seconds, **(context or {})
        )
        all_headers = {"Cache-Control": "no-store", **(headers or {})}
        return HTMLResponse(html, status_code=status_code, headers=all_headers)
