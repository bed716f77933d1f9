"""A local OTLP/HTTP receiver on 127.0.0.1 that answers from a script and counts connections.

HTTP/1.1 keep-alive like a collector. Each POST takes the next scripted answer (status,
headers, body; 200 with an empty body once the script is spent). ``close_after_answer``
makes it drop the connection after answering without saying so (no ``Connection: close``),
as a collector does with a connection it considers idle.
"""

from __future__ import annotations

import gzip
import http.server
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # names lowercased
    body: bytes
    at: float = 0.0  # time.monotonic() when it arrived

    def request(self) -> ExportTraceServiceRequest:
        """The body decoded (gunzipped first when it says so)."""
        return ExportTraceServiceRequest.FromString(self.plain_body())

    def logs_request(self) -> ExportLogsServiceRequest:
        """The body decoded as a logs request (a POST to /v1/logs)."""
        return ExportLogsServiceRequest.FromString(self.plain_body())

    def plain_body(self) -> bytes:
        if self.headers.get("content-encoding") == "gzip":
            return gzip.decompress(self.body)
        return self.body

    def span_names(self) -> list[str]:
        return [span.name for span in self.spans()]

    def spans(self) -> list[Any]:
        """The ``Span`` messages of the request."""
        request = self.request()
        return [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


@dataclass
class Receiver:
    url: str = ""
    answers: list[Answer] = field(default_factory=list)
    close_after_answer: bool = False
    received: list[Received] = field(default_factory=list)
    connections: int = 0

    def trace_ids(self) -> list[str]:
        """The trace id (hex) of every span received, repeats included."""
        return [span.trace_id.hex() for got in self.received for span in got.spans()]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def setup(self) -> None:
        super().setup()
        self.server.receiver.connections += 1

    def do_POST(self) -> None:
        receiver: Receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        receiver.received.append(Received(self.path, headers, body, time.monotonic()))
        status, extra, answer = receiver.answers.pop(0) if receiver.answers else (200, {}, b"")
        self.send_response(status)
        self.send_header("content-type", "application/x-protobuf")
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        self.close_connection = receiver.close_after_answer

    def log_message(self, *args: Any) -> None:
        return None


@contextmanager
def otlp_receiver(
    *answers: Answer,
    close_after_answer: bool = False,
    tls: ssl.SSLContext | None = None,
    port: int = 0,
) -> Iterator[Receiver]:
    """The receiver, answering ``answers`` in turn; HTTPS with ``tls`` (a server context);
    on ``port`` (a free one by default)."""
    receiver = Receiver(answers=list(answers), close_after_answer=close_after_answer)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    httpd.receiver = receiver  # type: ignore[attr-defined]
    receiver.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def silent_receiver() -> Iterator[str]:
    """A listening socket that completes TCP handshakes and never answers: its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
