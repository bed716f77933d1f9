"""``agentwatch docs``: write the generated references (metrics, configuration)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._catalog import render_reference
from ._settings import OPTIONS

__all__ = ["register", "render_configuration"]


def render_configuration() -> str:
    """The settings table in Markdown (``docs/configuration.md``)."""
    lines = [
        "# Configuration",
        "",
        "Generated from `agentwatch._settings.OPTIONS` by `agentwatch docs`; a test keeps it current.",
        "Each option is taken from the argument to `init()`, then the first environment",
        "variable listed that is set, then the default.",
        "",
        "| option | environment | default | accepted | meaning |",
        "|---|---|---|---|---|",
    ]
    for option in OPTIONS:
        env = ", ".join(f"`{name}`" for name in option.env)
        default = "—" if option.default in (None, (), {}) else f"`{option.default!r}`"
        lines.append(f"| `{option.name}` | {env} | {default} | {option.accepted} | {option.doc} |")
    return "\n".join(lines) + "\n"


def write_docs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        ("metrics.md", render_reference() + "\n"),
        ("configuration.md", render_configuration()),
    ):
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _run(args: argparse.Namespace) -> int:
    for path in write_docs(Path(args.out)):
        print(f"wrote {path}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("docs", help="write the metric and configuration references")
    parser.add_argument("--out", default="docs", help="folder to write into (default: docs)")
    parser.set_defaults(func=_run)
