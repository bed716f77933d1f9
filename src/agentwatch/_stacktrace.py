"""Stack traces formatted once per distinct stack.

Formatting a traceback reads source lines and, on Python 3.11+, computes caret positions:
close to a millisecond for a framework-deep stack. An error storm repeats the same stack,
so the frame part is cached by its code locations; only the exception line is formatted
each time. The output matches ``traceback.format_exception``.
"""

from __future__ import annotations

import threading
import traceback
from collections import OrderedDict
from types import TracebackType

__all__ = ["format_exception"]

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
_cache: OrderedDict[tuple[tuple[str, int, str], ...], str] = OrderedDict()
_lock = threading.Lock()
_MAX_ENTRIES = 512


def _frames_text(tb: TracebackType | None) -> str:
    key = []
    walker = tb
    while walker is not None:
        code = walker.tb_frame.f_code
        key.append((code.co_filename, walker.tb_lineno, code.co_qualname))
        walker = walker.tb_next
    frozen = tuple(key)
    with _lock:
        cached = _cache.get(frozen)
        if cached is not None:
            _cache.move_to_end(frozen)
            return cached
    text = "".join(traceback.StackSummary.extract(traceback.walk_tb(tb)).format())
    with _lock:
        _cache[frozen] = text
        if len(_cache) > _MAX_ENTRIES:
            _cache.popitem(last=False)
    return text


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
        body = "Traceback (most recent call last):\n" + _frames_text(exc.__traceback__)
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
