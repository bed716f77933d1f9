"""Tallies: request-path counts in plain cells, folded into prometheus_client at collection."""

from __future__ import annotations

import asyncio
import random
import threading
from bisect import bisect_left

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from tests._apps import build_app, init_for_test, sample

from agentwatch._metrics.tally import OFF, TalliedCounter, Tallies, histogram_bounds


def _exposition(registry: CollectorRegistry) -> list[str]:
    """The text exposition without the ``_created`` lines (they differ by construction)."""
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def _pair(registry: CollectorRegistry) -> tuple[Counter, Histogram, Gauge]:
    return (
        Counter("jobs", "Jobs.", ["queue"], registry=registry),
        Histogram("job_seconds", "Job time.", ["queue"], registry=registry),
        Gauge("jobs_running", "Jobs running.", ["queue"], registry=registry),
    )


def test_a_folded_row_exposes_exactly_what_direct_recording_does() -> None:
    direct, tallied = CollectorRegistry(), CollectorRegistry()
    tallies = Tallies()
    tallied.register(tallies)  # type: ignore[arg-type]
    counter, histogram, gauge = _pair(direct)
    t_counter, t_histogram, t_gauge = _pair(tallied)
    children = (t_counter.labels("a"), t_histogram.labels("a"), t_gauge.labels("a"))
    row = tallies.row(list(zip(("counter", "histogram", "gauge"), children, strict=True)))
    bounds = histogram_bounds(children[1])
    assert bounds is not None and row is not OFF
    rng = random.Random(7)
    for round_ in range(3):  # folds in between: each applies only what was added since
        for _ in range(500):
            value = rng.choice([0.0, 0.004, 0.005, 0.3, 2.5, 10.0, 99.0, rng.random() * 20])
            counter.labels("a").inc()
            histogram.labels("a").observe(value)
            gauge.labels("a").inc()
            row.cells[0] += 1
            row.cells[1] += value
            row.cells[2 + bisect_left(bounds, value)] += 1
            row.cells[2 + len(bounds)] += 1  # gauge: up
        for _ in range(round_ * 100):
            gauge.labels("a").dec()
            row.cells[3 + len(bounds)] += 1  # gauge: down
        assert _exposition(tallied) == _exposition(direct)


async def test_http_pack_counts_every_request_and_in_progress_is_live() -> None:
    app = build_app()
    gate = asyncio.Event()

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await gate.wait()
        return {"done": True}

    handle, _ = init_for_test(app)
    registry = handle.registry
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for i in range(30):
            assert (await client.get(f"/ok/{i}")).status_code == 200
        pending = asyncio.create_task(client.get("/slow"))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if sample(registry, "http_requests_in_progress", {"method": "GET"}) == 1:
                break
        assert sample(registry, "http_requests_in_progress", {"method": "GET"}) == 1
        gate.set()
        assert (await pending).status_code == 200
    labels = {"method": "GET", "route": "/ok/{item_id}"}
    assert sample(registry, "http_requests_total", {**labels, "status": "200"}) == 30
    assert sample(registry, "http_request_duration_seconds_count", labels) == 30
    assert sample(registry, "http_request_duration_seconds_sum", labels) > 0
    assert sample(registry, "http_requests_in_progress", {"method": "GET"}) == 0
    handle.shutdown()


def test_requests_on_a_thread_that_does_not_own_the_row_are_counted_too() -> None:
    app = build_app()
    handle, _ = init_for_test(app)

    async def burst(count: int) -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for i in range(count):
                await client.get(f"/ok/{i}")

    asyncio.run(burst(20))  # this thread creates (owns) the rows
    threads = [threading.Thread(target=asyncio.run, args=(burst(15),)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    labels = {"method": "GET", "route": "/ok/{item_id}"}
    assert sample(handle.registry, "http_requests_total", {**labels, "status": "200"}) == 65
    assert sample(handle.registry, "http_request_duration_seconds_count", labels) == 65
    handle.shutdown()


def test_concurrent_collections_never_apply_a_gain_twice() -> None:
    registry = CollectorRegistry()
    tallies = Tallies()
    registry.register(tallies)  # type: ignore[arg-type]
    counter = TalliedCounter(tallies, Counter("events", "Events.", registry=registry))
    stop = threading.Event()

    def scrape() -> None:
        while not stop.is_set():
            registry.get_sample_value("events_total")

    scrapers = [threading.Thread(target=scrape) for _ in range(3)]
    for thread in scrapers:
        thread.start()
    for _ in range(20_000):
        counter.inc()
    stop.set()
    for thread in scrapers:
        thread.join()
    assert registry.get_sample_value("events_total") == 20_000


def test_multi_process_mode_records_straight_into_the_children(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    tallies = Tallies()
    assert not tallies.enabled
    child = Counter("mp_events", "Events.", registry=None)
    assert tallies.row([("counter", child)]) is OFF
    TalliedCounter(tallies, child).inc()
    assert child._value.get() == 1
