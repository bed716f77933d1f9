"""How fast the hub's trace store takes spans, and how fast it answers with a million stored.

    python bench/hub_traces.py [--seconds 60] [--fill 1000000] [--database URL]

1. Intake: ``agentwatch hub serve`` runs as its own process (SQLite trace store by default);
   two sender processes export as fast as they can for ``--seconds``: one with agentwatch's
   ``OtlpHttpExporter``, one with the stock ``OTLPSpanExporter`` (protobuf). Spans are SDK
   ``ReadableSpan``s of agent requests (8 spans a trace: a SERVER root, LLM and tool and
   database children; 1 trace in 10 fails with an exception), new ids for every batch of
   512. Printed per sender: spans sent, accepted (the hub answered 200), refused (429: the
   sender keeps the batch and sends it again), and after the run the spans stored, read
   back from the hub's API. Lost = accepted - stored (target 0).
2. Reads: the store is filled to ``--fill`` spans, then ``/api/v1/traces?status=error`` and
   the page ``/traces/{id}`` of an error trace are timed 200 times each (p50 / p95, target
   p95 < 200 ms).

The stock exporter has no baseline store to compare with here: the figure the issue names
is the absolute rate (≥ 10,000 spans/s on this 2-core machine); for reference, users of
Arize Phoenix report about 80 spans/s into its SQLite store.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _hubproc import free_port, wait_ready

SPANS_PER_TRACE = 8
BATCH = 512


def _start_hub(folder: Path, database: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    db = database or f"sqlite:///{folder}/hub.db"
    env = {**os.environ, "XDG_STATE_HOME": str(folder / "state")}
    hub = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentwatch",
            "hub",
            "serve",
            "--port",
            str(port),
            "--database",
            db,
            "--log-level",
            "warning",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(hub, url, 30)
    return hub, url


class _Spans:
    """ReadableSpans from a template, with new ids for every batch."""

    def __init__(self, seed: int) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self.rng = random.Random(seed)
        self.resource = Resource.create(
            {"service.name": f"agent-api-{seed}", "service.version": "1.4.2"}
        )
        self.scope = InstrumentationScope("agentwatch", "0.1.0")

    def batch(self) -> list[Any]:
        spans: list[Any] = []
        now = time.time_ns()
        while len(spans) < BATCH:
            spans.extend(self._trace(now - self.rng.randrange(10**9)))
        return spans

    def _trace(self, start: int) -> list[Any]:
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        trace_id = self.rng.getrandbits(128) | 1
        failing = self.rng.random() < 0.1
        ids = [self.rng.getrandbits(64) | 1 for _ in range(SPANS_PER_TRACE)]
        out = []
        for n, span_id in enumerate(ids):
            context = SpanContext(trace_id, span_id, False, TraceFlags(1))
            parent = None if n == 0 else SpanContext(trace_id, ids[0], False, TraceFlags(1))
            error = failing and n == SPANS_PER_TRACE - 1
            attributes: dict[str, Any] = {"http.route": "/agents/{name}/run", "n": n}
            if n == 1:
                attributes.update(
                    {
                        "gen_ai.request.model": "gpt-4o-mini",
                        "gen_ai.usage.input_tokens": 800,
                        "gen_ai.usage.output_tokens": 120,
                        "agentwatch.llm.cost_usd": 0.0002,
                    }
                )
            events = (
                [
                    Event(
                        "exception",
                        {
                            "exception.type": "TimeoutError",
                            "exception.message": "upstream",
                            "exception.stacktrace": "Traceback ...\n" * 20,
                        },
                        start + 5000,
                    )
                ]
                if error
                else []
            )
            out.append(
                ReadableSpan(
                    name="POST /agents/{name}/run" if n == 0 else f"step {n}",
                    context=context,
                    parent=parent,
                    resource=self.resource,
                    attributes=attributes,
                    events=events,
                    kind=SpanKind.SERVER if n == 0 else SpanKind.INTERNAL,
                    status=Status(
                        StatusCode.ERROR if error or (failing and n == 0) else StatusCode.UNSET
                    ),
                    start_time=start + n * 1000,
                    end_time=start + 2_000_000 - n * 1000,
                    instrumentation_scope=self.scope,
                )
            )
        return out


def _sender(kind: str, url: str, seconds: float, results: Any) -> None:
    from opentelemetry.sdk.trace.export import SpanExportResult

    if kind == "agentwatch":
        from agentwatch._export.otlp_http import OtlpHttpExporter

        exporter: Any = OtlpHttpExporter(f"{url}/v1/traces", retry_initial_seconds=0.2)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces")
    spans = _Spans(1 if kind == "agentwatch" else 2)
    sent = accepted = failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = spans.batch()
        sent += len(batch)
        if exporter.export(batch) == SpanExportResult.SUCCESS:
            accepted += len(batch)
        else:
            failed += len(batch)
    exporter.shutdown()
    results[kind] = (sent, accepted, failed)


def _stored_spans(url: str, service: str) -> int:
    total, cursor = 0, None
    while True:
        params = {"service": service, "limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{url}/api/v1/traces", params=params, timeout=60).json()
        total += sum(t["span_count"] for t in page["traces"])
        cursor = page["next_cursor"]
        if not cursor:
            return total


def intake(url: str, seconds: float) -> None:
    with multiprocessing.Manager() as manager:
        results = manager.dict()
        senders = [
            multiprocessing.Process(target=_sender, args=(k, url, seconds, results))
            for k in ("agentwatch", "stock")
        ]
        started = time.monotonic()
        for p in senders:
            p.start()
        for p in senders:
            p.join()
        elapsed = time.monotonic() - started
        rows = dict(results)
    print(f"\nintake, {seconds:.0f} s, both senders at once ({elapsed:.1f} s wall):")
    print(
        f"{'sender':12} {'sent':>10} {'accepted':>10} {'stored':>10} {'lost':>6} {'spans/s stored':>15}"
    )
    total = 0
    for kind, seed in (("agentwatch", 1), ("stock", 2)):
        sent, accepted, _failed = rows[kind]
        stored = _stored_spans(url, f"agent-api-{seed}")
        total += stored
        print(
            f"{kind:12} {sent:>10} {accepted:>10} {stored:>10} {accepted - stored:>6} {stored / seconds:>15,.0f}"
        )
    print(f"{'both':12} {'':>10} {'':>10} {total:>10} {'':>6} {total / seconds:>15,.0f}")


def fill(url: str, target: int) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    stored = _received(url)
    spans = _Spans(3)
    started = time.monotonic()
    with httpx.Client(timeout=60) as client:
        while stored < target:
            body = encode_spans(spans.batch()).SerializeToString()
            answer = client.post(
                f"{url}/v1/traces", content=body, headers={"content-type": "application/x-protobuf"}
            )
            if answer.status_code == 200:
                stored += BATCH
            else:
                time.sleep(float(answer.headers.get("retry-after", "1")))
            if stored % (BATCH * 200) == 0:
                print(
                    f"  filled {stored:,} spans ({stored / (time.monotonic() - started):,.0f}/s)",
                    flush=True,
                )


def _received(url: str) -> int:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith('agentwatch_hub_otlp_received_total{signal="traces"}'):
            return int(float(line.split()[-1]))
    return 0


def reads(url: str, samples: int = 200) -> None:
    errors = httpx.get(f"{url}/api/v1/traces", params={"status": "error", "limit": "50"}).json()[
        "traces"
    ]
    ids = [t["trace_id"] for t in errors]

    def timed(path: str) -> float:
        start = time.perf_counter()
        answer = httpx.get(f"{url}{path}", timeout=30)
        assert answer.status_code == 200, answer.text
        return (time.perf_counter() - start) * 1000

    for label, paths in (
        ("/api/v1/traces?status=error", ["/api/v1/traces?status=error"] * samples),
        ("/traces?status=error (page)", ["/traces?status=error"] * samples),
        ("/traces/{id} (page)", [f"/traces/{ids[n % len(ids)]}" for n in range(samples)]),
        ("/api/v1/traces/{id}", [f"/api/v1/traces/{ids[n % len(ids)]}" for n in range(samples)]),
    ):
        times = sorted(timed(p) for p in paths)
        p95 = times[int(len(times) * 0.95) - 1]
        print(f"  {label:32} p50 {statistics.median(times):7.1f} ms   p95 {p95:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fill", type=int, default=1_000_000)
    parser.add_argument(
        "--database", default=None, help="hub database URL (default SQLite in a temp folder)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hub-traces-bench-") as tmp:
        hub, url = _start_hub(Path(tmp), args.database)
        try:
            intake(url, args.seconds)
            print(f"\nfilling the store to {args.fill:,} spans")
            fill(url, args.fill)
            size = sum(f.stat().st_size for f in Path(tmp).glob("traces.db*"))
            print(
                f"\nreads with {args.fill:,}+ spans stored (traces.db and WAL: {size / 2**20:,.0f} MiB):"
            )
            reads(url)
        finally:
            hub.terminate()
            hub.wait(30)


if __name__ == "__main__":
    main()
