"""A status page's incidents as an Atom feed (``/status/{slug}/feed.atom``), for feed readers
and the chat tools that follow feeds: one entry per incident, updated with its timeline."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from .incidents import Incident, iso
from .view import PageView

__all__ = ["atom_feed"]

_WORDS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}


def _entry(incident: Incident, page_url: str) -> str:
    link = f"{page_url}#incident-{incident.id}"
    word = _WORDS.get(incident.status, incident.status)
    timeline = "".join(
        f"<p><strong>{escape(_WORDS.get(u.status, u.status))}</strong> "
        f"({escape(iso(u.at) or '')}): {escape(u.message)}</p>"
        for u in reversed(incident.updates)
    )
    return (
        "<entry>"
        f"<title>{escape(f'[{word}] {incident.title}')}</title>"
        f"<id>{escape(link)}</id>"
        f"<link href={quoteattr(link)}/>"
        f"<published>{iso(incident.opened_at)}</published>"
        f"<updated>{iso(incident.updated_at)}</updated>"
        f'<content type="html">{escape(timeline)}</content>'
        "</entry>"
    )


def atom_feed(view: PageView, incidents: Sequence[Incident] | None = None) -> str:
    """The feed of ``view``'s current and recent incidents, most recently updated first."""
    chosen = list(incidents if incidents is not None else (*view.active, *view.recent))
    chosen.sort(key=lambda i: i.updated_at, reverse=True)
    updated = iso(chosen[0].updated_at if chosen else view.now)
    self_link = f"{view.url}/feed.atom"
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(view.page.title)} status</title>"
        f"<id>{escape(view.url)}</id>"
        f"<link href={quoteattr(view.url)}/>"
        f'<link rel="self" href={quoteattr(self_link)}/>'
        f"<updated>{updated}</updated>"
        "<author><name>agentwatch hub</name></author>"
        + "".join(_entry(i, view.url) for i in chosen)
        + "</feed>\n"
    )
