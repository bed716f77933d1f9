"""Monitors as the API and the pages show them: secrets masked, uptime attached."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..parts import MonitorState

__all__ = [
    "UPTIME_WINDOWS",
    "EncodedListing",
    "monitor_json",
    "public_spec",
    "spec_of",
    "state_of",
]

UPTIME_WINDOWS = {"24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0, "90d": 90 * 86400.0}
_SECRET_KEYS = ("dsn", "token", "password")
_SECRET_HEADERS = re.compile(r"authorization|token|key|secret|cookie", re.IGNORECASE)
_ENV_ONLY = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}")


def public_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The monitor as written, with inline secrets masked (``${ENV}`` and ``*_file`` stay)."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if key in _SECRET_KEYS and isinstance(value, str) and not _ENV_ONLY.fullmatch(value):
            out[key] = "<secret>"
        elif key == "url" and isinstance(value, str):
            out[key] = re.sub(r"//([^/@:]*):([^/@]*)@", _mask_password, value)
        elif key == "headers" and isinstance(value, Mapping):
            out[key] = {
                name: "<secret>"
                if _SECRET_HEADERS.search(str(name)) and not _ENV_ONLY.search(str(text))
                else text
                for name, text in value.items()
            }
        else:
            out[key] = value
    return out


def _mask_password(match: re.Match[str]) -> str:
    """A URL's inline password masked; a ``${ENV}`` one is a reference and stays."""
    user, password = match.groups()
    return match.group(0) if _ENV_ONLY.fullmatch(password) else f"//{user}:<secret>@"


def spec_of(row: Any) -> Mapping[str, Any]:
    """A state row's spec (its JSON text in a :data:`~.store.LISTED` row)."""
    spec = row.spec
    return dict(json.loads(spec)) if isinstance(spec, str) else (spec or {})


class EncodedListing:
    """``{"monitors": [...]}`` as bytes, each monitor encoded once per what it says: between
    two listings of 1,000 monitors checked every 10 s only those checked meanwhile changed
    (their row or uptime), and encoding was most of a listing's time."""

    def __init__(self) -> None:
        self._kept: dict[tuple[Any, ...], bytes] = {}

    def body(self, rows: Sequence[Any], uptime: Mapping[str, Mapping[str, float | None]]) -> bytes:
        kept: dict[tuple[Any, ...], bytes] = {}
        for row in rows:  # a listing's row holds only hashable values (LISTED: spec as text)
            shown = uptime[row.name]
            key = (row, *shown.values())
            part = self._kept.get(key)
            kept[key] = part if part is not None else _encode(monitor_json(row, shown))
        self._kept = kept  # monitors gone or changed are forgotten
        return b'{"monitors":[' + b",".join(kept.values()) + b"]}"


def _encode(body: Mapping[str, Any]) -> bytes:
    """As Starlette's JSONResponse encodes."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def state_of(row: Any) -> MonitorState:
    return MonitorState(
        name=row.name,
        type=row.type,
        status=row.status,
        last_check=row.last_check,
        latency_ms=row.latency_ms,
        message=row.message,
        cause=row.cause,
        trace_id=row.trace_id,
        description=str(spec_of(row).get("description", "")),
    )


def monitor_json(
    row: Any, uptime: Mapping[str, float | None], *, detail: bool = False
) -> dict[str, Any]:
    spec = spec_of(row)
    body: dict[str, Any] = {
        "name": row.name,
        "type": row.type,
        "status": row.status,
        "since": row.since,
        "latency_ms": row.latency_ms,
        "last_check": row.last_check,
        "message": row.message,
        "cause": row.cause,
        "trace_id": row.trace_id,
        "owner": row.owner,
        "paused": row.paused,
        "description": spec.get("description", ""),
        "labels": spec.get("labels", {}),
        "uptime": dict(uptime),
    }
    if detail:
        body["components"] = row.components or {}
        body["spec"] = public_spec(spec)
    return body
