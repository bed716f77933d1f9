"""Catalog metrics: registration, cardinality guard, exposition, promtool, docs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from tests._apps import build_app, init_for_test, sample

import agentwatch
from agentwatch._catalog import CATALOG, PACKS, MetricSpec, define_pack, render_reference
from agentwatch._docs import render_configuration
from agentwatch._metrics.registry import OVERFLOW, Metrics

ROOT = Path(__file__).resolve().parents[1]


def test_every_pack_the_specification_names_is_in_the_catalog() -> None:
    assert set(PACKS) >= {
        "http",
        "runtime",
        "llm",
        "agent",
        "workflow",
        "tool",
        "db",
        "cache",
        "queue",
        "circuit",
        "security",
        "health",
    }
    for name in [
        "http_requests_total",
        "http_request_duration_seconds",
        "http_requests_in_progress",
        "http_request_size_bytes",
        "http_response_size_bytes",
        "http_request_errors_total",
        "llm_requests_total",
        "llm_tokens_total",
        "llm_cost_usd_total",
        "llm_errors_total",
        "llm_retries_total",
        "llm_fallbacks_total",
        "llm_budget_remaining_usd",
        "llm_budget_utilization_ratio",
        "agent_runs_total",
        "agent_run_duration_seconds",
        "agent_runs_in_progress",
        "agent_errors_total",
        "agent_retries_total",
        "workflow_runs_total",
        "workflow_run_duration_seconds",
        "workflows_active",
        "workflow_approval_wait_seconds",
        "workflow_approvals_pending",
        "tool_calls_total",
        "tool_call_duration_seconds",
        "tool_errors_total",
        "db_operation_duration_seconds",
        "db_pool_connections",
        "db_errors_total",
        "cache_operations_total",
        "queue_depth",
        "queue_jobs_total",
        "queue_job_duration_seconds",
        "circuit_breaker_state",
        "auth_login_attempts_total",
        "rate_limit_hits_total",
        "authz_denials_total",
        "health_check_status",
        "health_check_duration_seconds",
        "health_score",
        "asyncio_event_loop_lag_seconds",
        "agentwatch_metric_overflow_total",
        "agentwatch_spans_dropped_total",
        "agentwatch_traces_sampled_total",
    ]:
        assert name in CATALOG, name


def test_generated_references_are_current() -> None:
    assert (ROOT / "docs" / "metrics.md").read_text() == render_reference() + "\n", (
        "run: agentwatch docs --out docs"
    )
    assert (ROOT / "docs" / "configuration.md").read_text() == render_configuration(), (
        "run: agentwatch docs --out docs"
    )


def test_label_combinations_past_the_budget_go_to_one_overflow_series() -> None:
    try:
        registry = CollectorRegistry()
        spec = define_pack(
            "test_budget",
            [
                MetricSpec(
                    "test_budget_events_total", "counter", "Events.", labels=("user",), budget=3
                )
            ],
        )[0]
        metrics = Metrics(registry, [spec])
        for user in ["a", "b", "c", "d", "e", "a", "d"]:
            metrics[spec.name].labels(user).inc()
        assert sample(registry, "test_budget_events_total", {"user": "a"}) == 2
        assert sample(registry, "test_budget_events_total", {"user": OVERFLOW}) == 3  # d, e, d
        assert sample(registry, "test_budget_events_total", {"user": "d"}) == 0
        assert sample(registry, "agentwatch_metric_overflow_total", {"metric": spec.name}) == 3
        assert metrics[spec.name].series_count == 3
    finally:  # leave the catalog as other tests expect it
        for item in PACKS.pop("test_budget"):
            CATALOG.pop(item.name, None)


def test_wrong_label_count_is_a_clear_error() -> None:
    metrics = Metrics(CollectorRegistry())
    with pytest.raises(ValueError, match="http_requests_total takes labels"):
        metrics["http_requests_total"].labels("GET")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (dict(name="Bad-Name", kind="counter", help="x"), "snake_case"),
        (dict(name="jobs", kind="counter", help="x"), "ending in _total"),
        (dict(name="jobs", kind="summary", help="x"), "counter, gauge or histogram"),
    ],
)
def test_bad_metric_specs_are_refused(spec, message) -> None:
    with pytest.raises(agentwatch.ConfigurationError, match=message):
        MetricSpec(**spec)


async def _get(app, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path, headers=headers)


async def test_metrics_endpoint_negotiates_openmetrics_and_gzip() -> None:
    app = build_app()
    handle, _ = init_for_test(app)
    await _get(app, "/ok/1")
    text = await _get(app, "/metrics")
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'http_requests_total{method="GET",route="/ok/{item_id}",status="200"} 1.0' in text.text
    om = await _get(app, "/metrics", {"accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.rstrip().endswith("# EOF")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        raw = await client.get("/metrics", headers={"accept-encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert b"http_requests_total" in raw.content  # httpx decompressed it
    handle.shutdown()


@pytest.mark.parametrize(
    ("options", "good", "bad"),
    [
        ({"metrics_bearer_token": "s3cret"}, "Bearer s3cret", "Bearer nope"),
        ({"metrics_basic_auth": "prom:pw"}, "Basic cHJvbTpwdw==", "Basic cHJvbTp4"),
    ],
)
async def test_metrics_endpoint_auth(options, good, bad) -> None:
    app = build_app()
    handle, _ = init_for_test(app, **options)
    assert (await _get(app, "/metrics")).status_code == 401
    assert (await _get(app, "/metrics", {"authorization": bad})).status_code == 401
    assert (await _get(app, "/metrics", {"authorization": good})).status_code == 200
    handle.shutdown()


def _promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: apt-get install prometheus (make test installs it)"
    return path


async def test_promtool_check_metrics_reports_nothing_on_a_real_scrape() -> None:
    app = build_app()
    handle, _ = init_for_test(app)
    for path in ["/ok/1", "/ok/2", "/fail/3", "/nope"]:
        await _get(app, path)
    for name in CATALOG:  # one series in every catalog metric, so all are linted
        spec = CATALOG[name]
        child = handle.metrics[name].labels(*["x"] * len(spec.labels))
        getattr(child, {"counter": "inc", "gauge": "set", "histogram": "observe"}[spec.kind])(
            *(() if spec.kind == "counter" else (1,))
        )
    body = (await _get(app, "/metrics")).text
    result = subprocess.run(
        [_promtool(), "check", "metrics"], input=body, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", (
        result.stdout + result.stderr
    )
    handle.shutdown()
