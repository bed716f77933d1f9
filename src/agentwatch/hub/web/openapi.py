"""``/openapi.json``: the hub's API as OpenAPI 3.0, built from the routes.

Every route in the schema is listed, with or without a docstring. An endpoint's docstring
gives the operation: its first paragraph is the ``summary`` (and ``description``), and
YAML after a ``---`` line adds ``parameters``, ``requestBody``, ``responses``. Path
parameters (``{name}``) are declared from the path when the docstring does not. The API
and the OTLP intake are marked as needing the bearer token; status pages, badges and push
heartbeats as needing it only when private.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import Any

import yaml
from starlette.routing import BaseRoute
from starlette.schemas import SchemaGenerator

__all__ = ["openapi_document"]

_SPLIT = re.compile(r"\n[ \t]*---[ \t]*\n")
_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
ERROR = {
    "type": "object",
    "description": "Every refused request: the status, what is wrong, and the field it names.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "message": {"type": "string"},
                "field": {"type": "string", "nullable": True},
            },
            "required": ["status", "message"],
        }
    },
    "required": ["error"],
}


def openapi_document(routes: Sequence[BaseRoute], *, title: str, version: str) -> dict[str, Any]:
    """The OpenAPI document of ``routes`` (those with ``include_in_schema``)."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in SchemaGenerator({}).get_endpoints(list(routes)):
        path = _PARAM.sub(r"{\1}", endpoint.path)
        operation = _operation(endpoint.func, path)
        if endpoint.http_method in ("get", "head", "delete"):  # one handler, GET and POST
            operation.pop("requestBody", None)  # a body there is undefined in OpenAPI 3.0
        paths.setdefault(path, {})[endpoint.http_method] = operation
    return {
        "openapi": "3.0.3",
        "info": {
            "title": title,
            "version": version,
            "description": "Writes and private pages need `Authorization: Bearer <token>` "
            "(api.token_file); the alert intake takes intake.token_file. Every refused "
            "request is a JSON error naming the field.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR},
        },
    }


def _operation(func: Any, path: str) -> dict[str, Any]:
    text, spec = _docstring(func)
    operation: dict[str, Any] = {}
    if text:
        first = text.split("\n\n", 1)[0]
        operation["summary"] = " ".join(first.split())
        operation["description"] = text
    operation.update(spec)
    declared = {p.get("name") for p in operation.get("parameters", []) if p.get("in") == "path"}
    missing = [name for name in _PARAM.findall(path) if name not in declared]
    if missing:
        operation["parameters"] = [
            *(
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in missing
            ),
            *operation.get("parameters", []),
        ]
    responses = operation.setdefault("responses", {"200": {"description": "OK"}})
    operation["responses"] = {str(code): _response(code, r) for code, r in responses.items()}
    operation.setdefault("security", _security(path, operation["responses"]))
    return operation


def _security(path: str, responses: dict[str, Any]) -> list[dict[str, list[str]]]:
    """The API and the OTLP intake need the token (when one is configured); status pages,
    badges and push heartbeats only when private, so for them it is optional."""
    optional = path.startswith(("/api/v1/status", "/api/v1/push/", "/status/", "/badge/"))
    if optional:
        return [{"bearer": []}, {}]
    if path.startswith(("/api/", "/v1/")) or "401" in responses:
        return [{"bearer": []}]
    return []


def _response(code: object, response: Any) -> Any:
    if not isinstance(response, dict) or "content" in response or not str(code).startswith("4"):
        return response
    return {
        **response,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _docstring(func: Any) -> tuple[str, dict[str, Any]]:
    doc = getattr(func, "__doc__", None) or ""
    head, *tail = _SPLIT.split(doc, maxsplit=1)
    text = "\n".join(line.strip() for line in head.strip().splitlines()).strip()
    spec: dict[str, Any] = {}
    if tail and tail[0].strip():
        loaded = yaml.safe_load(textwrap.dedent(tail[0]))
        if isinstance(loaded, dict):
            spec = loaded
    return text, spec
