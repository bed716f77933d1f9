"""Per-request overhead in CPU instructions, counted by valgrind: a figure this shared machine's
noise cannot move.

    python bench/overhead_instructions.py [--requests 2000]

The app and requests are those of ``bench/overhead.py`` (bare FastAPI and agentwatch, ok and
failing requests). Each configuration and kind runs in its own process under
``valgrind --tool=callgrind --separate-threads=yes`` twice: warm-up then no requests, and
warm-up then ``--requests`` requests, each followed by a flush (every kept span and queued
error handed to the receiver). The difference divided by the requests is the instructions
one request costs, per thread: the request thread, and the others (span export, Sentry).
Printed: those, the instructions agentwatch adds to bare's request, and failing over
successful.

Under valgrind a process runs about fifty times slower, so what agentwatch does per
second is scaled to keep its share per request: Sentry's repeat window is 50 s instead of
1 s (one event per distinct error per window), and the export interval is 50 s (batches
fill as at full speed). It needs Debian's ``valgrind``.
"""

from __future__ import annotations

import argparse
import glob
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import overhead  # the app, the requests and the receiver of bench/overhead.py

CONFIGS = ("bare", "agentwatch")
_SCALED = {"sentry_repeat_seconds": 50.0, "export_interval_seconds": 50.0}


def worker(config: str, kind: str, count: int, port: int) -> None:
    import asyncio
    import logging

    logging.disable(logging.CRITICAL)
    otlp, dsn = f"http://127.0.0.1:{port}", f"http://public@127.0.0.1:{port}/1"
    app = overhead._tiny_app(config, otlp, dsn)
    loop = asyncio.new_event_loop()
    for requests in (300, count):  # warm-up (caches, first series), then the measured ones
        loop.run_until_complete(overhead._round(app, kind, requests))
        overhead._flush(config)


def _instructions(config: str, kind: str, count: int, port: int, folder: str) -> dict[str, int]:
    """Instructions per thread (``main``, ``others``) of one worker run."""
    prefix = os.path.join(folder, f"{config}-{kind}-{count}")
    environ = {**os.environ, "PYTHONHASHSEED": "0", "BENCH_AGENTWATCH_OPTIONS": json.dumps(_SCALED)}
    command = [
        "valgrind",
        "--tool=callgrind",
        "--separate-threads=yes",
        f"--callgrind-out-file={prefix}",
        sys.executable,
        __file__,
        "--worker",
        f"{config},{kind},{count},{port}",
    ]
    subprocess.run(command, env=environ, check=True, capture_output=True)
    threads = {}
    for path in glob.glob(prefix + "-*"):
        with open(path, encoding="utf-8") as lines:
            total = next(int(line.split()[1]) for line in lines if line.startswith("summary:"))
        threads[path.rsplit("-", 1)[1]] = total
    main = threads.pop("01")
    return {"main": main, "others": sum(threads.values())}


def _per_request(config: str, kind: str, count: int, port: int, folder: str) -> dict[str, float]:
    empty, full = (_instructions(config, kind, n, port, folder) for n in (0, count))
    return {thread: (full[thread] - empty[thread]) / count for thread in ("main", "others")}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        config, kind, count, port = args.worker.split(",")
        worker(config, kind, int(count), int(port))
        return
    if shutil.which("valgrind") is None:
        sys.exit("bench/overhead_instructions.py needs valgrind: apt-get install valgrind")
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), overhead._Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    keys = [(config, kind) for config in CONFIGS for kind in overhead.KINDS]
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(os.cpu_count()) as pool:
        futures = {
            key: pool.submit(_per_request, *key, args.requests, sink.server_port, folder)
            for key in keys
        }
        counts = {key: future.result() for key, future in futures.items()}
    _report(counts)


def _report(counts: dict[tuple[str, str], dict[str, float]]) -> None:
    print(f"{'config':<11} {'kind':<5} {'main':>9} {'others':>9} {'total':>9} {'added':>9}")
    added = {}
    for (config, kind), threads in counts.items():
        total = threads["main"] + threads["others"]
        bare = counts[("bare", kind)]
        added[(config, kind)] = total - bare["main"] - bare["others"]
        print(
            f"{config:<11} {kind:<5} {threads['main']:>9.0f} {threads['others']:>9.0f} "
            f"{total:>9.0f} {added[(config, kind)]:>9.0f}"
        )
    ok, fail = added[("agentwatch", "ok")], added[("agentwatch", "fail")]
    print(f"agentwatch: failing / successful request overhead, in instructions: {fail / ok:.2f}")


if __name__ == "__main__":
    main()
