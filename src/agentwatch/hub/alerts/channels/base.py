"""What a channel is, and what every HTTP channel shares.

A channel turns a :class:`~agentwatch.hub.alerts.message.Notification` into one delivery
(an HTTP request, an e-mail) and either returns (delivered) or raises
:class:`DeliveryError`: ``permanent`` when trying again cannot help (400, 404, a 5xx SMTP
reply), with ``retry_after`` when the receiver said how long to wait (429 or 503 with
``Retry-After``). The sender workers own retries, backoff, rate limits and the dead letter;
a channel never retries by itself and never logs its secrets.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from ..message import Notification

__all__ = [
    "Channel",
    "ChannelConfig",
    "DeliveryError",
    "parse_retry_after",
    "post",
    "raise_for_status",
]

USER_AGENT = "agentwatch-hub"


class DeliveryError(Exception):
    """A delivery that did not happen; the message is safe to store (no secret in it)."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


@dataclass(frozen=True)
class ChannelConfig:
    """One ``notifications.channels`` entry; ``options`` is the type's own settings."""

    name: str
    type: str
    options: Any
    rate: float | None  # sends per second, None: unlimited
    coalesce: bool  # a storm becomes one summary message
    storm_threshold: int  # waiting notifications above which a storm is coalesced
    max_age: float  # seconds before an undeliverable notification is dead-lettered
    send_resolved: bool


class Channel(Protocol):
    """A configured destination; ``send`` delivers one notification or raises."""

    config: ChannelConfig

    async def send(self, notification: Notification) -> None: ...


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def raise_for_status(response: httpx.Response, what: str) -> None:
    """Return on 2xx; otherwise raise the DeliveryError the status means."""
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = response.text[:200].strip().replace("\n", " ")
    message = f"{what} answered {status}" + (f": {detail}" if detail else "")
    if status in (429, 503):
        raise DeliveryError(
            message, retry_after=parse_retry_after(response.headers.get("retry-after"))
        )
    if status in (408, 425) or status >= 500:
        raise DeliveryError(message)
    raise DeliveryError(message, permanent=True)


async def post(
    http: httpx.AsyncClient,
    url: str,
    what: str,
    *,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> httpx.Response:
    """POST ``body`` as JSON; network failures become a (retryable) DeliveryError.

    ``what`` names the receiver in errors (``"slack channel oncall"``), never the URL, which
    may carry a token.
    """
    sent = {"content-type": "application/json", "user-agent": USER_AGENT, **(headers or {})}
    try:
        response = await http.post(url, content=body, headers=sent, timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{what}: {type(exc).__name__}: {_safe(exc)}") from None
    raise_for_status(response, what)
    return response


def _safe(exc: httpx.HTTPError) -> str:
    """An httpx error's message without the request URL (it may hold a token)."""
    text = str(exc)
    try:
        url = str(exc.request.url)
    except RuntimeError:  # no request attached
        return text
    return text.replace(url, "<url>")
