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

from ._exceptions import AgentwatchError

__all__ = ["main"]

# command name -> module providing register(subparsers)
COMMANDS: dict[str, str] = {
    "demo": "agentwatch.demo.cli",
    "ops": "agentwatch.ops.cli",
    "docs": "agentwatch._docs",
    "hub": "agentwatch.hub.cli",
    "traces": "agentwatch.hub.traces.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentwatch",
        description="Observability and operations kit for Python services that run AI agents.",
    )
    parser.add_argument("--version", action="version", version=f"agentwatch {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # an optional part not installed: say which extra
            if not (exc.name or "").startswith("agentwatch"):
                print(f"agentwatch: {module_name} unavailable ({exc})", file=sys.stderr)
            continue
        module.register(subparsers)
    return parser


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
