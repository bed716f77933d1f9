"""Label matchers with Alertmanager's meaning: ``name=value``, ``!=``, ``=~`` and ``!~``.

Regular expressions are anchored at both ends (``service=~"api|worker"`` matches ``api``,
not ``api2``); a label that is absent matches as the empty string, so ``team!=""`` means
"has a team". Values may be quoted: ``alertname="High error rate"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["Matcher", "MatcherError", "matches_all", "parse_matcher"]

_OPS = ("=~", "!~", "!=", "=")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class MatcherError(ValueError):
    """A matcher that does not parse; the message says what is accepted."""


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: str  # one of = != =~ !~
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, op: str, value: str) -> Matcher:
        if not _NAME.fullmatch(name):
            raise MatcherError(f"{name!r} is not a label name: letters, digits and _")
        if op not in _OPS:
            raise MatcherError(f"{op!r} is not an operator: one of =, !=, =~, !~")
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(value)
            except re.error as exc:
                raise MatcherError(f"{value!r} is not a regular expression: {exc}") from None
        return cls(name, op, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self._regex is not None:
            hit = self._regex.fullmatch(value) is not None
            return hit if self.op == "=~" else not hit
        return (value == self.value) if self.op == "=" else (value != self.value)

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def parse_matcher(text: str) -> Matcher:
    """``alertname=X``, ``severity!="info"``, ``service=~"api|worker"``."""
    text = text.strip()
    for index, char in enumerate(text):
        if char in "=!":
            op = next((o for o in _OPS if text.startswith(o, index)), None)
            if op is None:
                break
            value = text[index + len(op) :].strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            return Matcher.make(text[:index].strip(), op, value)
    raise MatcherError(
        f"{text!r} is not a matcher: expected NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX"
    )


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
