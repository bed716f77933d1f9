"""A shields-style SVG badge of a monitor's status (text and colour, no external font)."""

from __future__ import annotations

from html import escape

__all__ = ["badge_svg"]

COLOURS = {"up": "#1a7f37", "degraded": "#9a6700", "down": "#cf222e", "maintenance": "#0969da"}
CHAR_WIDTH = 6.5  # px per character of 11px Verdana-like text, enough for a badge


def badge_svg(label: str, status: str) -> str:
    left = int(len(label) * CHAR_WIDTH + 12)
    right = int(len(status) * CHAR_WIDTH + 12)
    colour = COLOURS.get(status, "#57606a")
    label, status = escape(label), escape(status)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + right}" height="20" '
        f'role="img" aria-label="{label}: {status}"><title>{label}: {status}</title>'
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        f'<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="6" y="14">{label}</text><text x="{left + 6}" y="14">{status}</text></g></svg>'
    )
