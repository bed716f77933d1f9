"""Durations (``30s``, ``1h30m``) and sizes (``512MiB``) as ``hub.yaml`` writes them."""

from __future__ import annotations

import math
import re

__all__ = ["DURATION_ACCEPTED", "SIZE_ACCEPTED", "parse_duration", "parse_size"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
DURATION_ACCEPTED = "a duration such as 500ms, 30s, 5m, 1h30m, 1d, or a number of seconds"
SIZE_ACCEPTED = "a size such as 512MiB, 1GiB, 10GB, or a number of bytes"


def parse_duration(value: object) -> float | None:
    """Seconds from ``30s``, ``1h30m``, ``500ms``, ``2d`` or a plain number; None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and value >= 0 else None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace(" ", "")
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        try:
            number = float(text) if pos == 0 else -1.0
        except ValueError:
            return None
        return number if math.isfinite(number) and number >= 0 else None
    return total if math.isfinite(total) else None


def parse_size(value: object) -> int | None:
    """Bytes from ``1GiB``, ``256MiB``, ``10GB`` or a plain number; None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if not isinstance(value, str):
        return None
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        return None
    return int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()])
