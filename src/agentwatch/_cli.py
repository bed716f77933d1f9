"""The ``agentwatch`` command line.

Each command lives beside the subsystem it drives and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (a callable taking the parsed arguments and
returning the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

from ._exceptions import AgentwatchError

__all__ = ["main"]


class Command(NamedTuple):
    module: str  # provides register(subparsers)
    extra: str  # the extra that brings what it needs
    summary: str


COMMANDS: dict[str, Command] = {
    "demo": Command("agentwatch.demo.cli", "demo", "run the demo agent service, hub and traffic"),
    "ops": Command("agentwatch.ops.cli", "ops", "generate and validate the operations folder"),
    "docs": Command("agentwatch._docs", "", "write the generated reference documents"),
    "hub": Command(
        "agentwatch.hub.cli", "hub", "run the hub: monitors, status pages, alerts, traces"
    ),
    "traces": Command(
        "agentwatch.hub.traces.cli", "hub", "list and show the traces stored in the hub"
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentwatch",
        description="Observability and operations kit for Python services that run AI agents.",
    )
    parser.add_argument("--version", action="version", version=f"agentwatch {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        try:
            importlib.import_module(command.module).register(subparsers)
        except ImportError as exc:  # an optional part not installed: the command says which
            if (exc.name or "").startswith("agentwatch"):
                raise
            _missing_extra(subparsers, name, command, exc)
    return parser


def _missing_extra(subparsers: Any, name: str, command: Command, exc: ImportError) -> None:
    hint = f"pip install 'agentwatch[{command.extra}]'"
    parser = subparsers.add_parser(name, help=f"{command.summary} (needs {hint})")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def refuse(_args: argparse.Namespace) -> int:
        print(f"agentwatch {name}: {exc.name or exc} is not installed: {hint}", file=sys.stderr)
        return 2

    parser.set_defaults(func=refuse)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agentwatch")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except AgentwatchError as exc:
        print(f"agentwatch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
