"""A small real HTTP server on 127.0.0.1 answering scripted JSON per path, recording each
request: the stand-in for an LLM provider's models list and a vector store's HTTP API."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    delay_seconds: float = 0.0


@dataclass
class FakeApi:
    """Scripted answers by path (query string ignored) and what was asked."""

    answers: dict[str, Answer] = field(default_factory=dict)
    received: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def headers(self, index: int = -1) -> dict[str, str]:
        return self.received[index][1]

    def paths(self) -> list[str]:
        return [path for path, _headers in self.received]


def _handler(api: FakeApi) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path.partition("?")[0]
            api.received.append((path, {k.lower(): v for k, v in self.headers.items()}))
            answer = api.answers.get(path, Answer(404, {"error": "not found"}))
            if answer.delay_seconds:
                time.sleep(answer.delay_seconds)
            payload = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def fake_api(answers: Mapping[str, Answer]) -> Iterator[FakeApi]:
    api = FakeApi(dict(answers))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
