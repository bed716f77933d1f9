"""Cached stack traces read exactly like the standard library's."""

from __future__ import annotations

import traceback

import pytest

from agentwatch._stacktrace import format_exception


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


@pytest.mark.parametrize("raiser", [_inner, _outer, _context])
def test_matches_the_standard_library_twice(raiser) -> None:
    for n in (1, 2):  # the second call is served from the cache, with its own message
        try:
            raiser(n)
        except Exception as exc:
            assert format_exception(exc) == "".join(traceback.format_exception(exc))
