"""Request bodies of the incident API, read with the config file's readers (one schema).

The first problem becomes a 400 :class:`ApiError` naming the field::

    {"error": {"status": 400, "field": "status",
               "message": "status: 'fixed' is not valid: expected one of investigating, ..."}}
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import Node, root
from ..web import ApiError
from .incidents import IMPACTS, RESOLVED, STATUSES, NewIncident

__all__ = ["IncidentEdit", "incident_edit", "new_incident", "resolution"]

MAX_TITLE = 300
MAX_MESSAGE = 20_000
MAX_BY = 200


@dataclass(frozen=True, slots=True)
class IncidentEdit:
    """An update of the timeline (and optionally of the title and impact)."""

    message: str
    by: str
    status: str | None = None  # None: keep the incident's
    impact: str | None = None
    title: str | None = None


def _node(data: Mapping[str, Any], allowed: Collection[str]) -> Node:
    node = root(data, file="", environ={})
    node.allow(allowed)
    return node


def _raise_first(node: Node) -> None:
    if node.problems:
        problem = node.problems[0]
        raise ApiError(400, str(problem), field=problem.path or None)


def _text(node: Node, key: str, default: Any, maximum: int) -> Any:
    value = node.text(key, default, expand=False)
    if isinstance(value, str):
        value = value.strip()
        if not value and default is not None and default != "":
            node.problem(key, "is empty: expected some text")
        elif len(value) > maximum:
            node.problem(key, f"is {len(value)} characters long: at most {maximum}")
    return value


def _names(node: Node, key: str, known: Collection[str], what: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(node.str_list(key)))
    for index, name in enumerate(names):
        if name not in known:
            accepted = ", ".join(sorted(known)) or f"(no {what}s)"
            node.problem(f"{key}[{index}]", f"{name!r} is not a {what}: expected one of {accepted}")
    return names


_REQUIRED: Any = ...


def new_incident(
    data: Mapping[str, Any], *, monitors: Collection[str], pages: Collection[str]
) -> NewIncident:
    """``POST /api/v1/incidents``: title and message required; status, impact, monitors,
    pages and by optional."""
    node = _node(data, ("title", "message", "status", "impact", "monitors", "pages", "by"))
    title: str = _text(node, "title", _REQUIRED, MAX_TITLE) if node.has("title") else ""
    if not node.has("title"):
        node.problem("title", "is required: a short name of the incident")
    message: str = _text(node, "message", _REQUIRED, MAX_MESSAGE) if node.has("message") else ""
    if not node.has("message"):
        node.problem("message", "is required: what is known so far")
    status = node.choice("status", STATUSES, "investigating")
    impact = node.choice("impact", IMPACTS, "major")
    chosen_monitors = _names(node, "monitors", monitors, "monitor")
    chosen_pages = _names(node, "pages", pages, "status page")
    by = _text(node, "by", "api", MAX_BY) or "api"
    _raise_first(node)
    return NewIncident(
        title=title,
        message=message,
        by=by,
        status=status,
        impact=impact,
        pages=chosen_pages,
        monitors=chosen_monitors,
    )


def incident_edit(data: Mapping[str, Any]) -> IncidentEdit:
    """``POST /api/v1/incidents/{id}/updates``: message required; status, impact, title, by."""
    node = _node(data, ("message", "status", "impact", "title", "by"))
    message: str = _text(node, "message", _REQUIRED, MAX_MESSAGE) if node.has("message") else ""
    if not node.has("message"):
        node.problem("message", "is required: what changed")
    status = node.choice("status", STATUSES, None)
    impact = node.choice("impact", IMPACTS, None)
    title = _text(node, "title", None, MAX_TITLE)
    by = _text(node, "by", "api", MAX_BY) or "api"
    _raise_first(node)
    return IncidentEdit(message=message, by=by, status=status, impact=impact, title=title or None)


def resolution(data: Mapping[str, Any]) -> IncidentEdit:
    """``POST /api/v1/incidents/{id}/resolve``: message and by optional (the body may be empty)."""
    node = _node(data, ("message", "by"))
    message = _text(node, "message", "", MAX_MESSAGE) or "This incident has been resolved."
    by = _text(node, "by", "api", MAX_BY) or "api"
    _raise_first(node)
    return IncidentEdit(message=message, by=by, status=RESOLVED)
