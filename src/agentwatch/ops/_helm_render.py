"""Render the generated Helm chart without ``helm``: the subset of Helm's template language
the chart is written in, so ``ops validate`` can check every manifest it would install.

The subset: actions ``{{ pipeline }}`` with the trim markers ``{{-`` and ``-}}``;
``if`` / ``else if`` / ``else`` / ``end`` and ``define`` (in ``_helpers.tpl``); pipelines of
fields (``.Values.image.tag``, ``.Release.Name``, ``.Chart.Name``, ``.``), string and number
literals, parenthesised pipelines and the functions ``include``, ``default``, ``quote``,
``toYaml``, ``indent``, ``nindent``, ``trunc``, ``trimSuffix``, ``printf`` (``%s``, ``%d``),
``contains``, ``eq``, ``not`` and ``required``. Anything else raises :class:`HelmTemplateError`
naming the template and the action, so the chart cannot drift outside what is checked.
Semantics follow Helm's (Go ``text/template`` with Sprig): empty values are false, missing
keys render as nothing, ``toYaml`` has no trailing newline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from .._exceptions import OpsError

__all__ = ["HelmTemplateError", "RenderedChart", "RenderedManifest", "render_chart"]

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(
    r'\s*("(?:[^"\\]|\\.)*"|\(|\)|\||\.[A-Za-z0-9_.]*|-?\d+|[A-Za-z_][A-Za-z0-9_]*)'
)


class HelmTemplateError(OpsError):
    """A template uses something outside the supported subset, or fails to render."""


@dataclass
class _Node:
    kind: str  # text | expr | if | define
    value: str = ""
    branches: list[tuple[str | None, list[_Node]]] = field(default_factory=list)
    body: list[_Node] = field(default_factory=list)


def _lex(source: str) -> list[tuple[str, str]]:
    """[("text", s) | ("action", s)] with the trim markers applied to the text around."""
    out: list[tuple[str, str]] = []
    pos, trim_next = 0, False
    for match in _ACTION.finditer(source):
        text = source[pos : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        out.append(("text", text))
        out.append(("action", match.group(2).strip()))
        trim_next, pos = bool(match.group(3)), match.end()
    tail = source[pos:]
    out.append(("text", tail.lstrip() if trim_next else tail))
    return out


def _parse(items: list[tuple[str, str]], name: str) -> tuple[list[_Node], dict[str, list[_Node]]]:
    defines: dict[str, list[_Node]] = {}
    stack: list[tuple[_Node, list[_Node]]] = []
    root: list[_Node] = []
    current = root
    for kind, value in items:
        if kind == "text":
            if value:
                current.append(_Node("text", value))
            continue
        if value.startswith("/*"):
            continue  # a comment
        word = value.split(None, 1)[0] if value else ""
        rest = value[len(word) :].strip()
        if word == "if":
            node = _Node("if", branches=[(rest, [])])
            current.append(node)
            stack.append((node, current))
            current = node.branches[-1][1]
        elif word == "else":
            if not stack or stack[-1][0].kind != "if":
                raise HelmTemplateError(f"{name}: 'else' outside 'if'")
            node = stack[-1][0]
            condition = rest[3:].strip() if rest.startswith("if ") else None
            node.branches.append((condition, []))
            current = node.branches[-1][1]
        elif word == "define":
            node = _Node("define", value=json.loads(rest))
            stack.append((node, current))
            current = node.body
        elif word == "end":
            if not stack:
                raise HelmTemplateError(f"{name}: 'end' without a block")
            node, current = stack.pop()
            if node.kind == "define":
                defines[node.value] = node.body
        elif word in ("range", "with", "template", "block", "tpl"):
            raise HelmTemplateError(f"{name}: {{{{ {value} }}}} is outside the supported subset")
        else:
            current.append(_Node("expr", value))
    if stack:
        raise HelmTemplateError(f"{name}: a block is not closed with 'end'")
    return root, defines


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and not (isinstance(value, (dict, list)) and not value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _to_yaml(value: Any) -> str:
    if value is None:
        return "null"
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False, width=1000).rstrip("\n")


def _indent(width: int, text: Any) -> str:
    pad = " " * int(width)
    return "\n".join(pad + line for line in _text(text).split("\n"))


def _printf(fmt: str, *args: Any) -> str:
    parts = iter(args)
    return re.sub(r"%[sdv]", lambda _m: _text(next(parts, "")), fmt)


def _required(message: str, value: Any) -> Any:
    if not _truthy(value):
        raise HelmTemplateError(f"required value missing: {message}")
    return value


class _Renderer:
    def __init__(self, context: Mapping[str, Any], defines: dict[str, list[_Node]]) -> None:
        self.context = context
        self.defines = defines
        self.functions: dict[str, Callable[..., Any]] = {
            "include": self._include,
            "default": lambda fallback, value=None: value if _truthy(value) else fallback,
            "quote": lambda value: json.dumps(_text(value)),
            "toYaml": _to_yaml,
            "indent": _indent,
            "nindent": lambda width, text: "\n" + _indent(width, text),
            "trunc": lambda width, text: _text(text)[: int(width)],
            "trimSuffix": lambda suffix, text: _text(text).removesuffix(suffix),
            "printf": _printf,
            "contains": lambda needle, haystack: _text(needle) in _text(haystack),
            "eq": lambda a, b: a == b,
            "not": lambda value: not _truthy(value),
            "required": _required,
        }

    def _include(self, name: str, _context: Any) -> str:
        if name not in self.defines:
            raise HelmTemplateError(f"include of undefined template {name!r}")
        return self.render(self.defines[name])

    def render(self, nodes: list[_Node]) -> str:
        out = []
        for node in nodes:
            if node.kind == "text":
                out.append(node.value)
            elif node.kind == "expr":
                out.append(_text(self.evaluate(node.value)))
            elif node.kind == "if":
                for condition, body in node.branches:
                    if condition is None or _truthy(self.evaluate(condition)):
                        out.append(self.render(body))
                        break
        return "".join(out)

    def evaluate(self, expression: str) -> Any:
        tokens = _tokens(expression)
        value, rest = self._pipeline(tokens)
        if rest:
            raise HelmTemplateError(f"unexpected {rest[0]!r} in {{{{ {expression} }}}}")
        return value

    def _pipeline(self, tokens: list[str]) -> tuple[Any, list[str]]:
        value, tokens = self._command(tokens, None, piped=False)
        while tokens and tokens[0] == "|":
            value, tokens = self._command(tokens[1:], value, piped=True)
        return value, tokens

    def _command(
        self, tokens: list[str], piped_value: Any, *, piped: bool
    ) -> tuple[Any, list[str]]:
        if not tokens:
            raise HelmTemplateError("empty command")
        head = tokens[0]
        if head in self.functions:
            args: list[Any] = []
            tokens = tokens[1:]
            while tokens and tokens[0] not in ("|", ")"):
                arg, tokens = self._operand(tokens)
                args.append(arg)
            if piped:
                args.append(piped_value)
            return self.functions[head](*args), tokens
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", head) and head not in ("true", "false", "nil"):
            raise HelmTemplateError(f"function {head!r} is outside the supported subset")
        if piped:
            raise HelmTemplateError(f"cannot pipe into {head!r}")
        return self._operand(tokens)

    def _operand(self, tokens: list[str]) -> tuple[Any, list[str]]:
        head, rest = tokens[0], tokens[1:]
        if head == "(":
            value, rest = self._pipeline(rest)
            if not rest or rest[0] != ")":
                raise HelmTemplateError("unclosed '('")
            return value, rest[1:]
        if head.startswith('"'):
            return json.loads(head), rest
        if head.startswith("."):
            return self._field(head), rest
        if re.fullmatch(r"-?\d+", head):
            return int(head), rest
        if head in ("true", "false"):
            return head == "true", rest
        if head == "nil":
            return None, rest
        raise HelmTemplateError(f"unexpected {head!r}")

    def _field(self, path: str) -> Any:
        value: Any = self.context
        for part in path.strip(".").split("."):
            if not part:
                continue
            value = value.get(part) if isinstance(value, Mapping) else None
        return value


def _tokens(expression: str) -> list[str]:
    tokens, pos = [], 0
    expression = expression.strip()
    while pos < len(expression):
        match = _TOKEN.match(expression, pos)
        if match is None:
            raise HelmTemplateError(f"cannot read {expression[pos:]!r}")
        tokens.append(match.group(1))
        pos = match.end()
        while pos < len(expression) and expression[pos].isspace():
            pos += 1
    return tokens


class RenderedManifest(NamedTuple):
    """One object a template rendered, and the template's file name."""

    template: str
    manifest: dict[str, Any]


@dataclass(frozen=True)
class RenderedChart:
    """What ``helm template`` would print: each template's text and its manifests."""

    texts: dict[str, str]
    manifests: list[RenderedManifest]


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def render_chart(
    chart: Path,
    *,
    release: str = "release-name",
    namespace: str = "default",
    values: Mapping[str, Any] | None = None,
) -> RenderedChart:
    """Render ``chart`` (a folder with Chart.yaml) as ``helm template RELEASE chart``."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text(encoding="utf-8"))
    defaults = yaml.safe_load((chart / "values.yaml").read_text(encoding="utf-8")) or {}
    context = {
        "Values": _merge(defaults, values or {}),
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
        "Chart": {
            "Name": meta["name"],
            "Version": meta["version"],
            "AppVersion": meta.get("appVersion", ""),
        },
    }
    templates = sorted((chart / "templates").iterdir())
    defines: dict[str, list[_Node]] = {}
    parsed: dict[str, list[_Node]] = {}
    for path in templates:
        nodes, found = _parse(_lex(path.read_text(encoding="utf-8")), path.name)
        defines.update(found)
        if not path.name.startswith("_"):
            parsed[path.name] = nodes
    renderer = _Renderer(context, defines)
    texts: dict[str, str] = {}
    manifests: list[RenderedManifest] = []
    for name, nodes in parsed.items():
        try:
            texts[name] = renderer.render(nodes)
        except HelmTemplateError as exc:
            raise HelmTemplateError(f"templates/{name}: {exc}") from None
        if name.endswith((".yaml", ".yml")):
            for document in yaml.safe_load_all(texts[name]):
                if document:
                    manifests.append(RenderedManifest(name, document))
    return RenderedChart(texts, manifests)
