"""Query parameters of the trace API and pages, read into a TraceFilter (400 naming the field)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from ..config import parse_duration
from ..web import ApiError
from .queries import MAX_LIMIT, TraceFilter, decode_cursor

__all__ = ["parse_time", "trace_filter"]


def parse_time(field: str, text: str, now: float) -> int:
    """Unix nanoseconds from RFC 3339, unix seconds, or a duration ago (``1h``)."""
    text = text.strip()
    ago = parse_duration(text)
    if ago is not None and not text.replace(".", "", 1).isdigit():
        return int((now - ago) * 1e9)
    try:
        return int(float(text) * 1e9)
    except ValueError:
        pass
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1e9)
    except ValueError:
        raise ApiError(
            400,
            f"{field}={text!r} is not a time: expected RFC 3339, unix seconds or a duration ago such as 1h",
            field=field,
        ) from None


def _duration_ns(field: str, text: str) -> int:
    seconds = parse_duration(text)
    if seconds is None:
        raise ApiError(
            400, f"{field}={text!r} is not a duration: expected e.g. 250ms, 2s, 1m", field=field
        )
    return int(seconds * 1e9)


def _limit(text: str | None, default: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise ApiError(
            400, f"limit={text!r}: expected an integer from 1 to {MAX_LIMIT}", field="limit"
        )
    return int(text)


def trace_filter(
    params: Mapping[str, str], clock: Callable[[], float], *, default_limit: int = 50
) -> TraceFilter:
    now = clock()
    status = params.get("status") or None
    if status not in (None, "error", "ok"):
        raise ApiError(400, f"status={status!r}: expected error or ok", field="status")
    cursor = None
    if params.get("cursor"):
        cursor = decode_cursor(params["cursor"])
        if cursor is None:
            raise ApiError(400, "cursor is not one this hub gave out", field="cursor")
    return TraceFilter(
        service=params.get("service") or None,
        status=status,
        route=params.get("route") or None,
        operation=params.get("operation") or None,
        min_duration_ns=_duration_ns("min_duration", params["min_duration"])
        if params.get("min_duration")
        else None,
        max_duration_ns=_duration_ns("max_duration", params["max_duration"])
        if params.get("max_duration")
        else None,
        since_ns=parse_time("since", params["since"], now) if params.get("since") else None,
        until_ns=parse_time("until", params["until"], now) if params.get("until") else None,
        q=params.get("q") or None,
        limit=_limit(params.get("limit"), default_limit),
        cursor=cursor,
    )
