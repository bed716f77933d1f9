"""Stack traces formatted once per distinct stack.

Formatting a traceback reads source lines and, on Python 3.11+, computes caret positions:
close to a millisecond for a framework-deep stack. An error storm repeats the same stack,
so the frame part is cached by its code locations; only the exception line is formatted
each time. The output matches ``traceback.format_exception``.

The cache key is one pass over the traceback: the id of each frame's code object and the
instruction it stopped at (what the line numbers and carets are computed from). A cached
entry holds the code objects and instructions themselves, so no id in a key can be reused
by another code object while it is cached. The entry also holds the raise site (file and
line of the last frame, a function of its code and instruction), remembered on the
exception for :func:`raise_site`.

Before that, the stack is compared with the last one seen for the same exception type,
frame by frame — in an error storm it is the same, and comparing costs less than making
the key.

Both walks — making the key and comparing — read four attributes per frame (about 2.5 µs
for a framework-deep stack of twenty frames); they stop at the first frame that differs.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from types import CodeType, TracebackType
from typing import Any, NamedTuple

__all__ = ["RaiseSite", "exception_message", "format_exception", "raise_site", "stack_parts"]

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
_HEADER = "Traceback (most recent call last):\n"
_SITE = "__agentwatch_raise_site__"


class RaiseSite(NamedTuple):
    """Where an exception was raised: the file and line of its traceback's last frame."""

    file: str
    line: int


class _Entry(NamedTuple):
    """A distinct stack, cached."""

    text: str  # the header and frame lines
    frames: tuple[tuple[CodeType, int], ...]  # (code, instruction) per frame, outermost first
    site: RaiseSite


_cache: dict[tuple[int, ...], _Entry] = {}
_MAX_ENTRIES = 512
_last_of_type: dict[type[BaseException], _Entry] = {}  # the last stack of each type
_type_names: dict[type[BaseException], str] = {}  # type -> its name in a traceback
_MAX_TYPES = 256
_STDLIB = "<stdlib>"  # the "name" of types whose line the standard library formats (see below)


def _frames_text(exc: BaseException, tb: TracebackType) -> str:
    """The header and frame lines of ``tb``, from the cache when its stack was seen."""
    kind = type(exc)
    cached = _last_of_type.get(kind)
    if cached is None or not is_stack(tb, cached.frames):
        cached = _cached_entry(tb)
        if len(_last_of_type) >= _MAX_TYPES:
            _last_of_type.clear()
        _last_of_type[kind] = cached
    exc.__dict__[_SITE] = cached.site  # every exception has a __dict__, __slots__ or not
    return cached.text


def is_stack(tb: TracebackType | None, frames: tuple[tuple[CodeType, int], ...]) -> bool:
    """Whether ``tb`` stopped in exactly these code objects at these instructions."""
    walker: Any = tb
    try:
        for code, instruction in frames:
            if walker.tb_frame.f_code is not code or walker.tb_lasti != instruction:
                return False
            walker = walker.tb_next
    except AttributeError:  # the traceback ended first (None has no tb_frame)
        return False
    return walker is None


def stack_key(tb: TracebackType) -> tuple[int, ...]:
    """id(code), instruction of every entry of ``tb``, outermost first, flattened."""
    key: list[int] = []
    append = key.append
    walker: TracebackType | None = tb
    while walker is not None:
        append(id(walker.tb_frame.f_code))
        append(walker.tb_lasti)
        walker = walker.tb_next
    return tuple(key)


def _cached_entry(tb: TracebackType) -> _Entry:
    key = stack_key(tb)
    return _cache.get(key) or _format_frames(key, tb)


def _format_frames(key: tuple[int, ...], tb: TracebackType) -> _Entry:
    # the stack alone (no exception to chain from), with the column positions of the carets
    stack = traceback.TracebackException(None, None, tb).stack  # type: ignore[arg-type]
    text = _HEADER + "".join(stack.format())
    walked = list(traceback.walk_tb(tb))  # (frame, line number) per entry
    codes = [frame.f_code for frame, _ in walked]
    frames = tuple(zip(codes, key[1::2], strict=True))  # the key: code id, instruction...
    _, last_line = walked[-1]
    entry = _Entry(text, frames, RaiseSite(codes[-1].co_filename, last_line))
    if len(_cache) >= _MAX_ENTRIES:  # more distinct stacks than an error storm makes
        _cache.clear()
    _cache[key] = entry
    return entry


def raise_site(exc: BaseException) -> RaiseSite | None:
    """The file and line ``exc`` was raised at (None without a traceback)."""
    site: RaiseSite | None = exc.__dict__.get(_SITE)  # every exception has a __dict__
    if site is not None:
        return site
    tb, last = exc.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return None if last is None else RaiseSite(last.tb_frame.f_code.co_filename, last.tb_lineno)


def format_exception(exc: BaseException) -> str:
    """``"".join(traceback.format_exception(exc))``, with the frame part cached.

    Exception groups (their nested, indented layout) are left to the standard library.
    """
    parts = stack_parts(exc)
    if parts is not None:
        frames, tail = parts
        return frames + tail
    text = None if isinstance(exc, BaseExceptionGroup) else _chained(exc, {id(exc)})
    return "".join(traceback.format_exception(exc)) if text is None else text


def stack_parts(exc: BaseException, message: str | None = None) -> tuple[str, str] | None:
    """:func:`format_exception` in two parts — header and frame lines, then the lines of
    the exception itself — for an exception with no cause or context to show (and not a
    group); None for the others.

    The first part is the cached text itself ("" without a traceback): the same object
    each time the stack repeats, so a consumer may remember by identity what it makes of it.
    ``message``, when given, is :func:`exception_message` of ``exc``, not computed again.
    """
    if exc.__cause__ is not None or not (exc.__context__ is None or exc.__suppress_context__):
        return None
    if isinstance(exc, BaseExceptionGroup):
        return None
    tb = exc.__traceback__
    return (_frames_text(exc, tb) if tb is not None else "", _exception_line(exc, message))


def _chained(exc: BaseException, seen: set[int]) -> str | None:
    """The text of ``exc`` after that of its cause or context (each exception once); None
    when the chain holds an exception group."""
    if isinstance(exc, BaseExceptionGroup):
        return None
    prefix: str | None = ""
    cause, context = exc.__cause__, exc.__context__
    if cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        prefix = _chained(cause, seen)
        prefix = None if prefix is None else prefix + _CAUSE
    elif context is not None and not exc.__suppress_context__ and id(context) not in seen:
        seen.add(id(context))
        prefix = _chained(context, seen)
        prefix = None if prefix is None else prefix + _CONTEXT
    if prefix is None:
        return None
    tb = exc.__traceback__
    return prefix + (_frames_text(exc, tb) if tb is not None else "") + _exception_line(exc)


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, or what the standard library prints when that fails."""
    try:
        return str(exc)
    except Exception:
        return "<exception str() failed>"


def _exception_line(exc: BaseException, message: str | None = None) -> str:
    """The last line(s) of a traceback, without re-walking the stack as the stdlib does."""
    kind = type(exc)
    name = _type_names.get(kind) or _type_name(kind)
    if name is _STDLIB:
        return "".join(traceback.format_exception_only(kind, exc))
    if message is None:
        message = exception_message(exc)
    line = f"{name}: {message}\n" if message else f"{name}\n"
    notes = exc.__dict__.get("__notes__")  # add_note()'s (a class's own: the stdlib path)
    return line if notes is None else line + _notes_text(notes)


def _type_name(kind: type[BaseException]) -> str:
    """How the standard library names an exception type (remembered per type); _STDLIB for
    the types whose exception line the standard library formats here: SyntaxError (with
    its source line) and types with ``__notes__`` of their own."""
    if issubclass(kind, SyntaxError) or hasattr(kind, "__notes__"):
        name = _STDLIB
    else:
        name, module = kind.__qualname__, kind.__module__
        if module not in ("__main__", "builtins"):
            name = f"{module if isinstance(module, str) else '<unknown>'}.{name}"
    if len(_type_names) >= _MAX_TYPES:
        _type_names.clear()
    _type_names[kind] = name
    return name


def _notes_text(notes: object) -> str:
    """``__notes__`` as the standard library prints them."""
    if not isinstance(notes, Sequence):
        return _safe_string(notes, "__notes__", repr)
    lines = [_safe_string(note, "note", str).split("\n") for note in notes]
    return "".join(f"{line}\n" for note in lines for line in note)


def _safe_string(value: object, what: str, render: Callable[[object], str]) -> str:
    try:
        return render(value)
    except Exception:
        return f"<{what} {render.__name__}() failed>"
