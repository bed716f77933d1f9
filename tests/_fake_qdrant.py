"""A small in-memory Qdrant on 127.0.0.1 speaking the REST API qdrant-client uses.

Collections hold points (id, vector, payload); queries score by dot product (cosine on
the normalised vectors Qdrant stores for Cosine collections) and return the best ``limit``.
Each request is recorded with its headers. Collections named in ``failing`` answer 500.
"""

from __future__ import annotations

import http.server
import importlib.metadata
import json
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# the server version the installed client expects (it warns when minor versions differ by 2+)
VERSION = importlib.metadata.version("qdrant-client")


@dataclass
class Collection:
    size: int
    distance: str
    points: dict[Any, tuple[list[float], dict[str, Any]]] = field(default_factory=dict)


@dataclass
class FakeQdrant:
    collections: dict[str, Collection] = field(default_factory=dict)
    received: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    url: str = ""

    def requests_to(self, path_part: str) -> list[tuple[str, str, dict[str, str]]]:
        return [r for r in self.received if path_part in r[1]]


def _ok(result: Any) -> tuple[int, Any]:
    return 200, {"result": result, "status": "ok", "time": 0.0001}


def _error(code: int, message: str) -> tuple[int, Any]:
    return code, {"status": {"error": message}, "time": 0.0}


def _normalised(vector: list[float], distance: str) -> list[float]:
    if distance != "Cosine":
        return vector
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def _info(collection: Collection) -> dict[str, Any]:
    return {
        "status": "green",
        "optimizer_status": "ok",
        "segments_count": 1,
        "points_count": len(collection.points),
        "indexed_vectors_count": 0,
        "config": {
            "params": {"vectors": {"size": collection.size, "distance": collection.distance}},
            "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000},
            "optimizer_config": {"default_segment_number": 0, "flush_interval_sec": 5},
        },
        "payload_schema": {},
    }


def _query_vector(body: dict[str, Any]) -> list[float]:
    query = body.get("query")
    if isinstance(query, dict):
        query = query.get("nearest")
    if not isinstance(query, list):
        raise ValueError(f"only nearest-vector queries are faked, got {query!r}")
    return [float(x) for x in query]


def _search(collection: Collection, body: dict[str, Any]) -> dict[str, Any]:
    vector = _normalised(_query_vector(body), collection.distance)
    scored = [
        (sum(a * b for a, b in zip(vector, stored, strict=True)), point_id, payload)
        for point_id, (stored, payload) in collection.points.items()
    ]
    scored.sort(key=lambda item: -item[0])
    points = [
        {"id": point_id, "version": 0, "score": score, "payload": payload}
        for score, point_id, payload in scored[: int(body.get("limit", 10))]
    ]
    return {"points": points}


class _Routes:
    def __init__(self, state: FakeQdrant) -> None:
        self.state = state

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if path == "/":
            return 200, {"title": "qdrant - vector search engine", "version": VERSION}
        if path == "/healthz":
            return 200, "healthz check passed"
        if path == "/collections" and method == "GET":
            return _ok({"collections": [{"name": n} for n in self.state.collections]})
        match = re.fullmatch(r"/collections/([^/]+)(/.*)?", path)
        if match is None:
            return _error(404, f"no route {method} {path}")
        name, rest = match.group(1), match.group(2) or ""
        if name in self.state.failing:
            return _error(500, "Service internal error: the fake was told to fail")
        if method == "PUT" and rest == "":
            vectors = body["vectors"]
            self.state.collections[name] = Collection(vectors["size"], vectors["distance"])
            return _ok(True)
        if rest == "/exists":
            return _ok({"exists": name in self.state.collections})
        collection = self.state.collections.get(name)
        if collection is None:
            return _error(404, f"Not found: Collection `{name}` doesn't exist!")
        return self._in_collection(method, rest, name, collection, body)

    def _in_collection(
        self, method: str, rest: str, name: str, collection: Collection, body: Any
    ) -> tuple[int, Any]:
        updated = {"operation_id": 1, "status": "completed"}
        if method == "GET" and rest == "":
            return _ok(_info(collection))
        if method == "DELETE" and rest == "":
            del self.state.collections[name]
            return _ok(True)
        if method == "PUT" and rest == "/points":
            for point in body["points"]:
                vector = _normalised([float(x) for x in point["vector"]], collection.distance)
                collection.points[point["id"]] = (vector, point.get("payload") or {})
            return _ok(updated)
        if rest == "/points/query":
            return _ok(_search(collection, body))
        if rest == "/points/query/batch":
            return _ok([_search(collection, search) for search in body["searches"]])
        if rest == "/points/delete":
            for point_id in body["points"]:
                collection.points.pop(point_id, None)
            return _ok(updated)
        if rest == "/points/count":
            return _ok({"count": len(collection.points)})
        if method == "POST" and rest == "/points":
            found = [i for i in body["ids"] if i in collection.points]
            return _ok([{"id": i, "payload": collection.points[i][1]} for i in found])
        return _error(404, f"no route {method} /collections/{name}{rest}")


def _handler(state: FakeQdrant) -> type[http.server.BaseHTTPRequestHandler]:
    routes = _Routes(state)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            path = self.path.partition("?")[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.received.append((self.command, path, headers))
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                code, answer = routes.answer(self.command, path, json.loads(raw) if raw else None)
            except (KeyError, ValueError, TypeError) as exc:
                code, answer = _error(400, f"Bad request: {exc}")
            text = isinstance(answer, str)
            payload = answer.encode() if text else json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("content-type", "text/plain" if text else "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def fake_qdrant() -> Iterator[FakeQdrant]:
    state = FakeQdrant()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
