"""Stack traces formatted once per distinct stack.

Formatting a traceback reads source lines and, on Python 3.11+, computes caret positions:
close to a millisecond for a framework-deep stack. An error storm repeats the same stack,
so the frame part is cached by its code locations; only the exception line is formatted
each time. The output matches ``traceback.format_exception``.

The cache key is one pass over the traceback: the id of each frame's code object and the
instruction it stopped at (what the carets point to). A cached entry holds the code objects
themselves, so no id in a key can be reused by another code object while it is cached.
The raise site found on the way is remembered on the exception for :func:`raise_site`.
"""

from __future__ import annotations

import traceback
from types import CodeType, TracebackType

__all__ = ["format_exception", "raise_site"]

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
_SITE = "__agentwatch_raise_site__"
_cache: dict[tuple[int, ...], tuple[str, tuple[CodeType, ...]]] = {}
_MAX_ENTRIES = 512


def _frames_text(exc: BaseException, tb: TracebackType) -> str:
    key: list[int] = []
    walker: TracebackType | None = tb
    last = tb
    while walker is not None:
        key.append(id(walker.tb_frame.f_code))
        key.append(walker.tb_lasti)
        last, walker = walker, walker.tb_next
    _remember_site(exc, last)
    frozen = tuple(key)
    cached = _cache.get(frozen)
    if cached is not None:
        return cached[0]
    text = "".join(traceback.StackSummary.extract(traceback.walk_tb(tb)).format())
    codes = tuple(frame.f_code for frame, _ in traceback.walk_tb(tb))
    if len(_cache) >= _MAX_ENTRIES:  # more distinct stacks than an error storm makes
        _cache.clear()
    _cache[frozen] = (text, codes)
    return text


def _remember_site(exc: BaseException, last: TracebackType) -> None:
    try:
        setattr(exc, _SITE, (last.tb_frame.f_code.co_filename, last.tb_lineno))
    except (AttributeError, TypeError):  # exceptions with __slots__
        pass


def raise_site(exc: BaseException) -> tuple[str, int] | None:
    """The file and line ``exc`` was raised at (None without a traceback)."""
    site: tuple[str, int] | None = getattr(exc, _SITE, None)
    if site is not None:
        return site
    tb, last = exc.__traceback__, None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return None if last is None else (last.tb_frame.f_code.co_filename, last.tb_lineno)


def format_exception(exc: BaseException, _seen: set[int] | None = None) -> str:
    """``"".join(traceback.format_exception(exc))``, with the frame part cached."""
    seen = _seen if _seen is not None else set()
    seen.add(id(exc))
    prefix = ""
    if exc.__cause__ is not None and id(exc.__cause__) not in seen:
        prefix = format_exception(exc.__cause__, seen) + _CAUSE
    elif (
        exc.__context__ is not None
        and not exc.__suppress_context__
        and id(exc.__context__) not in seen
    ):
        prefix = format_exception(exc.__context__, seen) + _CONTEXT
    body = ""
    if exc.__traceback__ is not None:
        body = "Traceback (most recent call last):\n" + _frames_text(exc, exc.__traceback__)
    return prefix + body + _exception_line(exc)


def _exception_line(exc: BaseException) -> str:
    """The last line(s) of a traceback, without re-walking the stack as the stdlib does."""
    if isinstance(exc, SyntaxError):
        return "".join(traceback.format_exception_only(type(exc), exc))
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ not in ("__main__", "builtins"):
        name = f"{kind.__module__}.{name}"
    try:
        message = str(exc)
    except Exception:
        message = "<exception str() failed>"
    line = f"{name}: {message}\n" if message else f"{name}\n"
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        line += "".join(f"{note}\n" for note in notes)
    return line
