"""Checks from any callable, and the readiness gates (migrations, warm-up, dependencies).

>>> health.register("vector_index", CallableCheck(index.ping))
>>> warmup = ReadinessGate("model warm-up")
>>> health.register("warmup", warmup)              # critical: /health/ready is 503 ...
>>> warmup.mark_ready()                            # ... until this
>>> health.register("migrations", MigrationsCheck(lambda: (current_rev(), head_rev())))
>>> health.register("migrations", MigrationsCheck.alembic(engine, "migrations"))
>>> await warmup.run(load_embeddings)              # opens the gate when it returns
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

from .base import BaseCheck, CheckResult, Status, call_maybe_async

__all__ = ["CallableCheck", "DependenciesGate", "MigrationsCheck", "ReadinessGate"]


def _as_result(value: Any, component_type: str) -> CheckResult:
    """A callable's return value as a result: CheckResult, bool, None or a status word."""
    if isinstance(value, CheckResult):
        return value
    if value is None or value is True:
        return CheckResult("pass", component_type=component_type)
    if value is False:
        return CheckResult("fail", component_type=component_type, output="check returned False")
    if value in ("pass", "warn", "fail"):
        return CheckResult(value, component_type=component_type)
    raise TypeError(f"a check callable returns CheckResult, bool, None or a status, not {value!r}")


class CallableCheck(BaseCheck):
    """Any sync or async callable as a check.

    It may return a :class:`CheckResult`, ``True``/``None`` (pass), ``False`` (fail) or a
    status word, or raise (fail, with the redacted error text as output). A sync callable
    runs in a worker thread unless ``blocking=False`` says it is cheap.
    """

    def __init__(
        self, fn: Callable[[], Any], *, component_type: str = "component", blocking: bool = True
    ) -> None:
        super().__init__()
        self.fn = fn
        self.component_type = component_type
        self._blocking = blocking and not inspect.iscoroutinefunction(fn)

    async def check(self) -> CheckResult:
        if self._blocking:
            value = await self.in_thread(self.fn)
            if inspect.isawaitable(value):
                value = await value
        else:
            value = await call_maybe_async(self.fn)
        return _as_result(value, self.component_type)


class MigrationsCheck(BaseCheck):
    """Readiness gate: the database schema is at the latest migration.

    ``fn`` returns ``True``/``False``, or ``(current, head)`` revisions (equal means
    applied), e.g. with Alembic: ``lambda: (MigrationContext.configure(conn)
    .get_current_revision(), ScriptDirectory.from_config(cfg).get_current_head())``.
    """

    critical = True

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn

    @classmethod
    def alembic(
        cls, engine: Any, script_location: str, *, version_table: str = "alembic_version"
    ) -> MigrationsCheck:
        """The database's Alembic revision against the scripts' head(s) (sync ``Engine``).

        >>> MigrationsCheck.alembic(engine, "migrations")        # doctest: +SKIP
        """

        def revisions() -> tuple[str, str]:
            from alembic.runtime.migration import MigrationContext
            from alembic.script import ScriptDirectory

            heads = ScriptDirectory(script_location).get_heads()
            with engine.connect() as connection:
                context = MigrationContext.configure(
                    connection, opts={"version_table": version_table}
                )
                current = context.get_current_heads()
            return ",".join(sorted(current)) or "none", ",".join(sorted(heads))

        return cls(revisions)

    async def check(self) -> CheckResult:
        value = await self.in_thread(self.fn)
        if inspect.isawaitable(value):
            value = await value
        if isinstance(value, tuple) and len(value) == 2:
            current, head = value
            applied = current == head
            output = "" if applied else f"schema at {current}, head is {head}"
            return CheckResult(
                "pass" if applied else "fail",
                current,
                "revision",
                "datastore",
                output,
                {"current": current, "head": head},
                "revision",
            )
        applied = bool(value)
        output = "" if applied else "migrations not applied"
        status: Status = "pass" if applied else "fail"
        return CheckResult(status, applied, None, "datastore", output, measurement="applied")


class ReadinessGate:
    """Readiness gate the application opens itself (warm-up done, caches loaded).

    Fails with ``output`` until :meth:`mark_ready`; critical by default.
    """

    component_type = "component"
    critical = True

    def __init__(self, output: str = "warming up") -> None:
        self.output = output
        self._ready = threading.Event()

    def mark_ready(self) -> None:
        self._ready.set()

    async def run(self, warm_up: Callable[[], Any]) -> None:
        """Run ``warm_up`` (async, or sync in a thread) and open the gate when it returns.

        When it raises, the gate stays shut, its output says why, and the error propagates.

        >>> await gate.run(load_model)                       # doctest: +SKIP
        """
        try:
            if inspect.iscoroutinefunction(warm_up):
                await warm_up()
            else:
                value = await asyncio.to_thread(warm_up)
                if inspect.isawaitable(value):
                    await value
        except Exception as exc:
            self.output = f"warm-up failed: {type(exc).__name__}: {exc}"
            raise
        self.mark_ready()

    def reset(self) -> None:
        self._ready.clear()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    async def check(self) -> CheckResult:
        if self.ready:
            return CheckResult("pass", True, None, self.component_type, measurement="ready")
        return CheckResult(
            "fail", False, None, self.component_type, self.output, measurement="ready"
        )


class DependenciesGate:
    """Readiness gate: every named dependency has been loaded (models, indexes, configs).

    >>> gate = DependenciesGate("embedding_model", "prompt_templates")
    >>> gate.loaded("embedding_model")
    """

    component_type = "component"
    critical = True

    def __init__(self, *names: str) -> None:
        self.required = frozenset(names)
        self._loaded: set[str] = set()
        self._lock = threading.Lock()

    def loaded(self, name: str) -> None:
        with self._lock:
            self._loaded.add(name)

    def missing(self) -> list[str]:
        with self._lock:
            return sorted(self.required - self._loaded)

    async def check(self) -> CheckResult:
        missing = self.missing()
        done = len(self.required) - len(missing)
        status: Status = "fail" if missing else "pass"
        output = "waiting for: " + ", ".join(missing) if missing else ""
        return CheckResult(
            status,
            done,
            "dependencies",
            self.component_type,
            output,
            {"required": sorted(self.required), "missing": missing},
            "loaded",
        )
