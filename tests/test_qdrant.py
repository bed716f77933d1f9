"""init(instrument_qdrant=True): real qdrant-client calls against a local fake Qdrant over HTTP
record the rag pack's vector-store metrics and a client span each, the HTTP request carrying
that span's trace context; the Qdrant health check reads the same fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry
from qdrant_client import AsyncQdrantClient, QdrantClient, models
from qdrant_client.http import models as rest
from qdrant_client.http.exceptions import UnexpectedResponse
from tests._apps import init_for_test
from tests._fake_qdrant import FakeQdrant, fake_qdrant

import agentwatch
from agentwatch._integrations.qdrant import result_count
from agentwatch._metrics.registry import Metrics
from agentwatch.health import HealthRegistry, VectorStoreCheck

COSINE = models.VectorParams(size=3, distance=models.Distance.COSINE)


@pytest.fixture
def qdrant() -> Iterator[FakeQdrant]:
    with fake_qdrant() as fake:
        yield fake


@pytest.fixture
def handle() -> Iterator[tuple[agentwatch.Agentwatch, Any]]:
    handle, exporter = init_for_test(ratio=1.0, instrument_qdrant=True)
    try:
        yield handle, exporter
    finally:
        handle.shutdown()


def _value(handle: agentwatch.Agentwatch, name: str, **labels: str) -> float | None:
    return handle.registry.get_sample_value(name, labels)


def _fill(client: QdrantClient) -> None:
    client.create_collection("docs", vectors_config=COSINE)
    client.create_collection("flaky", vectors_config=COSINE)
    points = [models.PointStruct(id=i, vector=[i, 1, 0], payload={"n": i}) for i in range(1, 6)]
    client.upsert("docs", points=points)


def test_calls_record_searches_results_operations_and_collection_sizes(
    handle: tuple[agentwatch.Agentwatch, Any], qdrant: FakeQdrant
) -> None:
    aw, _exporter = handle
    client = QdrantClient(url=qdrant.url, check_compatibility=False)
    _fill(client)
    assert [p.id for p in client.query_points("docs", query=[5, 1, 0], limit=3).points] == [5, 4, 3]
    client.query_points(collection_name="docs", query=[1, 0, 0], limit=2)
    batch = [models.QueryRequest(query=[1, 0, 0], limit=2)] * 3
    client.query_batch_points("docs", requests=batch)
    client.retrieve("docs", ids=[1, 2])
    client.delete("docs", points_selector=[1])
    qdrant.failing.add("flaky")
    with pytest.raises(UnexpectedResponse):
        client.query_points("flaky", query=[1, 0, 0])
    assert client.get_collection("docs").points_count == 4
    client.get_collections()

    searches = "vector_store_searches_total"
    assert _value(aw, searches, collection="docs", status="success") == 3
    assert _value(aw, searches, collection="flaky", status="error") == 1
    assert _value(aw, "vector_store_search_results_sum", collection="docs") == 3 + 2 + 6
    assert _value(aw, "vector_store_search_duration_seconds_count", collection="docs") == 3
    assert _value(aw, "vector_store_search_duration_seconds_count", collection="flaky") == 1
    ops = "vector_store_operations_total"
    for operation in ("create_collection", "upsert", "retrieve", "delete"):
        assert _value(aw, ops, collection="docs", operation=operation, status="success") == 1
    assert _value(aw, "vector_store_vectors", collection="docs") == 4
    assert _value(aw, "vector_store_collections") == 2


def _spans(aw: agentwatch.Agentwatch, exporter: Any, name: str) -> list[ReadableSpan]:
    aw.force_flush()
    return [span for span in exporter.get_finished_spans() if span.name == name]


def test_each_call_is_a_client_span_and_its_request_carries_the_trace(
    handle: tuple[agentwatch.Agentwatch, Any], qdrant: FakeQdrant
) -> None:
    aw, exporter = handle
    client = QdrantClient(url=qdrant.url, check_compatibility=False)
    _fill(client)
    client.query_points("docs", query=[1, 1, 0], limit=2)
    qdrant.failing.add("flaky")
    with pytest.raises(UnexpectedResponse):
        client.upsert("flaky", points=[models.PointStruct(id=1, vector=[1, 0, 0])])

    (search,) = _spans(aw, exporter, "query_points docs")
    assert search.kind is SpanKind.CLIENT
    assert dict(search.attributes or {}) == {
        "db.system.name": "qdrant",
        "db.operation.name": "query_points",
        "db.collection.name": "docs",
    }
    assert search.status.status_code is StatusCode.UNSET
    (http,) = [
        span
        for span in _spans(aw, exporter, "POST")
        if span.parent is not None and span.parent.span_id == search.context.span_id
    ]
    (_method, _path, headers) = qdrant.requests_to("/docs/points/query")[0]
    trace_id, parent = headers["traceparent"].split("-")[1:3]
    assert (int(trace_id, 16), int(parent, 16)) == (search.context.trace_id, http.context.span_id)

    (failed,) = _spans(aw, exporter, "upsert flaky")
    assert failed.status.status_code is StatusCode.ERROR
    assert (failed.attributes or {})["error.type"] == "UnexpectedResponse"
    assert [event.name for event in failed.events] == ["exception"]


async def test_the_async_client_is_recorded_too(
    handle: tuple[agentwatch.Agentwatch, Any], qdrant: FakeQdrant
) -> None:
    aw, exporter = handle
    client = AsyncQdrantClient(url=qdrant.url, check_compatibility=False)
    try:
        await client.create_collection("docs", vectors_config=COSINE)
        await client.upsert("docs", points=[models.PointStruct(id=7, vector=[0, 1, 0])])
        found = await client.query_points("docs", query=[0, 1, 0], limit=5)
    finally:
        await client.close()
    assert [point.id for point in found.points] == [7]
    assert _value(aw, "vector_store_searches_total", collection="docs", status="success") == 1
    assert _value(aw, "vector_store_search_results_sum", collection="docs") == 1
    assert [span.kind for span in _spans(aw, exporter, "query_points docs")] == [SpanKind.CLIENT]


def test_after_shutdown_calls_are_not_recorded(qdrant: FakeQdrant) -> None:
    aw, exporter = init_for_test(ratio=1.0, instrument_qdrant=True)
    client = QdrantClient(url=qdrant.url, check_compatibility=False)
    client.create_collection("docs", vectors_config=COSINE)
    aw.shutdown()
    client.query_points("docs", query=[1, 0, 0])
    assert _value(aw, "vector_store_searches_total", collection="docs", status="success") is None
    names = [span.name for span in exporter.get_finished_spans()]
    assert "create_collection docs" in names and "query_points docs" not in names


def _point(i: int) -> rest.ScoredPoint:
    return rest.ScoredPoint(id=i, version=0, score=0.5)


@pytest.mark.parametrize(
    ("result", "count"),
    [
        ([_point(1), _point(2)], 2),
        (rest.QueryResponse(points=[_point(1)]), 1),
        ([rest.QueryResponse(points=[_point(1)]), rest.QueryResponse(points=[])], 1),
        (
            rest.GroupsResult(
                groups=[
                    rest.PointGroup(hits=[_point(1), _point(2)], id="a"),
                    rest.PointGroup(hits=[_point(3)], id="b"),
                ]
            ),
            3,
        ),
        ([[_point(1)], [_point(2), _point(3)]], 3),
        (None, 0),
    ],
)
def test_result_count_reads_every_search_answer_shape(result: Any, count: int) -> None:
    assert result_count(result) == count


async def test_the_qdrant_health_check_reads_the_fake_collection_the_client_filled(
    qdrant: FakeQdrant,
) -> None:
    client = QdrantClient(url=qdrant.url, check_compatibility=False)
    _fill(client)
    health = HealthRegistry(metrics=Metrics(CollectorRegistry()), cache_ttl=0.0)
    health.register("vectors", VectorStoreCheck.qdrant(qdrant.url, collection="docs"))
    health.register("qdrant", VectorStoreCheck.qdrant(qdrant.url))
    health.register("missing", VectorStoreCheck.qdrant(qdrant.url, collection="nope"))
    results = {
        name: (await health.run_component(name)).result for name in ("vectors", "qdrant", "missing")
    }
    assert (results["vectors"].status, results["vectors"].observed_value) == ("pass", 5)
    assert results["qdrant"].status == "pass" and qdrant.requests_to("/healthz")
    assert (results["missing"].status, results["missing"].output) == (
        "fail",
        "collection 'nope' not found",
    )
