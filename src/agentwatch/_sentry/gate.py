"""Which errors go to Sentry: sampling by level, repeats suppressed, a rate limit.

Decided on the request path, so it is a few arithmetic operations (a repeat takes no lock;
the rest one lock):

1. sampling by level: errors 100%, warnings 50%, info 10% by default;
2. repeats: the same error (exception type and the file and line it was raised at, or the
   logger and message template) is sent at most once per ``repeat_seconds``; how many
   repeats were held back rides on the next event of it (``repeats_suppressed``) — Sentry
   groups them into one issue anyway, and the metrics count every one;
3. a token bucket of ``max_per_second`` events with bursts of five times that.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from itertools import count
from typing import Any, NamedTuple

from .stacktrace import raise_site

__all__ = ["ErrorGate", "fingerprint"]

_MAX_FINGERPRINTS = 4096
_SAMPLED_OUT: tuple[str | None, int] = ("sampled_out", 0)
_REPEATED: tuple[str | None, int] = ("repeated", 0)
_RATE_LIMITED: tuple[str | None, int] = ("rate_limited", 0)


class _Sent(NamedTuple):
    """The last time an error was sent, and a count of its repeats held back since."""

    at: float
    held: Iterator[int]  # next() counts one more and gives the count before it


def fingerprint(exc: BaseException | None, logger: str = "", template: Any = "") -> Hashable:
    """What makes two errors "the same": type and raise site, or logger and template."""
    if exc is None:
        return (logger, str(template))
    return (type(exc).__qualname__, raise_site(exc) or ("", 0))


class ErrorGate:
    """``admit(level, key)`` -> (None, repeats held back) to send, or (outcome, 0) not to."""

    def __init__(
        self,
        sample_rates: Mapping[str, float],
        *,
        max_per_second: float = 10.0,
        repeat_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.sample_rates = dict(sample_rates)
        error, warning = sample_rates.get("error", 1.0), sample_rates.get("warning", 1.0)
        self._rates = {"fatal": error, "error": error, "warning": warning}
        self._info_rate = sample_rates.get("info", 1.0)  # info, debug and anything else
        self.repeat_seconds = repeat_seconds
        self._rate = max_per_second
        self._burst = max(1.0, 5.0 * max_per_second)
        self._tokens = self._burst
        self._clock = clock
        self._rng = rng
        self._last = clock()
        self._seen: dict[Hashable, _Sent] = {}
        self._lock = threading.Lock()

    def rate_for(self, level: str) -> float:
        """The sampling rate of a Sentry level (fatal and error share the error rate)."""
        return self._rates.get(level, self._info_rate)

    def admit(self, level: str, key: Hashable) -> tuple[str | None, int]:
        rate = self._rates.get(level, self._info_rate)
        if rate < 1.0 and self._rng() >= rate:
            return _SAMPLED_OUT
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen.at < self.repeat_seconds:
            next(seen.held)  # one more held back: atomic under the GIL, so no lock
            return _REPEATED
        with self._lock:
            seen = self._seen.get(key)  # another thread may have sent it meanwhile
            if seen is not None and now - seen.at < self.repeat_seconds:
                next(seen.held)
                return _REPEATED
            if not self._take_token(now):
                return _RATE_LIMITED
            if seen is None and len(self._seen) >= _MAX_FINGERPRINTS:
                self._seen.clear()
            self._seen[key] = _Sent(now, count())
            # a repeat counted on the old cell by a thread that read it just before this
            # line is not in this figure (the metrics count it): a race at a window's edge
            return None, (next(seen.held) if seen is not None else 0)

    def _take_token(self, now: float) -> bool:
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
