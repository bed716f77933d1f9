"""What agentwatch reads of OpenTelemetry's and prometheus_client's private parts is there.

An upgrade that removes one would not break agentwatch (each has a public way round), it
would make it slower or leave a processor on a provider; this test says so at once, naming
what is gone, the installed version and the version ``agentwatch._compat`` was checked
against.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanContext, TraceFlags, TraceState
from prometheus_client import CollectorRegistry, Histogram

from agentwatch import _compat
from agentwatch.testing import InMemorySpanExporter


def test_the_installed_versions_have_every_private_part_agentwatch_reads() -> None:
    lacking = _compat.missing()
    assert not lacking, "update agentwatch._compat for:\n" + "\n".join(lacking)


def test_the_processors_of_a_provider_are_read_and_one_taken_off_again() -> None:
    provider = TracerProvider()
    ours, theirs = (
        SimpleSpanProcessor(InMemorySpanExporter()),
        SimpleSpanProcessor(InMemorySpanExporter()),
    )
    provider.add_span_processor(ours)
    provider.add_span_processor(theirs)
    processors = _compat.span_processors_of(provider)
    assert processors() == (ours, theirs)
    assert _compat.remove_span_processor(provider, ours)
    assert processors() == (theirs,)
    assert _compat.span_processors_of(object())() is None
    assert not _compat.remove_span_processor(object(), ours)


def test_span_contexts_and_trace_states_are_what_the_constructors_make() -> None:
    build = _compat.span_context_builder()
    flags, state = TraceFlags(1), TraceState([("k", "v")])
    assert build(0xABC, 0xDEF, flags, state) == SpanContext(0xABC, 0xDEF, False, flags, state)
    assert _compat.trace_state_of({"k": "v", "a": "b"}).to_header() == "k=v,a=b"


def test_a_histogram_child_gives_the_parts_a_fold_writes_into() -> None:
    histogram = Histogram("h", "h", ["x"], buckets=(1.0, 2.0), registry=CollectorRegistry())
    parts = _compat.histogram_parts(histogram.labels("a"))
    assert parts is not None and parts.bounds == (1.0, 2.0, float("inf"))
    assert len(parts.buckets) == 3
    assert _compat.histogram_parts(object()) is None
