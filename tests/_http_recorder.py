"""A real HTTP server on 127.0.0.1 that records every request it receives (outbound tests)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

Received = tuple[str, str, list[tuple[str, str]]]  # method, path, headers as sent


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers 200, except /missing 404, /boom 500 and /redirect 302 to /ok."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.received.append((self.command, self.path, self.headers.items()))  # type: ignore[attr-defined]
        path = self.path.partition("?")[0]
        status = {"/missing": 404, "/boom": 500, "/redirect": 302}.get(path, 200)
        self.send_response(status)
        if status == 302:
            self.send_header("location", "/ok")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = do_PURGE = _answer

    def log_message(self, *args: Any) -> None:
        return None


class Server:
    """What the recording server received, and where it listens."""

    def __init__(self, httpd: http.server.ThreadingHTTPServer) -> None:
        self.httpd = httpd
        self.port = int(httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.httpd.received  # type: ignore[attr-defined,no-any-return]

    def headers(self, index: int = -1) -> dict[str, str]:
        """The headers of one received request, names lowercased."""
        return {k.lower(): v for k, v in self.received[index][2]}


@contextmanager
def recording_server() -> Iterator[Server]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield Server(httpd)
    finally:
        httpd.shutdown()
        httpd.server_close()
