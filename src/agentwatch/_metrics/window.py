"""A rolling window of recent requests for the service summary in ``/health/full``.

Recording is one ``deque.append`` (atomic under the GIL, no lock) of one complex number,
``time + duration·j`` with the duration negated for an error: an object the garbage
collector does not track, so a busy window adds nothing to every collection's work. The
summary is computed when asked: requests per minute, error rate and p95 latency over the
last ``seconds``.
When traffic outgrows ``capacity`` entries the window is shorter than ``seconds`` and the
rate is scaled from the span the entries cover.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

__all__ = ["RequestWindow"]


class RequestWindow:
    """Recent requests: ``record(duration, error)``; ``summary()`` when a probe asks."""

    def __init__(
        self,
        seconds: float = 60.0,
        capacity: int = 20_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._entries: deque[complex] = deque(maxlen=capacity)

    def record(self, duration_seconds: float, error: bool) -> None:
        # an error's duration is stored negative; the 1e-12 keeps a zero duration negative
        imag = -duration_seconds - 1e-12 if error else duration_seconds
        self._entries.append(complex(self._clock(), imag))

    def summary(self) -> dict[str, float | int]:
        now = self._clock()
        horizon = now - self.seconds
        recent = [entry for entry in list(self._entries) if entry.real >= horizon]
        if not recent:
            return {
                "window_seconds": self.seconds,
                "requests": 0,
                "requests_per_minute": 0.0,
                "error_rate": 0.0,
                "p95_latency_seconds": 0.0,
            }
        covered = self.seconds
        if len(recent) == self._entries.maxlen:
            covered = max(now - recent[0].real, 1e-3)
        durations = sorted(abs(entry.imag) for entry in recent)
        errors = sum(1 for entry in recent if entry.imag < 0)
        p95 = durations[min(len(durations) - 1, math.ceil(0.95 * len(durations)) - 1)]
        return {
            "window_seconds": self.seconds,
            "requests": len(recent),
            "requests_per_minute": round(len(recent) * 60.0 / covered, 3),
            "error_rate": round(errors / len(recent), 6),
            "p95_latency_seconds": round(p95, 6),
        }
