"""Three real ``agentwatch hub serve`` processes on one fresh Postgres database split twelve
HTTP monitors by lease: each monitor is checked by one hub at a time, every check that
reached the local target is recorded once, and when one hub is killed with -9 the other two
take its monitors within two intervals and share them out again."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families
from tests.hub._receivers import wait_until
from tests.hub._support import HubProcess
from tests.hub._targets import Target

MONITORS = [f"m{i:02d}" for i in range(12)]
INTERVAL = 3.0


def _config(web: Target) -> str:
    lines = [f'  - {{name: {n}, type: http, url: "{web.url}/{n}", interval: 3s}}' for n in MONITORS]
    return "monitors:\n" + "\n".join(lines) + "\n"


def _sql(url: str, query: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return list(conn.execute(query, args).fetchall())


def _holders(url: str) -> dict[str, int]:
    """monitor -> pid of the hub holding a lease that has not run out."""
    rows = _sql(
        url,
        "SELECT name, lease_owner FROM monitors_state"
        " WHERE lease_owner IS NOT NULL AND lease_until > extract(epoch from now())",
    )
    return {str(name): int(str(owner).split(":")[1]) for name, owner in rows}


def _spread(url: str) -> list[int]:
    return sorted(Counter(_holders(url).values()).values())


def _checks(hub: HubProcess) -> Counter[str]:
    """monitor -> checks this hub ran, from its own /metrics."""
    counts: Counter[str] = Counter()
    for family in text_string_to_metric_families(httpx.get(f"{hub.url}/metrics").text):
        if family.name == "agentwatch_monitor_checks":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[sample.labels["monitor"]] += int(sample.value)
    return counts


def _first_after(url: str, name: str, at: float) -> float | None:
    (first,) = _sql(
        url, "SELECT min(at) FROM monitors_results WHERE monitor = %s AND at > %s", name, at
    )[0]
    return None if first is None else float(str(first))


def _pid(hub: HubProcess) -> int:
    assert hub.proc is not None
    return hub.proc.pid


def test_hubs_split_the_monitors_check_each_once_and_take_over_a_killed_one(
    tmp_path: Path, pg_url: str
) -> None:
    with Target() as web:
        config = tmp_path / "hub.yaml"
        config.write_text(_config(web))
        hubs = [HubProcess(config, database=pg_url, log=tmp_path / f"hub{i}.log") for i in range(3)]
        try:
            for hub in hubs:
                hub.spawn()
            for hub in hubs:
                hub.ready(60)
            wait_until(
                "three hubs holding four monitors each", lambda: _spread(pg_url) == [4, 4, 4], 60
            )

            # a quiet while: each monitor's checks come from one hub, the one holding its lease
            holders = _holders(pg_url)
            before = {_pid(h): _checks(h) for h in hubs}
            time.sleep(2 * INTERVAL)
            after = {_pid(h): _checks(h) for h in hubs}
            assert _holders(pg_url) == holders
            for name in MONITORS:
                checked_by = [pid for pid in after if after[pid][name] > before[pid][name]]
                assert checked_by == [holders[name]], (name, checked_by)

            victim = hubs[0]
            orphans = sorted(n for n, pid in holders.items() if pid == _pid(victim))
            killed_at = time.time()
            victim.kill()
            survivors = {_pid(h) for h in hubs[1:]}
            wait_until(
                "the survivors holding every monitor",
                lambda: set(_holders(pg_url).values()) == survivors and len(_holders(pg_url)) == 12,
                30,
            )
            for name in orphans:  # the first check after the kill, by the survivors' own clock
                first = wait_until(
                    f"a check of {name} after the kill",
                    lambda n=name: _first_after(pg_url, n, killed_at),
                )
                assert first - killed_at <= 2 * INTERVAL, (name, first - killed_at)
            wait_until("two hubs holding six each", lambda: _spread(pg_url) == [6, 6], 60)
        finally:
            for hub in hubs:
                hub.stop()
        # every check that reached the target was recorded exactly once; only the killed
        # hub's check in flight at the kill may have reached it unrecorded
        recorded = dict(
            _sql(pg_url, "SELECT monitor, count(*) FROM monitors_results GROUP BY monitor")
        )
        for name in MONITORS:
            hits = web.hits[f"/{name}"]
            allowance = 1 if name in orphans else 0
            assert recorded[name] <= hits <= recorded[name] + allowance, (
                name,
                hits,
                recorded[name],
            )
        assert _holders(pg_url) == {}  # a clean stop gives the leases back
