"""The scripted incident: when the simulated LLM provider fails, and how.

The demo tells one story: about a minute in, the provider's OpenAI API starts failing —
half the calls answer 500 at once, the rest slowly, with a 504 gateway timeout after 2.5 s —
and its ``/v1/models`` answers 503, so
the service's ``llm`` health check fails; about two minutes later it recovers. The
Anthropic API of the same provider keeps working, so workflows fall back to it while
chat (which has no fallback) fails.

>>> timeline = Timeline(started_at=time.time(), incident_at=60, incident_seconds=120)
>>> timeline.phase(time.time())          # 'before', 'incident' or 'after'
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["SHORT_TIMELINE", "STORY_TIMELINE", "IncidentShape", "Timeline"]

BEFORE, DURING, AFTER = "before", "incident", "after"


@dataclass(frozen=True, slots=True)
class IncidentShape:
    """What the failing API does: a share of fast 500s, the rest slow 504 timeouts."""

    error_share: float = 0.5
    slow_share: float = 0.5
    slow_seconds: float = 2.5


@dataclass(frozen=True, slots=True)
class Timeline:
    """When the incident starts (seconds after ``started_at``, a Unix time) and how long."""

    started_at: float
    incident_at: float
    incident_seconds: float
    shape: IncidentShape = IncidentShape()

    @property
    def starts(self) -> float:
        return self.started_at + self.incident_at

    @property
    def ends(self) -> float:
        return self.starts + self.incident_seconds

    def phase(self, now: float | None = None) -> str:
        """``before``, ``incident`` or ``after`` at ``now`` (Unix time; default: now)."""
        at = time.time() if now is None else now
        if at < self.starts:
            return BEFORE
        return DURING if at < self.ends else AFTER

    def active(self, now: float | None = None) -> bool:
        return self.phase(now) == DURING

    def describe(self) -> str:
        """One line the demo prints when it starts."""
        return (
            f"at +{self.incident_at:.0f} s the LLM provider's OpenAI API starts failing "
            f"(errors and slow answers) for {self.incident_seconds:.0f} s, then recovers"
        )


@dataclass(frozen=True, slots=True)
class TimelinePlan:
    """Offsets of a timeline before it has a start time."""

    incident_at: float
    incident_seconds: float

    def starting(self, started_at: float) -> Timeline:
        return Timeline(started_at, self.incident_at, self.incident_seconds)


STORY_TIMELINE = TimelinePlan(incident_at=60.0, incident_seconds=120.0)
SHORT_TIMELINE = TimelinePlan(incident_at=12.0, incident_seconds=30.0)
