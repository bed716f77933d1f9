"""Exact numbers and Prometheus durations for generated files.

Thresholds are :class:`~decimal.Decimal`, so ``14.4 * 0.001`` is written ``0.0144`` and an
objective of ``0.999`` stays ``0.999``. Durations are exact fractions of a second, so a
test profile can compress time (``5m`` at scale 1/60 is ``5s``).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

__all__ = ["dec", "duration", "fmt", "parse_duration"]

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")


def dec(value: object) -> Decimal:
    """A Decimal from an int, a Decimal or the text of a number (floats via their repr)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    try:
        return Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def fmt(value: Decimal | int | Fraction) -> str:
    """A number as PromQL text without exponent or trailing zeros: ``0.0144``, ``100``."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    text = format(Decimal(value).normalize(), "f")
    return text


def duration(seconds: Fraction | int) -> str:
    """Seconds as a Prometheus duration (``1h30m``, ``500ms``); must be whole milliseconds."""
    millis = Fraction(seconds) * 1000
    if millis.denominator != 1 or millis <= 0:
        raise ValueError(f"duration must be a positive whole number of ms, got {seconds}s")
    whole, rest_ms = divmod(int(millis), 1000)
    parts = []
    for unit, size in _UNITS:
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    if rest_ms:
        parts.append(f"{rest_ms}ms")
    return "".join(parts)


def parse_duration(text: str) -> Fraction:
    """``30d``, ``1h30m``, ``500ms`` -> seconds. Raises ValueError on anything else."""
    match = _DURATION.match(text.strip()) if text else None
    if not match or not any(match.groups()):
        raise ValueError(f"not a duration: {text!r}")
    days, hours, minutes, secs, millis = (int(g or 0) for g in match.groups())
    total = days * 86400 + hours * 3600 + minutes * 60 + secs
    return Fraction(total) + Fraction(millis, 1000)
