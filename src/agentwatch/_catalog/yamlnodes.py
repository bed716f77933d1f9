"""Reading a YAML document node by node, each with its key path, for precise errors.

``At(node, "metrics[0].kind", "packs/x.yaml")`` reads one node; a wrong value raises
:class:`~agentwatch.ConfigurationError` naming the key path, the file and line, and what
is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import yaml

from .._exceptions import ConfigurationError

__all__ = ["At"]


@dataclass(frozen=True)
class At:
    """A YAML node with its key path and file, for error messages."""

    node: yaml.Node
    path: str
    source: str

    @property
    def where(self) -> str:
        return f"{self.source}:{self.node.start_mark.line + 1}"

    def fail(self, accepted: str, value: object = None) -> ConfigurationError:
        shown = value if value is not None else getattr(self.node, "value", None)
        if isinstance(shown, list):
            shown = "a list" if isinstance(self.node, yaml.SequenceNode) else "a mapping"
        return ConfigurationError(self.path or "the top level", shown, accepted, source=self.where)

    def child(self, key: str, node: yaml.Node) -> At:
        return At(node, f"{self.path}.{key}" if self.path else key, self.source)

    def mapping(self, allowed: Iterable[str], required: Iterable[str] = ()) -> dict[str, At]:
        if not isinstance(self.node, yaml.MappingNode):
            raise self.fail("a mapping")
        allowed = tuple(allowed)
        items: dict[str, At] = {}
        for key_node, value in self.node.value:
            key = str(key_node.value)
            if key not in allowed:
                raise At(key_node, self.child(key, key_node).path, self.source).fail(
                    "one of " + ", ".join(allowed), key
                )
            items[key] = self.child(key, value)
        for key in required:
            if key not in items:
                raise self.fail(f"a mapping with the key {key!r} (required: {', '.join(required)})")
        return items

    def items(self) -> list[At]:
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.fail("a list")
        return [
            At(node, f"{self.path}[{index}]", self.source)
            for index, node in enumerate(self.node.value)
        ]

    def pairs(self) -> list[tuple[str, At]]:
        if not isinstance(self.node, yaml.MappingNode):
            raise self.fail("a mapping")
        return [(str(k.value), self.child(str(k.value), v)) for k, v in self.node.value]

    def text(self, *, empty: bool = False) -> str:
        if not isinstance(self.node, yaml.ScalarNode) or (
            not empty and not str(self.node.value).strip()
        ):
            raise self.fail("a text value" if empty else "a non-empty text value")
        return str(self.node.value)

    def number(self) -> str:
        text = self.text()
        try:
            float(text)
        except ValueError:
            raise self.fail("a number") from None
        return text

    def whole(self, low: int = 0) -> int:
        text = self.text()
        if not text.isdigit() or int(text) < low:
            raise self.fail(f"a whole number >= {low}")
        return int(text)

    def choice(self, choices: tuple[str, ...]) -> str:
        text = self.text()
        if text not in choices:
            raise self.fail("one of " + ", ".join(choices))
        return text

    def texts(self) -> tuple[str, ...]:
        return tuple(item.text() for item in self.items())
