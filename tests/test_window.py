"""The rolling request window behind the /health/full service summary."""

from __future__ import annotations

import gc

import pytest

from agentwatch._metrics.window import RequestWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_summary_over_the_last_minute_counts_errors_and_the_p95() -> None:
    clock = Clock()
    window = RequestWindow(seconds=60.0, clock=clock)
    window.record(5.0, error=True)  # falls out of the window below
    clock.now += 61.0
    for i in range(100):  # 0.001 .. 0.100 s, every tenth an error (one of them 0 s long)
        window.record(0.0 if i == 9 else (i + 1) / 1000.0, error=i % 10 == 9)
    summary = window.summary()
    assert summary["requests"] == 100
    assert summary["requests_per_minute"] == 100.0
    assert summary["error_rate"] == 0.1
    assert summary["p95_latency_seconds"] == 0.095


def test_a_full_window_scales_the_rate_to_the_time_it_covers() -> None:
    clock = Clock()
    window = RequestWindow(seconds=60.0, capacity=50, clock=clock)
    for _ in range(200):
        clock.now += 0.1
        window.record(0.01, error=False)
    summary = window.summary()
    assert summary["requests"] == 50
    assert summary["requests_per_minute"] == pytest.approx(50 * 60.0 / 4.9, rel=1e-3)


def test_an_empty_window_answers_zeros() -> None:
    summary = RequestWindow(clock=Clock()).summary()
    assert (summary["requests"], summary["error_rate"], summary["p95_latency_seconds"]) == (0, 0, 0)


def test_entries_add_nothing_for_the_garbage_collector_to_scan() -> None:
    window = RequestWindow(clock=Clock())
    window.record(0.25, error=True)
    (entry,) = list(window._entries)
    assert not gc.is_tracked(entry)
