"""The demo's watchdog: ends the children's process groups if the demo dies without
stopping them (``kill -9``, an out-of-memory kill).

The demo starts it once, in a session of its own, with a pipe on its standard input, and
writes a line per child: ``+PGID`` when the child starts, ``-PGID`` once it was stopped.
When the pipe closes — the demo exited, however it exited — the groups still listed get
SIGTERM, then SIGKILL after a grace period. A demo that stopped its children leaves none.

    python -m agentwatch.demo.reaper [--grace SECONDS]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Iterable, Sequence

__all__ = ["main", "watched"]

GRACE = 10.0


def watched(lines: Iterable[str]) -> set[int]:
    """The groups still running by the pipe's lines (``+PGID`` / ``-PGID``; others ignored)."""
    groups: set[int] = set()
    for line in lines:
        text = line.strip()
        if text[:1] in ("+", "-") and text[1:].isdigit():
            (groups.add if text[0] == "+" else groups.discard)(int(text[1:]))
    return groups


def _alive(groups: Iterable[int]) -> list[int]:
    alive = []
    for group in groups:
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            continue
        alive.append(group)
    return alive


def end_groups(groups: Iterable[int], grace: float = GRACE) -> None:
    """SIGTERM to each group, SIGKILL to those still there after ``grace`` seconds."""
    alive = _alive(groups)
    for group in alive:
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = _alive(alive)
    for group in alive:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grace", type=float, default=GRACE)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the demo's to handle
    end_groups(watched(sys.stdin), args.grace)


if __name__ == "__main__":
    main()
