"""What a setting may be: the parsers of the settings table and the type of its rows.

Each parser turns the text of an argument or environment variable into a value, or raises
``ValueError`` saying what it expected; the loader (``loader.py``) turns that into a
:class:`~agentwatch.ConfigurationError` naming the key and the value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Option",
    "Parser",
    "one_of",
    "option",
    "parse_bool",
    "parse_list",
    "parse_non_negative_float",
    "parse_optional_text",
    "parse_pairs",
    "parse_percent",
    "parse_positive_float",
    "parse_positive_int",
    "parse_ratio",
    "parse_text",
]

Parser = Callable[[str], Any]


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("true or false")


def parse_ratio(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError("a number between 0 and 1")
    return value


def parse_non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("a number >= 0")
    return value


def parse_percent(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 100.0:
        raise ValueError("a number between 0 and 100")
    return value


def parse_positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("a positive number")
    return value


def parse_positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("a positive integer")
    return value


def parse_pairs(text: str) -> dict[str, str]:
    """``key=value,key2=value2`` as in OTEL_RESOURCE_ATTRIBUTES (values percent-decoded)."""
    from urllib.parse import unquote

    pairs: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError("comma-separated key=value pairs")
        pairs[unquote(key.strip())] = unquote(value.strip())
    return pairs


def parse_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def one_of(*choices: str) -> Parser:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError("one of " + ", ".join(choices))
        return value

    parse.__doc__ = "one of " + ", ".join(choices)
    return parse


def parse_text(value: str) -> str:
    return value.strip()


def parse_optional_text(value: str) -> str | None:
    return value.strip() or None


@dataclass(frozen=True)
class Option:
    """One row of the settings table."""

    name: str
    parse: Parser
    default: Any
    env: tuple[str, ...]
    doc: str
    accepted: str = ""


def option(
    name: str, parse: Parser, default: Any, env: tuple[str, ...], doc: str, accepted: str = ""
) -> Option:
    return Option(name, parse, default, env, doc, accepted)
