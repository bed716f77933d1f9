"""Signing and verifying the hub's webhooks: ``X-Agentwatch-Signature: t=<unix>,v1=<hex>``.

``v1`` is the hex HMAC-SHA256, keyed with the channel's secret, of ``"<t>.<body>"`` (the
timestamp, a dot, the raw request body bytes). A receiver checks it with
:func:`verify_signature`, which needs only the standard library (no hub extra)::

    from agentwatch.hub.alerts import verify_signature

    def receive(request):                        # any web framework
        body = request.body                      # the raw bytes, before JSON parsing
        header = request.headers["X-Agentwatch-Signature"]
        if not verify_signature(SECRET, header, body):
            return 401
        ...                                      # X-Agentwatch-Idempotency-Key drops repeats

A header may carry several ``v1`` values (while a secret is being rotated); one match is
enough. Signatures older than ``tolerance`` seconds (default 300) are refused, so a captured
request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["SIGNATURE_HEADER", "sign", "signature_header", "verify_signature"]

SIGNATURE_HEADER = "X-Agentwatch-Signature"


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    message = str(int(timestamp)).encode() + b"." + body
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signature_header(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The value of ``X-Agentwatch-Signature`` for ``body`` sent at ``timestamp``."""
    return f"t={int(timestamp)},v1={sign(secret, body, timestamp)}"


def verify_signature(
    secret: str | bytes,
    header: str | None,
    body: bytes,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (``t=...,v1=...``) signs ``body`` with ``secret``, recently enough.

    >>> header = signature_header("s3cret", b'{"status":"firing"}', 1700000000)
    >>> verify_signature("s3cret", header, b'{"status":"firing"}', now=1700000010)
    True
    >>> verify_signature("s3cret", header, b'{"status":"resolved"}', now=1700000010)
    False
    """
    if not header:
        return False
    timestamp, signatures = _parse(header)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


def _parse(header: str) -> tuple[int | None, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return None, []
        elif key == "v1" and value:
            signatures.append(value.strip())
    return timestamp, signatures
