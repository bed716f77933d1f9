"""1,000 HTTP monitors on one hub: does it keep time, answer, and stay small?

    python bench/hub_monitors.py [--monitors 1000] [--interval 10] [--duration 120]
                                 [--steady-scale 0.1]

1. Live run: a local HTTP server (its own process, keep-alive, answers 200 "ok") and
   ``agentwatch hub serve`` on SQLite (its own process) with ``--monitors`` HTTP monitors
   every ``--interval`` seconds and one public status page showing them all. Once every
   monitor is up (each went pending -> up: a status change, an alert resolved, the status
   part told) and ``--warmup`` seconds more, for ``--duration`` seconds: the first quarter checks only, then
   a client asks ``/api/v1/monitors`` and ``/status/public`` in turn, four times a second.
   Printed: check lateness p50/p99 (the hub's own
   ``agentwatch_monitor_check_lateness_seconds``, target p99 < 1 s), the p50/p95 of both
   pages (target p95 < 200 ms), the hub's CPU (share of one core, from /proc, checks only
   and with the pages asked), and the SQLite bytes a check takes (``dbstat``: the results
   table and its rollups), hence bytes per monitor-day at this interval.
2. Baseline, same machine, same run: a bare prober (one ``httpx.AsyncClient``, the same
   checks on the same schedule, nothing stored, nothing served) for the same duration.
   Printed: the hub's CPU (checks only) over the prober's.
3. Steady state at 60 s with the default retention (raw 7 d, hourly 90 d, daily 400 d):
   ``--steady-scale`` of 1,000 monitors (default 100) filled into a fresh database with
   the hub's own schema, as the hub writes it (results in time order, each monitor's oldest
   pruned every simulated hour after day 7, so freed pages are reused as in a running
   hub), then scaled to 1,000 monitors and compared with 1 GiB. Uptime Kuma's users report
   1.3 GB at 250 monitors.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from _hubproc import free_port, wait_ready

GiB = 1024**3
DAY, HOUR = 86400.0, 3600.0
TICKS = os.sysconf("SC_CLK_TCK")


# -- the target --------------------------------------------------------------------------


class _Answer(asyncio.Protocol):
    REPLY = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.transport.write(self.REPLY)


def _target(port: int) -> None:
    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Answer, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    asyncio.run(serve())


# -- the hub -----------------------------------------------------------------------------


def _config(target: str, monitors: int, interval: float) -> str:
    names = [f"m{i:04d}" for i in range(monitors)]
    lines = [
        f'  - {{name: {n}, type: http, url: "{target}/{n}", interval: {interval:g}s}}'
        for n in names
    ]
    page = f"  - {{slug: public, title: Bench, public: true, monitors: [{', '.join(names)}]}}"
    return "monitors:\n" + "\n".join(lines) + "\nstatus_pages:\n" + page + "\n"


def _start_hub(folder: Path, config: str) -> tuple[subprocess.Popen[bytes], str]:
    (folder / "hub.yaml").write_text(config)
    port = free_port()
    args = [sys.executable, "-m", "agentwatch", "hub", "serve", "--port", str(port)]
    args += ["--config", str(folder / "hub.yaml"), "--database", f"sqlite:///{folder}/hub.db"]
    args += ["--log-level", "warning"]
    hub = subprocess.Popen(args, env={**os.environ, "XDG_STATE_HOME": str(folder / "state")})
    url = f"http://127.0.0.1:{port}"
    wait_ready(hub, url, 60)
    return hub, url


def _settle(url: str, monitors: int, warmup: float) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        listing = httpx.get(f"{url}/api/v1/monitors", timeout=60).json()["monitors"]
        if sum(1 for m in listing if m["status"] == "up") == monitors:
            break
        time.sleep(1)
    time.sleep(warmup)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _lateness_buckets(url: str) -> dict[float, float]:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    found: dict[float, float] = {}
    pattern = r'agentwatch_monitor_check_lateness_seconds_bucket\{le="([^"]+)"\} (\S+)'
    for bound, value in re.findall(pattern, text):
        found[float(bound)] = float(value)
    return found


def _quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """histogram_quantile over the buckets' increase (linear within a bucket)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1]
    if total <= 0:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = bound, count
    return bounds[-2]


def _ask_pages(url: str, stop: threading.Event, timings: dict[str, list[float]]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            for path in ("/api/v1/monitors", "/status/public"):
                started = time.perf_counter()
                response = client.get(path)
                response.raise_for_status()
                timings[path].append((time.perf_counter() - started) * 1000)
                stop.wait(0.125)


def _table_bytes(db: Path) -> dict[str, tuple[int, int]]:
    """table -> (bytes in its b-trees, rows) for the results and rollups."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = {}
        for table in ("monitors_results", "monitors_rollups"):
            size = conn.execute(  # one b-tree each: no index beside it
                "SELECT sum(pgsize) FROM dbstat WHERE name = ?", (table,)
            ).fetchone()
            rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            out[table] = (int(size[0] or 0), int(rows))
        return out
    finally:
        conn.close()


def live(monitors: int, interval: float, duration: float, warmup: float) -> dict[str, Any]:
    port = free_port()
    target = multiprocessing.Process(target=_target, args=(port,), daemon=True)
    target.start()
    with tempfile.TemporaryDirectory(prefix="bench-hub-monitors-") as folder:
        hub, url = _start_hub(Path(folder), _config(f"http://127.0.0.1:{port}", monitors, interval))
        try:
            _settle(url, monitors, warmup)  # every monitor pending -> up: a change each
            timings: dict[str, list[float]] = {"/api/v1/monitors": [], "/status/public": []}
            stop = threading.Event()
            asker = threading.Thread(target=_ask_pages, args=(url, stop, timings))
            before, cpu_before, started = (
                _lateness_buckets(url),
                _cpu_seconds(hub.pid),
                time.monotonic(),
            )
            time.sleep(duration / 4)  # checks only
            cpu_quiet, quiet = _cpu_seconds(hub.pid) - cpu_before, time.monotonic() - started
            asker.start()
            time.sleep(duration * 3 / 4)  # checks and pages
            stop.set()
            asker.join()
            after, cpu_after = _lateness_buckets(url), _cpu_seconds(hub.pid)
            wall = time.monotonic() - started
            listing = httpx.get(f"{url}/api/v1/monitors", timeout=30).json()["monitors"]
            sizes = _table_bytes(Path(folder) / "hub.db")
        finally:
            hub.terminate()
            hub.wait(30)
            target.terminate()
    checks = after[float("inf")] - before.get(float("inf"), 0.0)
    return {
        "checks": checks,
        "expected": monitors * wall / interval,
        "up": sum(1 for m in listing if m["status"] == "up"),
        "lateness_p50": _quantile(0.5, before, after),
        "lateness_p99": _quantile(0.99, before, after),
        "pages": {p: _percentiles(t) for p, t in timings.items()},
        "cpu": (cpu_after - cpu_before) / wall,
        "cpu_quiet": cpu_quiet / quiet,
        "sizes": sizes,
    }


def _percentiles(values: Sequence[float]) -> tuple[float, float, int]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return statistics.median(ordered), p95, len(ordered)


# -- the baseline prober -----------------------------------------------------------------


def _prober(target: str, monitors: int, interval: float, duration: float, out: Any) -> None:
    async def probe_all() -> int:
        done = 0
        semaphore = asyncio.Semaphore(64)
        async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:

            async def one(name: str, first: float) -> None:
                nonlocal done
                await asyncio.sleep(first)
                due = time.monotonic()
                while time.monotonic() < stop_at:
                    async with semaphore:
                        await client.get(f"{target}/{name}")
                    done += 1
                    due += interval
                    await asyncio.sleep(max(0.0, due - time.monotonic()))

            stop_at = time.monotonic() + duration
            await asyncio.gather(
                *(one(f"m{i:04d}", random.uniform(0, interval)) for i in range(monitors))
            )
        return done

    started = time.process_time()
    out["checks"] = asyncio.run(probe_all())
    out["cpu_seconds"] = time.process_time() - started


def baseline(monitors: int, interval: float, duration: float) -> dict[str, float]:
    port = free_port()
    target = multiprocessing.Process(target=_target, args=(port,), daemon=True)
    target.start()
    time.sleep(0.5)
    try:
        with multiprocessing.Manager() as manager:
            out = manager.dict()
            started = time.monotonic()
            prober = multiprocessing.Process(
                target=_prober, args=(f"http://127.0.0.1:{port}", monitors, interval, duration, out)
            )
            prober.start()
            prober.join()
            wall = time.monotonic() - started
            return {"checks": float(out["checks"]), "cpu": float(out["cpu_seconds"]) / wall}
    finally:
        target.terminate()


# -- steady state ------------------------------------------------------------------------


def steady(total: int, scaled: int, interval: float = 60.0) -> dict[str, Any]:
    """A hub database as ``total`` monitors at ``interval`` leave it at steady state: the
    rollups of all of them (90 d hourly, 400 d daily), the raw results of ``scaled`` of
    them (8 days in time order, pruned hourly past 7 d), scaled up; then a hub serves it
    and its pages are timed."""
    from agentwatch.hub.store import Database

    with tempfile.TemporaryDirectory(prefix="bench-hub-steady-") as folder:
        path = Path(folder) / "hub.db"

        async def make() -> None:
            db = Database.open(f"sqlite:///{path}")
            await db.migrate()
            await db.close()

        asyncio.run(make())
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=WAL")
        names = [f"m{i:04d}" for i in range(total)]
        now = time.time() - time.time() % DAY
        _fill_rollups(conn, names, now)
        _fill_results(conn, names[:scaled], now, interval)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0] * page
        (raw,) = conn.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name = 'monitors_results'"
        ).fetchone()
        (results,) = conn.execute("SELECT count(*) FROM monitors_results").fetchone()
        conn.close()
        size = path.stat().st_size
        estimate = size + (raw + free) * (total / scaled - 1)
        pages = _serve_steady(Path(folder), names)
        return {"bytes": float(size), "estimate": estimate, "results": results, "pages": pages}


def _fill_results(
    conn: sqlite3.Connection, names: Sequence[str], now: float, interval: float
) -> None:
    raw_days, kept = 8, 7 * DAY
    first = now - raw_days * DAY
    per_hour = int(HOUR / interval)
    for hour in range(raw_days * 24):
        start = first + hour * HOUR
        rows = [
            (name, start + k * interval + j * 0.01, "up", random.uniform(0.4, 40.0), "HTTP 200")
            for k in range(per_hour)
            for j, name in enumerate(names)
        ]
        conn.executemany(
            "INSERT INTO monitors_results (monitor, at, status, latency_ms, message)"
            " VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        horizon = start + HOUR - kept
        if horizon > first:
            for name in names:  # as the hub prunes: each monitor along its key
                conn.execute(
                    "DELETE FROM monitors_results WHERE monitor = ? AND at < ?", (name, horizon)
                )
        conn.commit()


def _serve_steady(folder: Path, names: Sequence[str]) -> dict[str, tuple[float, float, int]]:
    """The pages of a hub on the steady-state database (its monitors paused: nothing new)."""
    lines = [f"  - {{name: {n}, type: tcp, host: 127.0.0.1, port: 9, paused: true}}" for n in names]
    page = f"  - {{slug: public, title: Bench, public: true, monitors: [{', '.join(names)}]}}"
    hub, url = _start_hub(
        folder, "monitors:\n" + "\n".join(lines) + "\nstatus_pages:\n" + page + "\n"
    )
    timings: dict[str, list[float]] = {"/api/v1/monitors": [], "/status/public": []}
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            for _ in range(20):
                for path in timings:
                    started = time.perf_counter()
                    client.get(path).raise_for_status()
                    timings[path].append((time.perf_counter() - started) * 1000)
                time.sleep(2.1)  # past the status page's 2 s cache: each visit builds it
    finally:
        hub.terminate()
        hub.wait(30)
    return {path: _percentiles(values) for path, values in timings.items()}


def _fill_rollups(conn: sqlite3.Connection, names: Sequence[str], now: float) -> None:
    rows = []
    for name in names:
        rows += [
            (name, "hour", now - h * HOUR, 60, 60, 0, 0, 0, 60 * 12.5, 0.0, 0.0)
            for h in range(90 * 24)
        ]
        rows += [
            (name, "day", now - d * DAY, 1440, 1440, 0, 0, 0, 1440 * 12.5, 0.0, 0.0)
            for d in range(400)
        ]
    conn.executemany("INSERT INTO monitors_rollups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()


# -- report ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--steady-scale", type=float, default=0.1)
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds after all are up")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    print(f"{args.monitors} HTTP monitors every {args.interval:g} s for {args.duration:g} s")
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} at the start")

    run = live(args.monitors, args.interval, args.duration, args.warmup)
    print(f"\nchecks run: {run['checks']:.0f} (schedule: {run['expected']:.0f}); up: {run['up']}")
    print(
        f"check lateness: p50 {run['lateness_p50'] * 1000:.0f} ms, p99 {run['lateness_p99'] * 1000:.0f} ms"
    )
    print("| page | p50 ms | p95 ms | requests |")
    print("| --- | ---: | ---: | ---: |")
    for path, (p50, p95, count) in run["pages"].items():
        print(f"| {path} | {p50:.1f} | {p95:.1f} | {count} |")
    (results_bytes, results_rows), (rollup_bytes, rollup_rows) = (
        run["sizes"]["monitors_results"],
        run["sizes"]["monitors_rollups"],
    )
    per_check = results_bytes / max(results_rows, 1)
    per_rollup = rollup_bytes / max(rollup_rows, 1)
    per_day = per_check * DAY / args.interval + per_rollup * 25
    print(
        f"SQLite: {per_check:.0f} bytes a check ({results_rows} rows), {per_rollup:.0f} bytes a "
        f"rollup ({rollup_rows} rows): {per_day / 1e6:.2f} MB per monitor-day at {args.interval:g} s"
    )

    bare = baseline(args.monitors, args.interval, args.duration)
    print(
        f"\nhub CPU, checks only: {run['cpu_quiet'] * 100:.1f} % of a core; with the pages asked:"
        f" {run['cpu'] * 100:.1f} %; bare prober {bare['cpu'] * 100:.1f} % ({bare['checks']:.0f}"
        f" checks): {run['cpu_quiet'] / max(bare['cpu'], 1e-9):.2f}x the bare prober"
    )

    scaled = max(1, round(1000 * args.steady_scale))
    state = steady(1000, scaled)
    total = state["estimate"]
    print(
        f"\nsteady state, 1,000 monitors at 60 s (raw 7 d, hourly 90 d, daily 400 d): the "
        f"rollups of 1,000 and the raw results of {scaled} ({state['results']} rows) take "
        f"{state['bytes'] / 1e6:.0f} MB; scaled to 1,000: {total / 1e9:.2f} GB "
        f"({total / GiB:.2f} GiB), {'under' if total < GiB else 'OVER'} 1 GiB "
        "(Uptime Kuma: 1.3 GB at 250)"
    )
    print("pages of a hub on that database:")
    print("| page | p50 ms | p95 ms | requests |")
    print("| --- | ---: | ---: | ---: |")
    for path, (p50, p95, count) in state["pages"].items():
        print(f"| {path} | {p50:.1f} | {p95:.1f} | {count} |")


if __name__ == "__main__":
    main()
