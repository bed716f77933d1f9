"""Fixtures of the hub's tests: a fresh Postgres database per test, a hub app in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.hub._support import postgres_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty Postgres database on 127.0.0.1:5432 (dropped afterwards)."""
    with postgres_database() as url:
        yield url
