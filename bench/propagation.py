"""Cost of W3C propagation on the request path: ``extract_asgi`` and ``inject_headers``.

    python bench/propagation.py [--number 20000]

``extract_asgi`` runs once per traced request in the middleware, so it must stay a few
microseconds; compared with the stock OpenTelemetry composite (TraceContext + Baggage)
fed the same headers through a dict, as its ASGI instrumentation does. Prints the best of
seven rounds, microseconds per call.
"""

from __future__ import annotations

import argparse
import timeit
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from agentwatch.propagation import extract_asgi, inject_headers

BASE = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"python-httpx/0.28.1"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"connection", b"keep-alive"),
    (b"content-type", b"application/json"),
    (b"content-length", b"42"),
]
TRACEPARENT = [(b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
TRACESTATE = [(b"tracestate", b"congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")]
BAGGAGE = [(b"baggage", b"userId=alice,isProduction=false")]
SETS = {
    "7 headers, no trace context": BASE,
    "+ traceparent": BASE + TRACEPARENT,
    "+ traceparent, tracestate (2)": BASE + TRACEPARENT + TRACESTATE,
    "+ traceparent, tracestate (2), baggage (2)": BASE + TRACEPARENT + TRACESTATE + BAGGAGE,
}
STOCK = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


def _best(call: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(call, number=number, repeat=7)) / number * 1e6


def _stock(headers: list[tuple[bytes, bytes]]) -> object:
    carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers}
    return STOCK.extract(carrier)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=20000)
    number = parser.parse_args().number
    print(f"{'headers':45s} {'extract_asgi':>13s} {'stock OTel':>11s}")
    for name, headers in SETS.items():
        ours = _best(lambda h=headers: extract_asgi(h), number)
        stock = _best(lambda h=headers: _stock(h), number)
        print(f"{name:45s} {ours:10.2f} us {stock:8.2f} us")
    context = extract_asgi(SETS["+ traceparent, tracestate (2), baggage (2)"])
    with TracerProvider().get_tracer("bench").start_as_current_span("client", context=context):
        current = trace.set_span_in_context(trace.get_current_span(), context)
        print(
            f"{'inject_headers (all three)':45s} {_best(lambda: inject_headers(context=current), number):10.2f} us"
        )


if __name__ == "__main__":
    main()
