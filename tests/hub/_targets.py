"""The one local HTTP target of the hub's tests: answers GET with the status and body it is
set to, counts the requests to each path and keeps the ``traceparent`` of each.

>>> with Target() as web:                  # doctest: +SKIP
...     web.status = 503                   # the monitors of web.url now fail
...     web.hits["/a"]                     # checks that reached /a
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Target:
    status: int = 200
    body: str = "ok"
    content_type: str = "text/plain"
    traceparents: list[str] = field(default_factory=list)
    hits: Counter[str] = field(default_factory=Counter)  # path -> requests

    def __post_init__(self) -> None:
        target = self
        self._lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with target._lock:
                    target.hits[self.path] += 1
                    target.traceparents.append(self.headers.get("traceparent", ""))
                payload = target.body.encode()
                self.send_response(target.status)
                self.send_header("Content-Type", target.content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def health(self, status: str, **checks: str) -> None:
        """Answer as an ``application/health+json`` endpoint."""
        document: dict[str, Any] = {"status": status}
        if checks:
            document["checks"] = {name: [{"status": s}] for name, s in checks.items()}
        self.status = 503 if status == "fail" else 200
        self.body = json.dumps(document)
        self.content_type = "application/health+json"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
