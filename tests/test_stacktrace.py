"""Cached stack traces read exactly like the standard library's."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from types import TracebackType

import pytest

from agentwatch._sentry import stacktrace as _stacktrace
from agentwatch._sentry.stacktrace import format_exception, raise_site, stack_parts


@pytest.fixture(autouse=True)
def empty_caches() -> Iterator[None]:
    """Every test runs from empty caches."""
    saved = dict(_stacktrace._cache), dict(_stacktrace._last_of_type)
    _stacktrace._cache.clear()
    _stacktrace._last_of_type.clear()
    yield
    _stacktrace._cache.clear()
    _stacktrace._last_of_type.clear()
    _stacktrace._cache.update(saved[0])
    _stacktrace._last_of_type.update(saved[1])


def _inner(n: int) -> None:
    raise ValueError(f"bad value {n}")


def _outer(n: int) -> None:
    try:
        _inner(n)
    except ValueError as exc:
        raise RuntimeError("wrapped") from exc


def _context(n: int) -> None:
    try:
        _inner(n)
    except ValueError:
        raise KeyError("during handling") from None if n < 0 else KeyError("during handling")


def _carets(n: int) -> None:
    values: dict[str, int] = {}
    total = n + values["missing"]  # the carets point at the subscript, not the whole line
    print(total)


def _group(n: int) -> None:
    raise ExceptionGroup("several", [ValueError(n), KeyError(n)])


class SlottedError(Exception):
    __slots__ = ("code",)


def _slotted(n: int) -> None:
    raise SlottedError(n)


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


def _unprintable(n: int) -> None:
    raise Unprintable(n)


def _noted(n: int) -> None:
    error = ValueError(n)
    error.add_note("first note")
    error.add_note("two\nlines")
    raise error


def _odd_notes(n: int) -> None:
    error = ValueError(n)
    error.__notes__ = ("a tuple", 3) if n % 2 else 42  # type: ignore[assignment]
    raise error


class ClassNotesError(Exception):
    __notes__ = ["a note of the class, not of the instance"]


def _class_notes(n: int) -> None:
    raise ClassNotesError(n)


def _syntax(n: int) -> None:
    compile(f"x = ({n}", "<case>", "exec")


def _recursion(n: int) -> None:
    _recursion(n + 1)  # "[Previous line repeated ...]" folds the frames


RAISERS: dict[str, Callable[[int], None]] = {
    "plain": _inner,
    "cause": _outer,
    "context": _context,
    "carets": _carets,
    "exception group": _group,
    "__slots__": _slotted,
    "str() fails": _unprintable,
    "notes": _noted,
    "notes not a list": _odd_notes,
    "notes on the class": _class_notes,
    "syntax error": _syntax,
    "recursion": _recursion,
}


def _raised(raiser: Callable[[int], None], n: int) -> BaseException:
    try:
        raiser(n)
    except BaseException as exc:  # RecursionError, ExceptionGroup
        return exc
    raise AssertionError("did not raise")


@pytest.mark.parametrize("raiser", RAISERS.values(), ids=RAISERS.keys())
def test_matches_the_standard_library_twice(raiser: Callable[[int], None]) -> None:
    for n in (1, 2):  # the second call is served from the cache, with its own message
        exc = _raised(raiser, n)
        assert format_exception(exc) == "".join(traceback.format_exception(exc))


def test_the_frames_part_is_the_cached_text_itself() -> None:
    first, second = (_raised(_inner, n) for n in (1, 2))
    parts = stack_parts(first), stack_parts(second)
    assert parts[0] is not None and parts[1] is not None
    assert parts[0][0] is parts[1][0]  # the same object: a consumer may cache by identity
    assert parts[0][1] == "ValueError: bad value 1\n"
    assert parts[0][0] + parts[0][1] == format_exception(first)


@pytest.mark.parametrize("raiser", [_outer, _context, _group])
def test_chained_exceptions_and_groups_have_no_parts(raiser: Callable[[int], None]) -> None:
    assert stack_parts(_raised(raiser, 1)) is None


def test_different_call_paths_never_share_text() -> None:
    def via_a() -> None:
        _inner(1)

    def via_b() -> None:
        _inner(1)

    texts = [format_exception(_raised(lambda n, f=f: f(), 0)) for f in (via_a, via_b)]
    assert ", in via_a\n" in texts[0] and ", in via_a\n" not in texts[1]
    assert ", in via_b\n" in texts[1] and ", in via_b\n" not in texts[0]


def test_an_exception_without_traceback_is_its_line() -> None:
    assert format_exception(ValueError("no stack")) == "ValueError: no stack\n"
    assert stack_parts(ValueError("no stack")) == ("", "ValueError: no stack\n")


@pytest.mark.parametrize("raiser", [_inner, _slotted, _carets])
def test_the_raise_site_is_the_last_frame(raiser: Callable[[int], None]) -> None:
    exc = _raised(raiser, 1)
    format_exception(exc)  # remembers the site, from the cache the second time
    frames = traceback.extract_tb(exc.__traceback__)
    assert raise_site(exc) == (frames[-1].filename, frames[-1].lineno)


def _twice(n: int) -> None:
    if n % 2:
        _inner(n)  # one line of this function...
    else:
        _inner(n)  # ...or another: the same code objects, other instructions


def _deeper(n: int) -> None:
    _twice(n)


def test_stacks_of_one_type_that_alternate_each_read_as_their_own() -> None:
    # the same exception type from other lines, other depths, a function of the same name
    # in another file: each stack is compared with the last one of its type, none is
    # taken for another
    twin = compile("def _inner(n):\n    raise ValueError(n)\n", "/elsewhere/twin.py", "exec")
    namespace: dict[str, Callable[[int], None]] = {}
    exec(twin, namespace)
    raisers = [_twice, _deeper, _inner, namespace["_inner"], _twice, _inner]
    for n, raiser in enumerate(raisers * 3):
        exc = _raised(raiser, n)
        assert format_exception(exc) == "".join(traceback.format_exception(exc))
        frames = traceback.extract_tb(exc.__traceback__)
        assert raise_site(exc) == (frames[-1].filename, frames[-1].lineno)


def _tracebacks() -> Iterator[TracebackType]:
    """Every entry of the traceback of every raiser: stacks of every depth."""
    for raiser in RAISERS.values():
        tb = _raised(raiser, 1).__traceback__
        while tb is not None:
            yield tb
            tb = tb.tb_next


def test_the_walk_matches_a_stack_only_with_its_own_frames() -> None:
    is_stack = _stacktrace.is_stack
    tracebacks = list(_tracebacks())
    assert len(tracebacks) > 500  # the recursion raiser's entries among them
    for tb in tracebacks[::31]:
        frames = _stacktrace._cached_entry(tb)[1]
        key = tuple(n for code, instruction in frames for n in (id(code), instruction))
        assert _stacktrace.stack_key(tb) == key
        assert is_stack(tb, frames)
        assert not is_stack(tb.tb_next, frames) and not is_stack(None, frames)
        assert not is_stack(tb, frames[:-1])
        assert not is_stack(tb, frames + frames[-1:])
        changed = ((frames[-1][0], frames[-1][1] + 2),)  # another instruction of the last
        assert not is_stack(tb, frames[:-1] + changed)
