"""Which routes an alert takes and which group it joins, with Alertmanager's meaning.

The configured routes are the children of an implicit root that has no channels. A route
matches when all its matchers do; its children are tried in order, and the first child that
matches ends the search unless it says ``continue: true``; a route none of whose children
matched is itself the match (``dispatch/route.go``, ``Route.Match``). An alert that matches
no route is stored and listed, never sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from .config import RouteConfig
from .matchers import matches_all
from .model import fingerprint

__all__ = ["all_routes", "group_labels", "match_routes"]


def _match(route: RouteConfig, labels: Mapping[str, str]) -> list[RouteConfig]:
    if not matches_all(route.matchers, labels):
        return []
    found: list[RouteConfig] = []
    for child in route.routes:
        matched = _match(child, labels)
        found.extend(matched)
        if matched and not child.continue_:
            break
    return found or [route]


def match_routes(routes: Sequence[RouteConfig], labels: Mapping[str, str]) -> list[RouteConfig]:
    """The routes (at any depth) that ``labels`` take, in order; [] when none matches."""
    found: list[RouteConfig] = []
    for route in routes:
        matched = _match(route, labels)
        found.extend(matched)
        if matched and not route.continue_:
            break
    return found


def group_labels(route: RouteConfig, labels: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The labels that make the alert's group on ``route``, and their fingerprint."""
    names = route.timing.group_by
    chosen = dict(labels) if names is None else {n: labels[n] for n in names if n in labels}
    return chosen, fingerprint(chosen)


def all_routes(routes: Iterable[RouteConfig]) -> Iterator[RouteConfig]:
    """Every route of the tree, depth first."""
    for route in routes:
        yield route
        yield from all_routes(route.routes)
