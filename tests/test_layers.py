"""The dependency rule of docs/architecture.md: no module imports a layer above its own.

Every import of every module under ``src/agentwatch`` is read with ``ast`` (those inside
functions and ``if TYPE_CHECKING:`` blocks too) and resolved to the part of the package it
names; a part may import its own folder, its own layer and the layers below it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import agentwatch

PACKAGE = Path(agentwatch.__file__).parent
ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

# top first; the same table is drawn in docs/architecture.md
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the command line", ("agentwatch.__main__", "agentwatch._cli")),
    ("commands", ("agentwatch.demo", "agentwatch.ops", "agentwatch.hub", "agentwatch._docs")),
    ("the public API", ("agentwatch",)),
    ("init()", ("agentwatch._init",)),
    ("what init() attaches", ("agentwatch.health", "agentwatch._integrations")),
    ("GenAI instrumentation", ("agentwatch._genai",)),
    ("the request", ("agentwatch._asgi",)),
    ("propagation", ("agentwatch.propagation",)),
    ("tracing", ("agentwatch._tracing",)),
    ("logs", ("agentwatch._logs",)),
    ("export", ("agentwatch._export",)),
    ("errors", ("agentwatch._sentry",)),
    ("core", ("agentwatch._metrics", "agentwatch._state", "agentwatch.testing")),
    (
        "foundation",
        (
            "agentwatch._settings",
            "agentwatch._catalog",
            "agentwatch._redact",
            "agentwatch._semconv",
            "agentwatch._compat",
            "agentwatch._exceptions",
        ),
    ),
)
LEVEL = {part: level for level, (_, parts) in enumerate(LAYERS) for part in parts}


class Import(NamedTuple):
    module: str  # the importing module, dotted
    line: int
    target: str  # the agentwatch module it imports, dotted


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def part_of(module: str) -> str | None:
    """The entry of LAYERS a module belongs to (the longest that names it or a parent)."""
    while module not in LEVEL:
        if "." not in module:
            return None
        module = module.rsplit(".", 1)[0]
    return module


def imports(module: str, path: Path) -> Iterator[Import]:
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "agentwatch":
                    yield Import(module, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source.split(".")[0] != "agentwatch":
                continue
            for alias in node.names:  # `from agentwatch import _init` imports a submodule
                submodule = f"{source}.{alias.name}"
                yield Import(module, node.lineno, submodule if submodule in MODULES else source)


def every_import() -> list[Import]:
    return [found for module, path in MODULES.items() for found in imports(module, path)]


def test_every_module_has_a_layer() -> None:
    homeless = sorted(module for module in MODULES if part_of(module) is None)
    assert not homeless, (
        f"{homeless} belong to no layer: add them to LAYERS here and to docs/architecture.md"
    )


def test_no_module_imports_a_higher_layer() -> None:
    broken = []
    for found in every_import():
        source, target = part_of(found.module), part_of(found.target)
        assert source is not None and target is not None, found
        if LEVEL[target] < LEVEL[source]:
            broken.append(
                f"{MODULES[found.module].relative_to(PACKAGE.parent)}:{found.line} imports "
                f"{found.target}: {LAYERS[LEVEL[source]][0]!r} is below "
                f"{LAYERS[LEVEL[target]][0]!r}"
            )
    assert not broken, "the dependency rule of docs/architecture.md:\n" + "\n".join(broken)


def test_the_rule_reads_every_kind_of_import() -> None:
    # a lazy import inside a function, a relative one, a submodule named by `from . import`
    found = {(i.module, i.target) for i in every_import()}
    assert ("agentwatch._init", "agentwatch._metrics.registry") in found
    assert ("agentwatch._integrations.mcp", "agentwatch.propagation") in found
    assert ("agentwatch._integrations.wiring", "agentwatch._genai.budget") in found


def test_the_architecture_document_draws_every_folder() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = [
        part
        for _, parts in LAYERS
        for part in parts
        if part != "agentwatch" and f"`{part.removeprefix('agentwatch.')}" not in text
    ]
    assert not missing, f"docs/architecture.md does not mention {missing}"


def test_no_module_is_over_500_lines() -> None:
    long = {
        name: lines
        for name, path in MODULES.items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert not long, f"split these by meaning (most modules stay under 400 lines): {long}"


def test_the_top_level_keeps_at_most_12_private_modules() -> None:
    # modules, and the two packages that stand for modules of the design's top level (the
    # settings and the catalog, split by meaning); the subsystems' folders are not counted
    private = sorted(
        path.name
        for path in PACKAGE.iterdir()
        if path.name.startswith("_")
        and "__" not in path.name
        and (path.suffix == ".py" or path.name in ("_settings", "_catalog"))
    )
    assert len(private) <= 12, f"give these a folder of their subsystem: {private}"
