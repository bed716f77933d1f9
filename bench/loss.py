"""Error traces lost across an OTLP receiver outage and a crash: agentwatch vs the stock SDK.

    python bench/loss.py [--outage 30] [--cases outage-300,outage-3000,kill-9] [--configs agentwatch,stock]

Each case runs a real uvicorn process serving ``/fail`` (raises, a 500), and a local OTLP/HTTP
receiver on a fixed port that is down (nothing listening: connection refused) for the
first ``--outage`` seconds, then comes back:

- ``outage-N``: N failing requests, paced over the first two thirds of the outage; the
  receiver comes back after ``--outage`` seconds or once the last request was answered,
  whichever is later (a loaded machine serves 3,000 failing requests slower than 20 s:
  every request is served during the outage); then the bench waits until every trace
  arrived or nothing new came for 20 s, stops the app with SIGTERM (uvicorn's normal
  shutdown) and counts.
- ``kill-9``: 300 failing requests over 5 s while the receiver is down, ``kill -9`` of the
  app 2 s after the last, the receiver back, the app started again on the same spool
  folder; then as above. (Spans still in memory when the process is killed, the last
  export interval's, cannot survive it: no request waits on disk.)

Every request carries its own ``traceparent`` (sampled), so both stacks put the server span
in a trace the bench knows. Printed per case and configuration: delivered / sent (distinct
error traces that reached the receiver) and traces whose server span arrived twice.

- agentwatch: ``agentwatch.init()`` exporting over OTLP/HTTP, spool in a fresh folder.
- stock:      ``TracerProvider`` + ``BatchSpanProcessor(OTLPSpanExporter())`` +
              ``FastAPIInstrumentor`` (opentelemetry-sdk and -instrumentation-fastapi).
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

CONFIGS = ("agentwatch", "stock")
CASES = ("outage-300", "outage-3000", "kill-9")
QUIET_SECONDS = 20.0  # after the receiver is back: stop waiting once nothing new came this long
MAX_WAIT_SECONDS = 120.0


# ---------------------------------------------------------------- app side


def serve(config: str, port: int, otlp: str, spool: str) -> None:
    """Run the app under uvicorn (SIGTERM: uvicorn's graceful shutdown)."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/fail/{item}")
    async def fail(item: int) -> dict[str, int]:
        raise RuntimeError(f"item {item} failed")

    @app.get("/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    if config == "agentwatch":
        import agentwatch

        agentwatch.init(
            app,
            service_name="loss-bench",
            otlp_endpoint=otlp,
            export_spool_dir=spool,
            log_format="off",
            environ={},
        )
    else:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource({"service.name": "loss-bench"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(otlp + "/v1/traces")))
        trace.set_tracer_provider(provider)
        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="critical", lifespan="on")


# ---------------------------------------------------------------- bench side


class Receiver:
    """An OTLP/HTTP receiver on a fixed port that can go down (stop listening) and back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server_spans: Counter[str] = Counter()  # trace id -> server spans received
        self.last_arrival = 0.0
        self._lock = threading.Lock()
        self._httpd: http.server.ThreadingHTTPServer | None = None

    def up(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.take(body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()

    def down(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def take(self, body: bytes) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest.FromString(body)
        with self._lock:
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        if span.kind == 2:  # SPAN_KIND_SERVER
                            self.server_spans[span.trace_id.hex()] += 1
            self.last_arrival = time.monotonic()

    def delivered(self, sent: set[str]) -> tuple[int, int]:
        """(distinct sent traces received, sent traces whose server span came twice+)."""
        with self._lock:
            got = [self.server_spans[t] for t in sent if t in self.server_spans]
        return len(got), sum(1 for n in got if n > 1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class App:
    def __init__(self, config: str, otlp: str, spool: str, log: Path) -> None:
        self.port = _free_port()
        self._log = log.open("ab")
        here = Path(__file__).resolve()
        env = {**os.environ, "PYTHONPATH": str(here.parents[1] / "src")}
        command = [sys.executable, str(here), "--serve", config, "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--otlp", otlp, "--spool", spool],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self._wait_ready()

    def _wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.base + "/ready", timeout=1)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"the app did not start (see {self._log.name})") from None
                time.sleep(0.1)

    def stop(self, how: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(how)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def _send_failures(base: str, count: int, spread_seconds: float) -> set[str]:
    """``count`` requests to /fail, paced evenly over ``spread_seconds``; their trace ids."""
    import httpx

    ids = [f"{random.getrandbits(128):032x}" for _ in range(count)]
    start = time.monotonic()

    def one(i: int) -> None:
        delay = start + i * spread_seconds / count - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        headers = {"traceparent": f"00-{ids[i]}-{random.getrandbits(64):016x}-01"}
        headers["connection"] = "close"  # uvicorn closes a connection whose request raised
        try:
            httpx.get(f"{base}/fail/{i}", headers=headers, timeout=30)
        except httpx.TransportError:
            pass

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))
    return set(ids)


def _wait_delivered(receiver: Receiver, sent: set[str]) -> None:
    """Until every sent trace arrived, or nothing new came for QUIET_SECONDS."""
    since = time.monotonic()
    while time.monotonic() - since < MAX_WAIT_SECONDS:
        if receiver.delivered(sent)[0] == len(sent):
            return
        if time.monotonic() - max(receiver.last_arrival, since) > QUIET_SECONDS:
            return
        time.sleep(0.2)


def run_case(case: str, config: str, outage: float, workdir: Path) -> tuple[int, int, int]:
    """One case for one configuration: (sent, delivered, duplicated)."""
    port = _free_port()
    otlp = f"http://127.0.0.1:{port}"
    spool = str(workdir / f"spool-{case}-{config}")
    log = workdir / f"{case}-{config}.log"
    receiver = Receiver(port)  # down: nothing listens on the port yet
    started = time.monotonic()
    app = App(config, otlp, spool, log)
    if case.startswith("outage-"):
        count = int(case.split("-", 1)[1])
        sent = _send_failures(app.base, count, outage * 2 / 3)
        time.sleep(max(outage - (time.monotonic() - started), 0.0))
        receiver.up()  # every request was served during the outage
        _wait_delivered(receiver, sent)
        app.stop(signal.SIGTERM)
    else:  # kill-9
        sent = _send_failures(app.base, 300, 5.0)
        time.sleep(2.0)
        app.stop(signal.SIGKILL)
        time.sleep(max(outage - (time.monotonic() - started), 0.0))
        receiver.up()
        app = App(config, otlp, spool, log)
        _wait_delivered(receiver, sent)
        app.stop(signal.SIGTERM)
    time.sleep(1.0)
    delivered, duplicated = receiver.delivered(sent)
    receiver.down()
    return len(sent), delivered, duplicated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=30.0)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--serve", choices=CONFIGS)
    parser.add_argument("--port", type=int)
    parser.add_argument("--otlp")
    parser.add_argument("--spool")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.otlp, args.spool)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="agentwatch-loss-") as folder:
        for case in args.cases.split(","):
            for config in args.configs.split(","):
                sent, delivered, duplicated = run_case(case, config, args.outage, Path(folder))
                rows.append((case, config, sent, delivered, duplicated))
                print(
                    f"{case:12} {config:11} delivered {delivered:5} / {sent:5} "
                    f"({100 * (sent - delivered) / sent:5.1f}% lost), sent twice {duplicated}",
                    flush=True,
                )
    print()
    print(f"| case ({args.outage:g} s outage) | agentwatch | stock OpenTelemetry SDK |")
    print("|---|---|---|")
    for case in args.cases.split(","):
        cells = []
        for config in args.configs.split(","):
            row = next(r for r in rows if r[0] == case and r[1] == config)
            lost = 100 * (row[2] - row[3]) / row[2]
            cells.append(f"{row[3]} / {row[2]} ({lost:.0f}% lost)")
        print(f"| {case} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
