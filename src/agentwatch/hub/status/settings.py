"""The ``status_pages:`` section of hub.yaml.

```yaml
status_pages:
  - slug: public                     # the page is /status/public
    title: "Agent API"
    public: true                     # false: the page needs the API token
    description: "Live status of the agent API and its dependencies."
    monitors: [api, api-health]      # shown first, without a heading
    groups:                          # optional: named sections of the page
      - {name: "Data stores", monitors: [postgres, redis]}
    refresh: 60s                     # the page reloads itself this often (default 60s)
    incident_history: 14d            # resolved incidents shown this long (default 14d)
```

A monitor on a page is one of the file's ``monitors:`` (its name); a page shows at least one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config import Node

__all__ = ["PageGroup", "StatusPage", "StatusSettings", "parse"]

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
PAGE_KEYS = (
    "slug",
    "title",
    "public",
    "description",
    "monitors",
    "groups",
    "refresh",
    "incident_history",
)


@dataclass(frozen=True, slots=True)
class PageGroup:
    """A named section of a page (``name`` empty: the page's own monitors, no heading)."""

    name: str
    monitors: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class StatusPage:
    slug: str
    title: str
    public: bool = False
    description: str = ""
    groups: tuple[PageGroup, ...] = ()
    refresh_seconds: int = 60
    history_seconds: float = 14 * 86400.0

    @property
    def monitors(self) -> tuple[str, ...]:
        """Every monitor of the page, in page order, each once."""
        return tuple(dict.fromkeys(name for group in self.groups for name in group.monitors))


@dataclass(frozen=True, slots=True)
class StatusSettings:
    pages: tuple[StatusPage, ...] = ()

    def page(self, slug: str) -> StatusPage | None:
        return next((page for page in self.pages if page.slug == slug), None)

    def pages_showing(self, monitor: str) -> tuple[str, ...]:
        """Slugs of the pages that show ``monitor``."""
        return tuple(page.slug for page in self.pages if monitor in page.monitors)

    @property
    def monitors(self) -> frozenset[str]:
        """Every monitor shown on some page."""
        return frozenset(name for page in self.pages for name in page.monitors)


def _yaml_monitors(root: Node) -> set[str] | None:
    """Names of the file's monitors; None when the file has no ``monitors:`` list."""
    raw = root.data.get("monitors")
    if not isinstance(raw, list):
        return None
    return {str(item["name"]) for item in raw if isinstance(item, dict) and "name" in item}


def _names(node: Node, key: str, known: set[str] | None) -> tuple[str, ...]:
    names = node.str_list(key)
    for index, name in enumerate(names):
        if known is not None and name not in known:
            accepted = ", ".join(sorted(known)) or "(no monitors defined)"
            node.problem(
                f"{key}[{index}]",
                f"{name!r} is not a monitor of this file: expected one of {accepted}",
            )
    if len(set(names)) != len(names):
        node.problem(key, "names a monitor twice")
    return names


def _group(node: Node, known: set[str] | None) -> PageGroup:
    node.allow(("name", "monitors", "description"))
    return PageGroup(
        name=node.text("name"),
        monitors=_names(node, "monitors", known),
        description=node.text("description", ""),
    )


def _page(node: Node, known: set[str] | None) -> StatusPage | None:
    node.allow(PAGE_KEYS)
    slug = node.text("slug")
    if slug is not None and not SLUG.fullmatch(slug):
        node.problem(
            "slug",
            f"{slug!r} is not valid: expected lower-case letters, digits and dashes "
            "(1 to 64, not starting or ending with a dash)",
        )
    title = node.text("title")
    groups = [PageGroup("", _names(node, "monitors", known))] if node.has("monitors") else []
    groups += [_group(child, known) for child in node.children("groups")]
    if not any(group.monitors for group in groups):
        node.problem("monitors", "is required: a page shows at least one monitor")
    if slug is None or title is None:
        return None
    return StatusPage(
        slug=slug,
        title=title,
        public=node.flag("public", False),
        description=node.text("description", ""),
        groups=tuple(group for group in groups if group.monitors),
        refresh_seconds=max(1, round(node.duration("refresh", 60.0, minimum=5.0))),
        history_seconds=node.duration("incident_history", 14 * 86400.0, minimum=0.0),
    )


def parse(root: Node) -> StatusSettings:
    """``status_pages`` of the root node (problems recorded on it)."""
    known = _yaml_monitors(root)
    pages: list[StatusPage] = []
    nodes = root.children("status_pages")
    for node in nodes:
        page = _page(node, known)
        if page is None:
            continue
        if any(other.slug == page.slug for other in pages):
            node.problem("slug", f"{page.slug!r} is the slug of an earlier page: slugs are unique")
            continue
        pages.append(page)
    return StatusSettings(pages=tuple(pages))
