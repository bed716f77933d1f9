"""Reading and writing the monitors' rows; every function takes the connection it runs on.

``record`` is the one writer of a check's outcome: the raw result, the hour's and the
day's rollup, and the monitor's state, in the caller's transaction; it returns what
changed so the caller publishes the event in that same transaction.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from .config import MonitorConfig, Retention
from .status import Counts, next_status
from .tables import maintenance, results, rollups, state

__all__ = [
    "Outcome",
    "Recorded",
    "delete_monitor",
    "history",
    "prune",
    "record",
    "record_many",
    "set_paused",
    "shared_rows",
    "state_rows",
    "sync_yaml",
    "uptime_sums",
]

HOUR, DAY = 3600.0, 86400.0
GOOD = ("up", "degraded")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one check found, as the scheduler hands it to :func:`record`."""

    status: str  # up | degraded | down | maintenance
    at: float
    latency_ms: float | None
    message: str
    trace_id: str | None = None
    components: Mapping[str, str] | None = None
    cause: str | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    previous: str
    status: str


async def sync_yaml(
    conn: AsyncConnection, monitors: Sequence[MonitorConfig], now: float
) -> list[MonitorConfig]:
    """Rows for the file's monitors (new ones pending); monitors gone from the file leave
    the state table (their results stay until retention). API monitors are not touched.
    Returns the monitors whose ``paused`` the file changed, for the caller to pause or
    resume (the API's pause of a monitor the file leaves alone stays)."""
    rows = (await conn.execute(sa.select(state.c.name, state.c.owner, state.c.spec))).all()
    owners = {row.name: row.owner for row in rows}
    written = {row.name: bool((row.spec or {}).get("paused", False)) for row in rows}
    names = {m.name for m in monitors}
    gone = [name for name, owner in owners.items() if owner == "yaml" and name not in names]
    if gone:
        await conn.execute(state.delete().where(state.c.name.in_(gone)))
    for monitor in monitors:
        if monitor.name not in owners:  # another hub starting now may insert it first
            insert = _dialect(conn).insert(state).values(**_new_row(monitor, "yaml", now))
            await conn.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
        else:
            await conn.execute(
                state.update()
                .where(state.c.name == monitor.name)
                .values(owner="yaml", type=monitor.type, spec=_public_spec(monitor))
            )
    return [m for m in monitors if m.name in written and written[m.name] != m.paused]


def _new_row(monitor: MonitorConfig, owner: str, now: float) -> dict[str, Any]:
    return {
        "name": monitor.name,
        "owner": owner,
        "type": monitor.type,
        "spec": _public_spec(monitor),
        "status": "paused" if monitor.paused else "pending",
        "since": now,
        "message": "",
        "fails": 0,
        "oks": 0,
        "paused": monitor.paused,
        "components": {},
        "created_at": now,
    }


def _public_spec(monitor: MonitorConfig) -> dict[str, Any]:
    return dict(monitor.spec)


async def insert_api_monitor(conn: AsyncConnection, monitor: MonitorConfig, now: float) -> None:
    await conn.execute(state.insert().values(**_new_row(monitor, "api", now)))


async def replace_api_monitor(conn: AsyncConnection, monitor: MonitorConfig) -> None:
    await conn.execute(
        state.update()
        .where(state.c.name == monitor.name)
        .values(type=monitor.type, spec=_public_spec(monitor))
    )


async def delete_monitor(conn: AsyncConnection, name: str) -> None:
    await conn.execute(state.delete().where(state.c.name == name))


_UNLISTED = ("spec", "components", "last_push", "created_at", "lease_owner", "lease_until")
# what a listing shows, the spec as its JSON text (decoded only where shown anew)
LISTED = (
    *(c for c in state.c if c.name not in _UNLISTED),
    sa.cast(state.c.spec, sa.Text).label("spec"),
)


async def state_rows(
    conn: AsyncConnection, names: Iterable[str] | None = None, columns: Sequence[Any] = ()
) -> list[Any]:
    """The monitors' rows by name (``columns``: some, e.g. :data:`LISTED`; default all), as
    named tuples: a SQLAlchemy row answers an attribute in about 0.6 µs, and listing 1,000
    monitors reads 15 attributes of each."""
    query = sa.select(*columns) if columns else sa.select(state)
    query = query.order_by(state.c.name)
    if names is not None:
        query = query.where(state.c.name.in_(list(names)))
    result = await conn.execute(query)
    plain = _plain_row(tuple(result.keys()))
    return [plain._make(row) for row in result]


@functools.cache
def _plain_row(fields: tuple[str, ...]) -> Any:
    return collections.namedtuple("MonitorRow", fields)  # type: ignore[misc]


async def shared_rows(conn: AsyncConnection) -> list[Any]:
    """What hubs sharing a database learn from each other: API monitors and pauses."""
    query = sa.select(state.c.name, state.c.owner, state.c.spec, state.c.paused).where(
        sa.or_(state.c.owner == "api", state.c.paused.is_(True))
    )
    return list((await conn.execute(query)).all())


async def set_paused(conn: AsyncConnection, name: str, paused: bool, now: float) -> Recorded | None:
    row = (await conn.execute(sa.select(state).where(state.c.name == name))).first()
    if row is None:
        return None
    if row.paused == paused:  # a second pause, or a resume of a running monitor: as it is
        return Recorded(row.status, row.status)
    status = "paused" if paused else "pending"
    await conn.execute(
        state.update()
        .where(state.c.name == name)
        .values(paused=paused, status=status, since=now, fails=0, oks=0)
    )
    return Recorded(row.status, status)


_STATE_FIELDS = (
    "status",
    "fails",
    "oks",
    "since",
    "last_check",
    "latency_ms",
    "message",
    "trace_id",
    "cause",
    "components",
)
_ADDED: tuple[str, ...] = ("checks", "up", "degraded", "down", "maintenance")
_ADDED += ("latency_total", "seconds_down", "seconds_maintenance")


@dataclass(frozen=True)
class _Prepared:
    """The statements of :func:`record`, built once per dialect (a check runs them all)."""

    add_result: Any
    roll_up: Any
    write_state: Any


@functools.cache
def _prepared(dialect: str) -> _Prepared:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    upsert = module.insert(rollups)
    return _Prepared(
        add_result=module.insert(results).on_conflict_do_nothing(index_elements=["monitor", "at"]),
        roll_up=upsert.on_conflict_do_update(
            index_elements=["monitor", "period", "start"],
            set_={
                name: getattr(rollups.c, name) + getattr(upsert.excluded, name) for name in _ADDED
            },
        ),
        write_state=state.update()
        .where(state.c.name == sa.bindparam("key"))
        .values({name: sa.bindparam(f"new_{name}") for name in _STATE_FIELDS}),
    )


async def record(
    conn: AsyncConnection, monitor: MonitorConfig, outcome: Outcome
) -> Recorded | None:
    """Store ``outcome``; the status change it makes, or None (also when the monitor is
    gone or paused meanwhile)."""
    return (await record_many(conn, [(monitor, outcome)]))[0][1]


async def record_many(
    conn: AsyncConnection, items: Sequence[tuple[MonitorConfig, Outcome]]
) -> list[tuple[Outcome, Recorded | None]]:
    """Store many outcomes with one statement of each kind (a monitor may come twice, in
    order); each outcome (a ``down`` one naming a ``depends_on`` parent that is down as its
    cause) and the status change it makes, as :func:`record`."""
    sql = _prepared(conn.dialect.name)
    names = {monitor.name for monitor, _ in items}
    names |= {parent for monitor, _ in items for parent in monitor.depends_on}
    rows = {
        row.name: row._asdict()
        for row in await conn.execute(sa.select(state).where(state.c.name.in_(sorted(names))))
    }
    changes: list[tuple[Outcome, Recorded | None]] = []
    added, updated = [], {}
    rolled: dict[tuple[str, str, float], dict[str, Any]] = {}
    for monitor, outcome in items:
        row = rows.get(monitor.name)
        if row is None or row["paused"]:
            changes.append((outcome, None))
            continue
        outcome = _with_cause(monitor, outcome, rows)
        added.append(_result_row(monitor, outcome))
        for bucket in _rollup_rows(monitor, outcome):
            key = (bucket["monitor"], bucket["period"], bucket["start"])
            if key in rolled:  # one row per key in a statement (Postgres insists)
                for name in _ADDED:
                    rolled[key][name] += bucket[name]
            else:
                rolled[key] = bucket
        previous, values = row["status"], _next_state(row, monitor, outcome)
        row.update(values)
        updated[monitor.name] = {"key": monitor.name, **{f"new_{k}": v for k, v in values.items()}}
        change = Recorded(previous, values["status"]) if values["status"] != previous else None
        changes.append((outcome, change))
    if added:
        await conn.execute(sql.add_result, added)
        await conn.execute(sql.roll_up, list(rolled.values()))
        await conn.execute(sql.write_state, list(updated.values()))
    return changes


def _with_cause(
    monitor: MonitorConfig, outcome: Outcome, rows: Mapping[str, Mapping[str, Any]]
) -> Outcome:
    if outcome.status != "down":
        return outcome
    down = [p for p in monitor.depends_on if rows.get(p, {}).get("status") == "down"]
    if not down:
        return outcome
    return dataclasses.replace(
        outcome, message=f"{outcome.message} (caused by {down[0]}, which is down)", cause=down[0]
    )


def _result_row(monitor: MonitorConfig, outcome: Outcome) -> dict[str, Any]:
    return {
        "monitor": monitor.name,
        "at": outcome.at,
        "status": outcome.status,
        "latency_ms": outcome.latency_ms,
        "message": outcome.message[:2000],
        "trace_id": outcome.trace_id if outcome.status != "up" else None,  # 32 bytes a check
    }


def _next_state(row: Mapping[str, Any], monitor: MonitorConfig, outcome: Outcome) -> dict[str, Any]:
    if outcome.status == "maintenance":
        counts = Counts("maintenance", 0, 0)
    else:
        previous = Counts(
            "pending" if row["status"] == "maintenance" else row["status"], row["fails"], row["oks"]
        )
        counts = next_status(
            previous, outcome.status, down_after=monitor.down_after, up_after=monitor.up_after
        )
    changed = counts.status != row["status"]
    return {
        "status": counts.status,
        "fails": counts.fails,
        "oks": counts.oks,
        "since": outcome.at if changed else row["since"],
        "last_check": outcome.at,
        "latency_ms": outcome.latency_ms,
        "message": outcome.message[:2000],
        "trace_id": outcome.trace_id if outcome.status != "up" else row["trace_id"],
        "cause": outcome.cause if counts.status == "down" else None,
        "components": dict(outcome.components or {}),
    }


def _rollup_rows(monitor: MonitorConfig, outcome: Outcome) -> list[dict[str, Any]]:
    kind = outcome.status
    return [
        {
            "monitor": monitor.name,
            "period": period,
            "start": outcome.at - outcome.at % size,
            "checks": 1,
            "up": int(kind == "up"),
            "degraded": int(kind == "degraded"),
            "down": int(kind == "down"),
            "maintenance": int(kind == "maintenance"),
            "latency_total": outcome.latency_ms or 0.0,
            "seconds_down": monitor.interval if kind == "down" else 0.0,
            "seconds_maintenance": monitor.interval if kind == "maintenance" else 0.0,
        }
        for period, size in (("hour", HOUR), ("day", DAY))
    ]


def _dialect(conn: AsyncConnection) -> Any:
    return postgresql if conn.dialect.name == "postgresql" else sqlite


async def uptime_sums(
    conn: AsyncConnection,
    names: Sequence[str],
    period: str,
    firsts: Sequence[float],
    *,
    before: float | None = None,
) -> dict[str, tuple[int, ...]]:
    """For each monitor with rollups of ``period``: ``[counted, good]`` for each start in
    ``firsts`` (the rollups starting at or after it, and before ``before``), flat; counted
    leaves maintenance out, good is up or degraded. One statement, one row a monitor."""
    counted = rollups.c.checks - rollups.c.maintenance
    good = rollups.c.up + rollups.c.degraded
    sums = []
    for first in firsts:
        inside = rollups.c.start >= first
        sums += [
            sa.func.sum(sa.case((inside, counted), else_=0)),
            sa.func.sum(sa.case((inside, good), else_=0)),
        ]
    query = sa.select(rollups.c.monitor, *sums).where(
        rollups.c.monitor.in_(list(names)),
        rollups.c.period == period,
        rollups.c.start >= min(firsts),
    )
    if before is not None:
        query = query.where(rollups.c.start < before)
    rows = (await conn.execute(query.group_by(rollups.c.monitor))).all()
    return {values[0]: values[1:] for values in map(tuple, rows)}  # sums of integers: ints


_DAY_COLUMNS: tuple[str, ...] = ("monitor", "start", "checks", "up", "degraded", "maintenance")
_DAY_COLUMNS += ("seconds_down", "seconds_maintenance")


async def daily(conn: AsyncConnection, names: Sequence[str], since: float) -> list[Any]:
    """The daily rollups' columns a status page's bars need, ``_DAY_COLUMNS`` in that order
    (90 days of 1,000 monitors is 90,000 rows: no column more than needed, and in no
    particular order, the caller places each by its start; sorting them took a third)."""
    columns = [getattr(rollups.c, name) for name in _DAY_COLUMNS]
    query = sa.select(*columns).where(
        rollups.c.period == "day", rollups.c.monitor.in_(list(names)), rollups.c.start >= since
    )
    return list((await conn.execute(query)).all())


async def history(
    conn: AsyncConnection, name: str, since: float, until: float, limit: int
) -> list[Any]:
    query = (
        sa.select(results)
        .where(results.c.monitor == name, results.c.at >= since, results.c.at <= until)
        .order_by(results.c.at.desc())
        .limit(limit)
    )
    return list((await conn.execute(query)).all())


async def prune(conn: AsyncConnection, retention: Retention, now: float) -> int:
    """Delete what is past retention, monitor by monitor (each delete a range of the key)."""
    removed = 0
    async for name in _monitors_in(conn, results.c.monitor):
        removed += await _delete(
            conn,
            results.delete().where(
                results.c.monitor == name, results.c.at < now - retention.results
            ),
        )
    async for name in _monitors_in(conn, rollups.c.monitor):
        for period, kept in (("hour", retention.hourly), ("day", retention.daily)):
            old = rollups.delete().where(
                rollups.c.monitor == name, rollups.c.period == period, rollups.c.start < now - kept
            )
            removed += await _delete(conn, old)
    return removed + await _delete(
        conn, maintenance.delete().where(maintenance.c.ends_at < now - retention.daily)
    )


async def _monitors_in(conn: AsyncConnection, column: Any) -> AsyncIterator[str]:
    """Each monitor named in ``column`` (the key's first part), one index seek apiece."""
    after = ""
    while True:
        name = (await conn.execute(sa.select(sa.func.min(column)).where(column > after))).scalar()
        if name is None:
            return
        yield name
        after = name


async def _delete(conn: AsyncConnection, statement: Any) -> int:
    return (await conn.execute(statement)).rowcount or 0
