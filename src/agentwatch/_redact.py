"""Redaction of secrets and personal data, applied before anything is written or sent.

One :class:`Redactor` serves logs, error events and captured LLM content, so the rules are
the same everywhere. By default it removes authorization header values, API keys, passwords,
tokens (including JWTs), e-mail addresses and card numbers (Luhn-checked). Extra patterns
are regular expressions whose whole match is replaced.

>>> Redactor().redact("login bob@example.com password=hunter2")
'login [REDACTED:email] password=[REDACTED]'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["SENSITIVE_KEYS", "Redactor"]

MASK = "[REDACTED]"
SENSITIVE_KEYS = re.compile(
    r"(?:^|[_\-.])(pass(word|wd)?|secret|token|api[_-]?key|apikey|authorization|auth|cookie|"
    r"private[_-]?key|credentials?|dsn|card[_-]?number|cvv|ssn)(?:$|[_\-.])",
    re.IGNORECASE,
)
_KEY_VALUE = re.compile(
    r"(?P<key>\b(?:pass(?:word|wd)?|secret|token|access_token|refresh_token|api[_-]?key|apikey|"
    r"client_secret|authorization|auth)\b[\"']?\s*[:=]\s*[\"']?)(?P<value>(?:Bearer\s+|Basic\s+)?[^\s\"',;&}]+)",
    re.IGNORECASE,
)
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE)
_API_KEY = re.compile(
    r"\b(?:sk|pk|rk)-(?:[A-Za-z0-9_-]{2,}-)*[A-Za-z0-9_-]{16,}\b|\bAKIA[0-9A-Z]{16}\b"
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\b")
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@/\s]+)@"
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if 13 <= len(digits) <= 19 and _luhn_ok(digits):
        return "[REDACTED:card]"
    return match.group(0)


class Redactor:
    """Removes secrets and personal data from text and structured values."""

    def __init__(self, extra_patterns: Iterable[str] = (), *, emails: bool = True) -> None:
        self._extra = [re.compile(pattern) for pattern in extra_patterns]
        self._emails = emails

    def redact(self, text: str) -> str:
        """Text with every secret and personal datum replaced by a marker."""
        if not text:
            return text
        text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)
        text = _KEY_VALUE.sub(lambda m: m.group("key") + MASK, text)
        text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {MASK}", text)
        text = _JWT.sub(MASK, text)
        text = _API_KEY.sub(MASK, text)
        if self._emails:
            text = _EMAIL.sub("[REDACTED:email]", text)
        text = _CARD.sub(_card, text)
        for pattern in self._extra:
            text = pattern.sub(MASK, text)
        return text

    def redact_value(self, value: Any, key: str = "") -> Any:
        """A structured value redacted: sensitive keys masked whole, strings scrubbed."""
        if key and SENSITIVE_KEYS.search(key) and value not in (None, "", [], {}):
            return MASK
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {k: self.redact_value(v, str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact_value(item) for item in value]
        return value
