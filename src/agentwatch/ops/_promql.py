"""Just enough PromQL: parse a series selector; list the metrics an expression reads.

Not a full parser. :func:`selectors` walks the tokens of an expression and yields every
vector selector (metric name and label matchers), skipping function names, keywords,
``by (...)`` / ``on (...)`` label lists, durations and string literals. Grafana variables
(``$service``, ``$__rate_interval``) are accepted where PromQL would have a value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Matcher", "Selector", "matches", "parse_selector", "selectors", "with_matcher"]

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<number>\d[\w.]*)
  | (?P<var>\$\{?[\w.:]+\}?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<brace>\{)
  | (?P<paren>[()])
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE,
)
_MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_SELECTOR = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s*$", re.DOTALL)
_KEYWORDS = frozenset(
    [
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "inf",
        "nan",
    ]
)
_LABEL_LISTS = frozenset(["by", "without", "on", "ignoring", "group_left", "group_right"])


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str

    def text(self) -> str:
        return f'{self.label}{self.op}"{self.value}"'


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[Matcher, ...]

    def text(self, *extra: Matcher) -> str:
        inner = ",".join(m.text() for m in (*extra, *self.matchers))
        return f"{self.metric}{{{inner}}}" if inner else self.metric


def parse_selector(text: str) -> Selector:
    """``metric{label="v",...}`` -> Selector. Raises ValueError naming what is wrong."""
    match = _SELECTOR.match(text)
    if not match:
        raise ValueError(f"not a series selector: {text!r}")
    body = match.group(2) or ""
    matchers, pos = [], 0
    while pos < len(body.rstrip()):
        part = _MATCHER.match(body, pos)
        if not part or part.end() == pos:
            raise ValueError(f"bad label matcher at {body[pos:]!r} in {text!r}")
        matchers.append(Matcher(part.group(1), part.group(2), part.group(3)))
        pos = part.end()
    return Selector(match.group(1), tuple(matchers))


def matches(matchers: tuple[Matcher, ...], labels: dict[str, str]) -> bool:
    """Whether ``labels`` satisfy every matcher (regexes fully anchored, as in PromQL)."""
    for m in matchers:
        value = labels.get(m.label, "")
        ok = {
            "=": value == m.value,
            "!=": value != m.value,
            "=~": re.fullmatch(m.value, value) is not None,
            "!~": re.fullmatch(m.value, value) is None,
        }[m.op]
        if not ok:
            return False
    return True


def selectors(expr: str) -> Iterator[Selector]:
    """Every vector selector in ``expr`` (the metric may be repeated)."""
    tokens = [token for token in _tokens(expr) if token.kind != "space"]
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else _Token("", "")
        if kind == "ident" and text.lower() in _LABEL_LISTS and following.text == "(":
            i = _skip_group(tokens, i + 1)
            continue
        is_call = following.text == "(" or following.text.lower() in _LABEL_LISTS
        if (kind == "ident" and is_call) or text.lower() in _KEYWORDS:
            i += 1
            continue
        if kind == "ident":
            body, i = _braces(expr, tokens, i + 1)
            yield parse_selector(f"{text}{{{body}}}")
            continue
        if kind == "brace":  # {__name__=...} selector without a leading name
            body, i = _braces(expr, tokens, i)
            yield parse_selector(f"__anonymous__{{{body}}}")
            continue
        i += 1


class _Token(NamedTuple):
    kind: str  # a group name of _TOKEN: ident, brace, space, ...
    text: str


def _tokens(expr: str) -> Iterator[_Token]:
    for match in _TOKEN.finditer(expr):
        yield _Token(match.lastgroup or "other", match.group())


def _skip_group(tokens: list[_Token], i: int) -> int:
    depth = 0
    while i < len(tokens):
        if tokens[i].text == "(":
            depth += 1
        elif tokens[i].text == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _braces(expr: str, tokens: list[_Token], i: int) -> tuple[str, int]:
    """The text between ``{`` at token ``i`` and its ``}`` (or "" when no brace follows)."""
    if i >= len(tokens) or tokens[i].kind != "brace":
        return "", i
    parts = []
    i += 1
    while i < len(tokens) and tokens[i].text != "}":
        kind, text = tokens[i]
        parts.append(text if kind != "ident" else f" {text}")
        i += 1
    return "".join(parts), i + 1


def with_matcher(expr: str, matcher: str, window: Callable[[str], str] | None = None) -> str:
    """``expr`` with ``matcher`` (``service="x"``) first in every vector selector.

    ``window`` rewrites each range (``5m`` of ``[5m]``; subqueries ``[30m:1m]`` are given
    whole). Used for pack files, whose queries name metrics without the service matcher.
    """
    found = [m for m in _TOKEN.finditer(expr) if m.lastgroup != "space"]
    out: list[str] = []
    last = 0
    i = 0
    while i < len(found):
        token = found[i]
        kind, text = token.lastgroup or "other", token.group()
        following = found[i + 1].group() if i + 1 < len(found) else ""
        if kind == "ident" and text.lower() in _LABEL_LISTS and following == "(":
            i = _skip_matches(found, i + 1)
            continue
        if kind == "range" and window is not None:
            out += [expr[last : token.start()], f"[{window(text[1:-1].strip())}]"]
            last = token.end()
        is_call = following == "(" or following.lower() in _LABEL_LISTS
        if kind == "ident" and not is_call and text.lower() not in _KEYWORDS:
            if following == "{":
                out += [expr[last : found[i + 1].end()], matcher]
                last = found[i + 1].end()
                closing = _closing(found, i + 1)
                inner = expr[found[i + 1].end() : found[closing].start()].strip()
                if inner:
                    out.append(",")
                i = closing + 1
                continue
            out += [expr[last : token.end()], "{", matcher, "}"]
            last = token.end()
        i += 1
    out.append(expr[last:])
    return "".join(out)


def _skip_matches(found: list[re.Match[str]], i: int) -> int:
    depth = 0
    while i < len(found):
        text = found[i].group()
        depth += (text == "(") - (text == ")")
        if text == ")" and depth == 0:
            return i + 1
        i += 1
    return i


def _closing(found: list[re.Match[str]], i: int) -> int:
    while i < len(found) and found[i].group() != "}":
        i += 1
    return i
