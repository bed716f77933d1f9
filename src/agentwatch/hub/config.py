"""Reading ``hub.yaml``: every problem names the file, the key path and what is accepted.

A part reads its own section through a :class:`Node`, which records every problem it meets
and goes on with the default, so ``agentwatch hub check`` lists all of them at once::

    node = load_yaml(path)                      # the root Node
    for monitor in node.children("monitors"):
        interval = monitor.duration("interval", 60.0, minimum=1.0)
    node.raise_problems()                       # HubConfigError listing each problem

Secrets are never stored as plain strings: :meth:`Node.secret` reads ``key`` (after
``${ENV}`` expansion) or ``key_file`` (a path, relative to the config file) and returns a
:class:`Secret` whose ``repr`` and ``str`` hide the value.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml

from .._exceptions import AgentwatchError
from .units import DURATION_ACCEPTED, SIZE_ACCEPTED, parse_duration, parse_size

__all__ = [
    "ENV_REFERENCE",
    "HubConfigError",
    "Node",
    "Problem",
    "Secret",
    "load_yaml",
    "parse_duration",
    "parse_size",
    "root",
]

T = TypeVar("T")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
ENV_REFERENCE = _ENV  # ``${NAME}`` or ``${NAME:-fallback}``


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a config file."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.path or '(top level)'}: {self.message}"


class HubConfigError(AgentwatchError, ValueError):
    """The hub configuration is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n  ".join(str(p) for p in self.problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid hub configuration ({count} {noun}):\n  {lines}")


class Secret:
    """A secret read from the environment or a file; ``str`` and ``repr`` never show it."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source  # where it came from, e.g. "file /run/secrets/x" or "env TOKEN"

    def reveal(self) -> str:
        """The value, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret(from {self.source})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass
class _Reading:
    """What every Node of one file shares."""

    file: str
    base_dir: Path
    environ: Mapping[str, str]
    problems: list[Problem] = field(default_factory=list)
    read_secrets: bool = True  # False: a *_file only has to be named (``ops validate``)


_MISSING: Any = object()


class Node:
    """A mapping in the config file at a key path, with typed readers that record problems."""

    __slots__ = ("_reading", "data", "path")

    def __init__(self, data: Mapping[str, Any], path: str, reading: _Reading) -> None:
        self.data = data
        self.path = path
        self._reading = reading

    # -- where, and what went wrong -------------------------------------------------------

    @property
    def file(self) -> str:
        return self._reading.file

    @property
    def environ(self) -> Mapping[str, str]:
        return self._reading.environ

    @property
    def problems(self) -> list[Problem]:
        return self._reading.problems

    def key_path(self, key: str | int | None = None) -> str:
        if key is None:
            return self.path
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def problem(self, key: str | int | None, message: str) -> None:
        """Record a problem at ``key`` of this node (or the node itself)."""
        self.problems.append(Problem(self.file, self.key_path(key), message))

    def raise_problems(self) -> None:
        if self.problems:
            raise HubConfigError(self.problems)

    def allow(self, keys: Iterable[str]) -> None:
        """Record every key of this mapping that is not one of ``keys``."""
        allowed = sorted(keys)
        for key in self.data:
            if key not in allowed:
                self.problem(str(key), f"unknown key; accepted here: {', '.join(allowed)}")

    # -- readers ---------------------------------------------------------------------------

    def has(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def _get(self, key: str, default: Any, accepted: str) -> Any:
        if not self.has(key):
            if default is _MISSING:
                self.problem(key, f"is required: {accepted}")
                return None
            return default
        return self.data[key]

    def _bad(self, key: str, value: object, accepted: str, default: T) -> T:
        """Record the problem; the default, or None for a required key (never the marker
        of "no default", which a caller would take for a value)."""
        self.problem(key, f"{value!r} is not valid: expected {accepted}")
        return cast(T, None) if default is _MISSING else default

    def text(self, key: str, default: Any = _MISSING, *, expand: bool = True) -> Any:
        """A string; ``${ENV}`` and ``${ENV:-fallback}`` are expanded unless ``expand=False``."""
        value = self._get(key, default, "a string")
        if value is None or value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return self._bad(key, value, "a string", default if default is not _MISSING else "")
        text = str(value)
        return self.expand(key, text) if expand else text

    def expand(self, key: str, text: str) -> str:
        """``text`` with ``${NAME}`` replaced from the environment (a problem if unset)."""

        def replace(match: re.Match[str]) -> str:
            name, fallback = match.group(1), match.group(2)
            if name in self.environ:
                return self.environ[name]
            if fallback is not None:
                return fallback
            self.problem(key, f"environment variable {name} is not set")
            return ""

        return _ENV.sub(replace, text)

    def integer(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> Any:
        value = self._get(key, default, "an integer")
        if value is None or value is default:
            return value
        accepted = _range("an integer", minimum, maximum)
        if isinstance(value, bool) or not isinstance(value, int):
            return self._bad(key, value, accepted, default)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            return self._bad(key, value, accepted, default)
        return value

    def number(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> Any:
        value = self._get(key, default, "a number")
        if value is None or value is default:
            return value
        accepted = _range("a number", minimum, maximum)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return self._bad(key, value, accepted, default)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            return self._bad(key, value, accepted, default)
        return float(value)

    def flag(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default, "true or false")
        if value is None or value is default:
            return value
        if not isinstance(value, bool):
            return self._bad(key, value, "true or false", default)
        return value

    def duration(self, key: str, default: Any = _MISSING, *, minimum: float | None = None) -> Any:
        """Seconds, from ``30s``, ``5m``, ``1h30m``, ``500ms``, ``1d`` or a number."""
        value = self._get(key, default, DURATION_ACCEPTED)
        if value is None or value is default:
            return value
        seconds = parse_duration(value)
        if seconds is None:
            return self._bad(key, value, DURATION_ACCEPTED, default)
        if minimum is not None and seconds < minimum:
            return self._bad(key, value, f"a duration of at least {minimum:g}s", default)
        return seconds

    def size(self, key: str, default: Any = _MISSING) -> Any:
        """Bytes, from ``1GiB``, ``256MiB``, ``10GB`` or a number."""
        value = self._get(key, default, SIZE_ACCEPTED)
        if value is None or value is default:
            return value
        size = parse_size(value)
        return self._bad(key, value, SIZE_ACCEPTED, default) if size is None else size

    def choice(self, key: str, choices: Sequence[str], default: Any = _MISSING) -> Any:
        accepted = "one of " + ", ".join(choices)
        value = self._get(key, default, accepted)
        if value is None or value is default:
            return value
        if value not in choices:
            return self._bad(key, value, accepted, default)
        return value

    def str_list(self, key: str, default: Sequence[str] = ()) -> tuple[str, ...]:
        """A list of strings (a single string counts as a list of one)."""
        value = self._get(key, tuple(default), "a list of strings")
        if isinstance(value, str):
            return (self.expand(key, value),)
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            return self._bad(key, value, "a list of strings", tuple(default))
        return tuple(self.expand(key, v) for v in value)

    def str_map(self, key: str) -> dict[str, str]:
        """A mapping of strings to strings (numbers and booleans are written as strings)."""
        value = self._get(key, {}, "a mapping of strings")
        if not isinstance(value, Mapping) or not all(
            isinstance(v, str | int | float) for v in value.values()
        ):
            return self._bad(key, value, "a mapping of names to strings", {})
        return {str(k): self.expand(key, _scalar_text(v)) for k, v in value.items()}

    def child(self, key: str) -> Node | None:
        """The mapping at ``key`` as a Node, None when absent (a problem if not a mapping)."""
        if not self.has(key):
            return None
        value = self.data[key]
        if not isinstance(value, Mapping):
            self.problem(key, f"{_kind(value)} is not valid: expected a mapping")
            return None
        return Node(value, self.key_path(key), self._reading)

    def children(self, key: str) -> list[Node]:
        """The list of mappings at ``key`` as Nodes (``[]`` when absent)."""
        if not self.has(key):
            return []
        value = self.data[key]
        if not isinstance(value, list):
            self.problem(key, f"{_kind(value)} is not valid: expected a list of mappings")
            return []
        nodes = []
        for index, item in enumerate(value):
            path = f"{self.key_path(key)}[{index}]"
            if isinstance(item, Mapping):
                nodes.append(Node(item, path, self._reading))
            else:
                self.problems.append(Problem(self.file, path, f"{_kind(item)}: expected a mapping"))
        return nodes

    def secret(self, key: str, *, required: bool = False) -> Secret | None:
        """``key`` (``${ENV}`` expanded) or ``key_file`` (a path), as a :class:`Secret`."""
        file_key = f"{key}_file"
        if self.has(key) and self.has(file_key):
            self.problem(key, f"give either {key} or {file_key}, not both")
            return None
        if self.has(file_key):
            return self._secret_file(file_key)
        if self.has(key):
            raw = self.text(key, expand=False)
            names = [m.group(1) for m in _ENV.finditer(raw or "")]
            source = f"env {', '.join(names)}" if names else f"{self.key_path(key)} in {self.file}"
            value = self.expand(key, raw or "")
            return Secret(value, source) if value else None
        if required:
            self.problem(key, f"is required: give {key} (may use ${{ENV}}) or {file_key}")
        return None

    def _secret_file(self, key: str) -> Secret | None:
        name = self.text(key)
        if not name:
            return None
        path = Path(name)
        if not path.is_absolute():
            path = self._reading.base_dir / path
        if not self._reading.read_secrets:
            return Secret("unread", f"file {path} (not read)")
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            self.problem(key, f"cannot read secret file {str(path)!r}: {exc.strerror or exc}")
            return None
        if not value:
            self.problem(key, f"secret file {str(path)!r} is empty")
            return None
        return Secret(value, f"file {path}")

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)


def _range(what: str, minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{what} from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f"{what} of at least {minimum:g}"
    if maximum is not None:
        return f"{what} of at most {maximum:g}"
    return what


def _kind(value: object) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else repr(value)


def _scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def root(
    data: Mapping[str, Any],
    *,
    file: str = "",
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    read_secrets: bool = True,
) -> Node:
    """A root Node over already-parsed data (the API uses it for request bodies).

    ``read_secrets=False`` checks a file written for another machine: a ``*_file`` key must
    name a file, which is not opened (its Secret holds a placeholder).
    """
    env = os.environ if environ is None else environ
    reading = _Reading(file, base_dir or Path.cwd(), env, read_secrets=read_secrets)
    return Node(data, "", reading)


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` refusing a key given twice in one mapping: the later one silently
    won, so a second ``monitors:`` dropped every monitor of the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"{key!r} is given twice (the later one would win)",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(
    path: str | Path, *, environ: Mapping[str, str] | None = None, read_secrets: bool = True
) -> Node:
    """Parse a YAML file into a root Node; unreadable or malformed files raise at once."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HubConfigError(
            [Problem(str(path), "", f"cannot read: {exc.strerror or exc}")]
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise HubConfigError(
            [Problem(str(path), "", f"{where}not valid YAML: {problem}")]
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise HubConfigError(
            [Problem(str(path), "", f"{_kind(data)}: expected a mapping at the top")]
        )
    return root(
        data,
        file=str(path),
        base_dir=path.parent.resolve(),
        environ=environ,
        read_secrets=read_secrets,
    )
