"""Silences: matchers and a time window; a silenced firing alert is not notified.

``POST /api/v1/silences`` with ``{"matchers": ["alertname=DiskFull"], "duration": "2h",
"comment": "disk being replaced", "createdBy": "ana"}`` (or ``startsAt``/``endsAt``), or
``agentwatch hub silence add --match alertname=DiskFull --for 2h``. Expiring a silence
ends it now; its row stays for the record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from ..config import parse_duration
from ..web import ApiError
from .matchers import MatcherError, parse_matcher
from .message import iso
from .muting import Silence
from .tables import silences

__all__ = [
    "SILENCE_KEYS",
    "active_silences",
    "add_silence",
    "expire_silence",
    "list_silences",
    "parse_silence",
]


def _silence(row: Any) -> Silence:
    return Silence(
        id=row.id,
        matchers=tuple(parse_matcher(m) for m in row.matchers),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        comment=row.comment,
    )


def public(silence: Silence, now: float) -> dict[str, Any]:
    state = (
        "active"
        if silence.starts_at <= now < silence.ends_at
        else ("pending" if now < silence.starts_at else "expired")
    )
    return {
        "id": silence.id,
        "matchers": [str(m) for m in silence.matchers],
        "startsAt": iso(silence.starts_at),
        "endsAt": iso(silence.ends_at),
        "createdBy": silence.created_by,
        "comment": silence.comment,
        "state": state,
    }


async def active_silences(conn: AsyncConnection, now: float) -> list[Silence]:
    rows = await conn.execute(
        sa.select(silences).where(silences.c.ends_at > now, silences.c.starts_at <= now)
    )
    return [_silence(r) for r in rows]


async def list_silences(
    conn: AsyncConnection, now: float, *, expired: bool = False
) -> list[Silence]:
    query = sa.select(silences).order_by(silences.c.id.desc()).limit(500)
    if not expired:
        query = query.where(silences.c.ends_at > now)
    return [_silence(r) for r in await conn.execute(query)]


def _when(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{key}: {value!r} is not valid: expected an RFC 3339 time", field=key)
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ApiError(
            400, f"{key}: {value!r} is not valid: expected an RFC 3339 time", field=key
        ) from None


SILENCE_KEYS = ("matchers", "duration", "startsAt", "endsAt", "createdBy", "comment")


def parse_silence(body: dict[str, Any], now: float) -> dict[str, Any]:
    """The row values of a silence from a request body (400 naming the field)."""
    matchers = body.get("matchers")
    if (
        not isinstance(matchers, list)
        or not matchers
        or not all(isinstance(m, str) for m in matchers)
    ):
        raise ApiError(
            400, 'matchers: is required: a list such as ["alertname=DiskFull"]', field="matchers"
        )
    for index, text in enumerate(matchers):
        try:
            parse_matcher(text)
        except MatcherError as exc:
            raise ApiError(400, f"matchers[{index}]: {exc}", field=f"matchers[{index}]") from None
    starts = _when(body, "startsAt") or now
    ends = _when(body, "endsAt")
    if ends is None:
        raw = body.get("duration")
        seconds = parse_duration(raw)
        if raw is None:
            raise ApiError(
                400, 'duration: is required (e.g. "2h") unless endsAt is given', field="duration"
            )
        if not seconds:
            raise ApiError(
                400,
                f"duration: {raw!r} is not valid: expected a duration above zero such as "
                "30m, 2h, 1d or 1w",
                field="duration",
            )
        ends = starts + seconds
    if ends <= starts:
        raise ApiError(400, "endsAt: must be after startsAt", field="endsAt")
    by, comment = body.get("createdBy", ""), body.get("comment", "")
    for key, value in (("createdBy", by), ("comment", comment)):
        if not isinstance(value, str):
            raise ApiError(400, f"{key}: {value!r} is not a string", field=key)
    return {
        "matchers": [str(parse_matcher(m)) for m in matchers],
        "starts_at": starts,
        "ends_at": ends,
        "created_by": by[:200],
        "comment": comment,
        "created_at": now,
    }


async def add_silence(conn: AsyncConnection, values: dict[str, Any]) -> int:
    result = await conn.execute(sa.insert(silences).values(**values).returning(silences.c.id))
    return int(result.scalar_one())


async def expire_silence(conn: AsyncConnection, silence_id: int, now: float) -> bool:
    """End the silence now; False when there is no such silence."""
    row = (await conn.execute(sa.select(silences).where(silences.c.id == silence_id))).first()
    if row is None:
        return False
    if row.ends_at > now:
        await conn.execute(
            sa.update(silences)
            .where(silences.c.id == silence_id)
            .values(ends_at=max(now, row.starts_at))
        )
    return True
