"""JSON errors that name the field, and reading a JSON request body.

Every API error has the same shape, so clients and tests read one thing::

    {"error": {"status": 400, "message": "interval: '5x' is not valid: expected ...",
               "field": "interval"}}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = [
    "ApiError",
    "api_error_response",
    "database_error_response",
    "http_error_response",
    "int_param",
    "read_json",
    "read_json_object",
]

MAX_BODY = 10 * 1024 * 1024
_log = logging.getLogger("agentwatch.hub")

_Default = TypeVar("_Default", int, None)


class ApiError(Exception):
    """A request the hub refuses: an HTTP status, a message, and the field at fault."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return JSONResponse({"error": body}, status_code=self.status, headers=self.headers)


def int_param(
    request: Request, key: str, default: _Default, maximum: int, *, blank: bool = False
) -> int | _Default:
    """Query parameter ``key`` as 1 to ``maximum``; ``default`` when absent (or empty, with
    ``blank``); a 400 naming the key otherwise."""
    raw = request.query_params.get(key)
    if raw is None or (blank and raw == ""):
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ApiError(400, f"{key}: {raw!r} is not valid: expected 1 to {maximum}", field=key)
    return int(raw)


async def api_error_response(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def http_error_response(request: Request, exc: Exception) -> Response:
    """Starlette's 404 / 405 as the same JSON shape (HTML pages render their own)."""
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "error"
    if exc.status_code == 404:
        message = f"no such path: {request.url.path}"
    return ApiError(exc.status_code, message, headers=exc.headers).response()


async def database_error_response(_request: Request, exc: Exception) -> Response:
    """The database refused or went away (Postgres restarting, the file's disk gone): a
    503 in the JSON shape of every error, its reason in the log only (a public page's API
    would show where the database lives); it was Starlette's plain "Internal Server Error"."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    _log.warning("a request failed, the database is unavailable: %s", reason)
    return ApiError(
        503,
        "the hub's database is unavailable (the hub's log says why)",
        headers={"Retry-After": "5"},
    ).response()


async def read_json(request: Request) -> Any:
    """The request body as JSON; 400 naming the problem, 413 when too large."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiError(413, f"request body of {len(body)} bytes is over {MAX_BODY}")
    if not body:
        raise ApiError(400, "request body is empty: expected JSON")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None


async def read_json_object(
    request: Request, accepted: Sequence[str] | None = None
) -> dict[str, Any]:
    """The request body as a JSON object; with ``accepted``, a key outside it is a 400
    naming it (a typo such as ``monitor`` for ``monitors`` is not dropped silently)."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ApiError(400, f"request body is a JSON {type(data).__name__}: expected an object")
    unknown = [key for key in data if accepted is not None and key not in accepted]
    if unknown:
        raise ApiError(
            400,
            f"{unknown[0]}: unknown key; accepted here: {', '.join(accepted or ())}",
            field=unknown[0],
        )
    return data
