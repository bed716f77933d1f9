"""OTLP/HTTP span exporter: the wire encoder of ``otlp`` over one keep-alive connection.

The stock ``OTLPSpanExporter`` builds protobuf message objects and sends through
``requests``; both cost CPU under the GIL in the application process. This exporter writes
the protobuf bytes directly (:class:`~agentwatch._export.otlp.TraceRequestEncoder`) and posts them
with the standard library's ``http.client`` — which agentwatch does not instrument, so
exporting never makes spans of its own.

Delivery follows the OTLP/HTTP specification: 429, 502, 503, 504 and connection errors are
retried with exponential backoff and jitter, or after ``Retry-After`` when the receiver
says so, until the ``timeout`` budget of the export is spent; any other 4xx or 5xx fails
at once. A 200 whose ``partial_success`` rejected spans is a success with a warning. A
connection the receiver closed while idle is reopened once without counting as a retry.

>>> exporter = OtlpHttpExporter("http://collector:4318/v1/traces", compression="gzip")
"""

from __future__ import annotations

import http.client
import logging
import math
import random
import ssl
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .._state import report_internal_error
from .delivery import DELIVERED, Outcome
from .otlp import EncodedSpan, TraceRequestEncoder

__all__ = ["OtlpHttpExporter"]

_log = logging.getLogger("agentwatch")
_RETRYABLE = frozenset({429, 502, 503, 504})
_GZIP_LEVEL = 3  # zlib releases the GIL; 3 costs a third of 6 for a body ~20% larger
_WARN_EVERY_SECONDS = 30.0
_Answer = tuple[int, str | None, bytes]  # status, Retry-After, body


class OtlpHttpExporter(SpanExporter):
    """Exports spans as OTLP/HTTP protobuf over one persistent connection.

    ``endpoint`` is the full URL of the traces endpoint (``http://host:4318/v1/traces``);
    ``https`` URLs verify the server against the system CAs or ``certificate_file``.
    ``timeout`` bounds one export, retries included. ``compression`` is ``"gzip"`` or
    ``"none"``. ``retry_initial_seconds`` is the first backoff (doubled per retry, ±20%).

    It takes SDK ``ReadableSpan``\\ s and agentwatch's lean server spans alike
    (``accepts_lean_spans``). ``export`` is :meth:`encode_spans` (safe on any thread) then
    :meth:`export_encoded` (framing and sending). Nothing raises; after ``shutdown`` exports
    fail.
    """

    accepts_lean_spans = True
    items = "spans"  # what the warnings call what is sent

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        compression: str | None = None,
        certificate_file: str | None = None,
        retry_initial_seconds: float = 1.0,
    ) -> None:
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"endpoint {endpoint!r}: expected an http:// or https:// URL")
        if (compression or "none") not in ("gzip", "none"):
            raise ValueError(f"compression {compression!r}: expected gzip or none")
        self.endpoint = endpoint
        self._host, self._port = url.hostname, url.port
        self._path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self.signal = url.path or "/"  # the spool's name for where its batches go
        self._ssl = (
            ssl.create_default_context(cafile=certificate_file) if url.scheme == "https" else None
        )
        self._gzip = compression == "gzip"
        self._headers = _request_headers(headers or {}, self._gzip)
        self._timeout = timeout
        self._retry_initial = retry_initial_seconds
        self._encoder = TraceRequestEncoder()
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._last_warning: dict[str, float] = {}

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Encode and send one batch; SUCCESS once the receiver accepted it."""
        if self._stopped.is_set():
            return SpanExportResult.FAILURE
        try:
            encoded = self.encode_spans(spans)
        except Exception as exc:  # a span the encoder cannot read: a bug, not the network
            report_internal_error("otlp_exporter", exc)
            return SpanExportResult.FAILURE
        return self.export_encoded(encoded)

    def encode_spans(self, spans: Sequence[Any]) -> list[EncodedSpan]:
        """The spans' messages, for :meth:`export_encoded` later (any thread may call it)."""
        return self._encoder.encode_spans(spans)

    def export_encoded(self, spans: Sequence[EncodedSpan]) -> SpanExportResult:
        """Frame and send spans :meth:`encode_spans` encoded; SUCCESS once accepted."""
        if self._stopped.is_set():
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        with self._lock:
            try:
                body = self.frame(spans)
                if self._gzip:
                    body = zlib.compress(body, _GZIP_LEVEL, wbits=31)  # gzip container
            except Exception as exc:
                report_internal_error("otlp_exporter", exc)
                return SpanExportResult.FAILURE
            sent = self._deliver(body, len(spans))
        return SpanExportResult.SUCCESS if sent else SpanExportResult.FAILURE

    def frame(self, spans: Sequence[EncodedSpan]) -> bytes:
        """The request body (uncompressed) of spans :meth:`encode_spans` encoded."""
        return self._encoder.encode_request(spans)

    def send_body(self, body: bytes) -> Outcome:
        """One attempt to post a request body (compressed here if configured), no retry:
        the spool retries. A kept-alive connection the receiver dropped is reopened once."""
        with self._lock:
            if self._stopped.is_set():
                return Outcome(False, retry=True, reason="exporter shut down")
            try:
                if self._gzip:
                    body = zlib.compress(body, _GZIP_LEVEL, wbits=31)
                status, retry_after, answer = self._post(body, time.monotonic() + self._timeout)
            except ssl.SSLCertVerificationError as exc:
                return Outcome(False, reason=repr(exc))
            except (OSError, http.client.HTTPException) as exc:
                return Outcome(False, retry=True, reason=repr(exc))
        if 200 <= status < 300:
            self._check_partial_success(answer, 0)
            return DELIVERED
        reason = f"HTTP {status} {answer[:200]!r}"
        if status not in _RETRYABLE and status < 500:  # the spool keeps any 5xx for later
            self._give_up(reason)
            return Outcome(False, reason=reason)
        asked = _retry_after_seconds(retry_after)
        return Outcome(False, retry=True, retry_after=asked, reason=reason)

    def shutdown(self) -> None:
        """Stop retrying, close the connection; later exports fail."""
        self._stopped.set()
        locked = self._lock.acquire(timeout=self._timeout)
        try:
            self._close()
        finally:
            if locked:
                self._lock.release()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # nothing is buffered here

    def _deliver(self, body: bytes, count: int) -> bool:
        """Send ``body`` until accepted, refused, or out of time; True when accepted."""
        deadline = time.monotonic() + self._timeout
        attempt = 0
        while True:
            try:
                status, retry_after, answer = self._post(body, deadline)
            except ssl.SSLCertVerificationError as exc:  # retrying will not make it trusted
                return self._give_up(repr(exc))
            except (OSError, http.client.HTTPException) as exc:
                reason, delay = repr(exc), self._backoff(attempt)
            else:
                if 200 <= status < 300:
                    self._check_partial_success(answer, count)
                    return True
                reason = f"HTTP {status} {answer[:200]!r}"
                if status not in _RETRYABLE:
                    return self._give_up(reason)
                asked = _retry_after_seconds(retry_after)
                delay = self._backoff(attempt) if asked is None else asked
            attempt += 1
            if delay >= deadline - time.monotonic():
                return self._give_up(f"{reason}; no time left to retry")
            if self._stopped.wait(delay):
                return self._give_up(f"{reason}; shut down while waiting to retry")

    def _post(self, body: bytes, deadline: float) -> _Answer:
        """One POST; a kept-alive connection the receiver dropped is reopened once."""
        reused = self._connection is not None and self._connection.sock is not None
        try:
            return self._request(body, deadline)
        except (TimeoutError, ssl.SSLCertVerificationError):
            self._close()
            raise
        except (OSError, http.client.HTTPException):
            self._close()
            if not reused:
                raise
        return self._request(body, deadline)  # the receiver closed the idle connection

    def _request(self, body: bytes, deadline: float) -> _Answer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("export timeout spent")
        connection = self._connect(remaining)
        try:
            connection.request("POST", self._path, body, self._headers)
            response = connection.getresponse()
            answer = response.read()
        except BaseException:
            self._close()
            raise
        return response.status, response.getheader("retry-after"), answer

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        connection = self._connection
        if connection is None:
            if self._ssl is not None:
                connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=timeout, context=self._ssl
                )
            else:
                connection = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            self._connection = connection
        connection.timeout = timeout  # used when (re)connecting
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        return connection

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _backoff(self, attempt: int) -> float:
        return float(self._retry_initial * 2**attempt * random.uniform(0.8, 1.2))

    def _give_up(self, reason: str) -> bool:
        self._warn("failed", "agentwatch: OTLP export to %s failed: %s", self.endpoint, reason)
        return False

    def _check_partial_success(self, answer: bytes, count: int) -> None:
        rejected, message = _partial_success(answer)
        if rejected or message:
            self._warn(
                "partial",
                "agentwatch: the OTLP receiver rejected %d of %d %s: %s",
                rejected,
                count,
                self.items,
                message or "(no message)",
            )

    def _warn(self, kind: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last_warning.get(kind, -_WARN_EVERY_SECONDS) >= _WARN_EVERY_SECONDS:
            self._last_warning[kind] = now
            _log.warning(message, *args)


def _request_headers(headers: Mapping[str, str], gzip: bool) -> dict[str, str]:
    merged = {"Content-Type": "application/x-protobuf", "User-Agent": "agentwatch-otlp"}
    merged.update(headers)
    if gzip:
        merged["Content-Encoding"] = "gzip"
    return merged


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delay-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - time.time()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _partial_success(answer: bytes) -> tuple[int, str]:
    """Rejected spans and message of an ``ExportTraceServiceResponse`` (0, "" if none)."""
    if not answer:
        return 0, ""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    try:
        partial = ExportTraceServiceResponse.FromString(answer).partial_success
    except Exception:  # protobuf's DecodeError: some receivers answer JSON or text
        return 0, ""
    return partial.rejected_spans, partial.error_message
