"""Each monitor's piece of a status page (``_monitor.html``), rendered once per what it shows.

A page of 1,000 monitors is 1,000 renderings of the piece, about 110 ms on every request,
while between two builds almost every monitor shows the same. The piece shows the
monitor's name, status, description, cause (when not up), the check's message (when not
up, and to an operator only: it names the probe's target) and its bars (uptime, runs, the
days table), not its last check: kept under those, a page is its wrapper around strings
already made. Visitors' and operators' pieces are kept apart (an operator's visit does
not make every visitor's piece render again). The bars are compared by identity: ``view.py`` hands
back the same bars object for the same days (and the piece kept holds it, so the identity
cannot be reused by another object).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import jinja2
from markupsafe import Markup

from ..parts import MonitorState
from .view import DayBar, MonitorView

__all__ = ["Fragments"]

TEMPLATE = "status/_monitor.html"


class _Shown(NamedTuple):
    """What of a monitor's state its piece shows."""

    name: str
    status: str
    description: str
    message: str | None
    cause: str | None


def _shown(state: MonitorState, operator: bool) -> _Shown:
    down = state.status != "up"  # message and cause are shown only then
    return _Shown(
        state.name,
        state.status,
        state.description,
        state.message if down and operator else None,
        state.cause if down else None,
    )


class _Piece(NamedTuple):
    shown: _Shown
    bars: tuple[DayBar, ...]
    html: Markup


class Fragments:
    """The rendered pieces of each page's monitors (only those of its last render)."""

    def __init__(self, env: jinja2.Environment) -> None:
        self._env = env
        self._pages: dict[tuple[str, bool], dict[str, _Piece]] = {}

    def of(
        self, slug: str, monitors: Iterable[MonitorView], *, operator: bool = False
    ) -> dict[str, Markup]:
        """Monitor name -> its rendered piece, for page ``slug`` as a visitor sees it (or
        an operator, ``operator``: with the check messages)."""
        template = self._env.get_template(TEMPLATE)
        before = self._pages.get((slug, operator), {})
        pieces: dict[str, _Piece] = {}
        for m in monitors:
            shown = _shown(m.state, operator)
            piece = before.get(m.name)
            if piece is None or piece.bars is not m.bars or piece.shown != shown:
                html = Markup(template.render(m=m, operator=operator))
                piece = _Piece(shown, m.bars, html)
            pieces[m.name] = piece
        self._pages[(slug, operator)] = pieces
        return {name: piece.html for name, piece in pieces.items()}
