"""Shared fixtures.

Every error agentwatch swallows to protect its host (``report_internal_error``) fails the
test that caused it, unless the test takes ``internal_errors`` and asserts on them itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentwatch import _init, _state


class InternalErrors(list[tuple[str, BaseException]]):
    """Internal errors reported during a test; a test that expects some clears them."""

    expected = False


@pytest.fixture(autouse=True)
def state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """A user state directory of the test's own: the default export spool of one test
    (``<state>/agentwatch/<service>/spool``) is never sent by the next."""
    folder = str(tmp_path_factory.mktemp("state"))
    monkeypatch.setenv("XDG_STATE_HOME", folder)
    return folder


@pytest.fixture(autouse=True)
def internal_errors() -> Iterator[InternalErrors]:
    errors = InternalErrors()

    def hook(component: str, exc: BaseException) -> None:
        errors.append((component, exc))

    _state.internal_error_hooks.append(hook)
    try:
        yield errors
    finally:
        handle = _init.active_handle()
        if handle is not None:  # a test that forgot shutdown() must not leak into the next
            handle.shutdown()
        _state.internal_error_hooks.remove(hook)
    if errors and not errors.expected:
        pytest.fail(f"agentwatch swallowed internal errors: {errors!r}")
