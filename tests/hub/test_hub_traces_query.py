"""Reading the trace store: errors first, filters, cursors, OTLP round trip, Jaeger, CLI,
retention and the size limit."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from tests.hub._traces_support import agent_spans, get_json, served_hub, wait_for

from agentwatch._cli import main

PROTOBUF = {"content-type": "application/x-protobuf"}


def _ok_spans(trace_base: int, traces: int, start_ns: int, *, name: str = "GET /health") -> bytes:
    """``traces`` successful one-span traces, a millisecond apart."""
    request = encode_spans(agent_spans(trace_base, traces=traces, start_ns=start_ns))
    kept = []
    for span in request.resource_spans[0].scope_spans[0].spans:
        if not span.parent_span_id:
            span.name = name
            span.status.code = 1
            del span.attributes[:]
            kept.append(span)
    del request.resource_spans[0].scope_spans[0].spans[:]
    request.resource_spans[0].scope_spans[0].spans.extend(kept)
    return request.SerializeToString()


def _post(url: str, body: bytes) -> None:
    answer = httpx.post(f"{url}/v1/traces", content=body, headers=PROTOBUF)
    assert answer.status_code == 200, answer.text


def test_errors_first_then_newest_with_filters_and_cursor(tmp_path: Path) -> None:
    now = time.time_ns()
    with served_hub(tmp_path) as (_hub, url):
        _post(url, _ok_spans(1, 5, now))  # five successes, newest at now + 4 s
        _post(
            url,
            encode_spans(agent_spans(2, traces=2, start_ns=now - 60 * 10**9)).SerializeToString(),
        )
        page = get_json(f"{url}/api/v1/traces", limit=3)
        statuses = [t["status"] for t in page["traces"]]
        assert statuses == ["error", "error", "ok"]
        assert page["traces"][0]["start_time_unix_nano"] > page["traces"][1]["start_time_unix_nano"]
        rest = get_json(f"{url}/api/v1/traces", limit=3, cursor=page["next_cursor"])
        assert [t["status"] for t in rest["traces"]] == ["ok"] * 3 and rest[
            "next_cursor"
        ] is not None
        last = get_json(f"{url}/api/v1/traces", limit=3, cursor=rest["next_cursor"])
        assert len(last["traces"]) == 1 and last["next_cursor"] is None
        seen = [t["trace_id"] for p in (page, rest, last) for t in p["traces"]]
        assert len(set(seen)) == 7
        assert len(get_json(f"{url}/api/v1/traces", status="ok")["traces"]) == 5
        assert len(get_json(f"{url}/api/v1/traces", min_duration="55ms")["traces"]) == 7
        assert get_json(f"{url}/api/v1/traces", min_duration="61ms")["traces"] == []
        assert len(get_json(f"{url}/api/v1/traces", q="index offline")["traces"]) == 2
        assert len(get_json(f"{url}/api/v1/traces", since="30s")["traces"]) == 5
        assert len(get_json(f"{url}/api/v1/traces", route="/agents/{name}/run")["traces"]) == 2
        assert get_json(f"{url}/api/v1/services") == {"services": ["agent-api"]}
        bad = httpx.get(f"{url}/api/v1/traces", params={"min_duration": "slow"})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "min_duration"
        assert (
            httpx.get(f"{url}/api/v1/traces", params={"status": "meh"}).json()["error"]["field"]
            == "status"
        )
        missing = httpx.get(f"{url}/api/v1/traces/{'ab' * 16}")
        assert missing.status_code == 404 and "no trace" in missing.json()["error"]["message"]
        assert httpx.get(f"{url}/api/v1/traces/nothex").json()["error"]["field"] == "trace_id"


def test_otlp_export_round_trips_into_another_hub(tmp_path: Path) -> None:
    spans = agent_spans(3, traces=1)
    trace_id = format(spans[0].context.trace_id, "032x")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with served_hub(tmp_path / "a") as (_a, first):
        _post(first, encode_spans(spans).SerializeToString())
        otlp = get_json(f"{first}/api/v1/traces/{trace_id}", format="otlp")
        original = get_json(f"{first}/api/v1/traces/{trace_id}")
    with served_hub(tmp_path / "b") as (_b, second):
        assert (
            httpx.post(
                f"{second}/v1/traces", json={"resourceSpans": otlp["resourceSpans"]}
            ).status_code
            == 200
        )
        copied = get_json(f"{second}/api/v1/traces/{trace_id}")
    assert copied == original


def test_jaeger_query_api(tmp_path: Path) -> None:
    spans = agent_spans(4, traces=1)
    trace_id = format(spans[0].context.trace_id, "032x")
    with served_hub(tmp_path) as (_hub, url):
        _post(url, encode_spans(spans).SerializeToString())
        assert get_json(f"{url}/api/services")["data"] == ["agent-api"]
        operations = get_json(f"{url}/api/services/agent-api/operations")["data"]
        assert operations == ["POST /agents/{name}/run", "chat gpt-4o-mini", "execute_tool search"]
        assert {"name": "chat gpt-4o-mini", "spanKind": "client"} in get_json(
            f"{url}/api/operations", service="agent-api"
        )["data"]
        found = get_json(f"{url}/api/traces", service="agent-api", lookback="1h", limit=20)["data"]
        trace = get_json(f"{url}/api/traces/{trace_id}")["data"][0]
    assert [t["traceID"] for t in found] == [trace_id]
    by_name = {s["operationName"]: s for s in trace["spans"]}
    root, llm = by_name["POST /agents/{name}/run"], by_name["chat gpt-4o-mini"]
    assert llm["references"][0] == {
        "refType": "CHILD_OF",
        "traceID": trace_id,
        "spanID": root["spanID"],
    }
    assert llm["duration"] == 39_000 and llm["startTime"] == root["startTime"] + 1000
    assert {"key": "gen_ai.usage.input_tokens", "type": "int64", "value": 812} in llm["tags"]
    assert {"key": "error", "type": "bool", "value": True} in by_name["execute_tool search"]["tags"]
    assert trace["processes"][root["processID"]]["serviceName"] == "agent-api"


def test_traces_commands_print_list_and_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spans = agent_spans(5, traces=1)
    trace_id = format(spans[0].context.trace_id, "032x")
    with served_hub(tmp_path) as (_hub, url):
        _post(url, encode_spans(spans).SerializeToString())
        assert main(["traces", "list", "--errors", "--since", "1h", "--hub", url]) == 0
        listing = capsys.readouterr().out
        assert main(["traces", "show", trace_id, "--hub", url]) == 0
        tree = capsys.readouterr().out
        assert main(["traces", "show", "ab" * 16, "--hub", url]) == 2
        assert "hub answered 404: no trace" in capsys.readouterr().err
    assert trace_id in listing and "✖ ERROR" in listing and "LookupError: index offline" in listing
    lines = tree.splitlines()
    assert lines[0].startswith("✖ ERROR POST /agents/{name}/run  agent-api  60 ms  3 spans")
    assert lines[1] == "├─ chat gpt-4o-mini  39 ms  [agent-api]  gpt-4o-mini 812→120 tokens"
    assert lines[2] == "└─ ✖ execute_tool search  9 ms  [agent-api]  LookupError: index offline"
    assert lines[-1] == f"{url}/traces/{trace_id}"


def test_retention_and_size_limit_evict_successes_before_errors(tmp_path: Path) -> None:
    clock_now = [time.time()]
    config = "traces: {retention: 1h, max_bytes: 20000, maintenance_interval: 0.1}\n"
    with served_hub(tmp_path, config, clock=lambda: clock_now[0]) as (_hub, url):
        now = int(clock_now[0] * 1e9)
        _post(url, encode_spans(agent_spans(6, traces=3, start_ns=now)).SerializeToString())
        for n in range(8):
            _post(url, _ok_spans(10 + n, 20, now))

        def trimmed() -> str | None:
            text = httpx.get(f"{url}/metrics").text
            size = next(
                s for s in text.splitlines() if s.startswith("agentwatch_hub_trace_store_bytes")
            )
            evicted = 'agentwatch_hub_traces_evicted_total{status="ok"}' in text
            return text if evicted and float(size.split()[1]) <= 20000 else None

        metrics = wait_for(trimmed)  # the size limit holds once the writes are done
        stored = get_json(f"{url}/api/v1/traces", limit=1000)["traces"]
        assert [t["status"] for t in stored].count("error") == 3  # every error trace kept
        assert 0 < [t["status"] for t in stored].count("ok") < 160
        assert 'agentwatch_hub_traces_evicted_total{status="error"}' not in metrics
        clock_now[0] += 2 * 3600  # past retention
        wait_for(lambda: get_json(f"{url}/api/v1/traces")["traces"] == [])
        assert (
            'agentwatch_hub_traces_evicted_total{status="error"} 3.0'
            in httpx.get(f"{url}/metrics").text
        )


def test_reading_traces_needs_the_token_when_one_is_set(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret")
    with served_hub(tmp_path, "api: {token_file: token}\n") as (_hub, url):
        assert httpx.get(f"{url}/api/v1/traces").status_code == 401
        body = encode_spans(agent_spans(7, traces=1)).SerializeToString()
        assert httpx.post(f"{url}/v1/traces", content=body, headers=PROTOBUF).status_code == 401
        sent = httpx.post(
            f"{url}/v1/traces", content=body, headers={**PROTOBUF, "Authorization": "Bearer s3cret"}
        )
        assert sent.status_code == 200
        assert httpx.get(f"{url}/api/traces/{'ab' * 16}").status_code == 401
        page = httpx.get(f"{url}/traces", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Ftraces"
        allowed = httpx.get(f"{url}/api/v1/traces", headers={"Authorization": "Bearer s3cret"})
        assert allowed.status_code == 200 and len(allowed.json()["traces"]) == 1


def test_generated_grafana_provisioning_offers_the_hub_as_a_jaeger_data_source(
    tmp_path: Path,
) -> None:
    import yaml

    assert (
        main(["ops", "generate", "--out", str(tmp_path / "with"), "--hub-target", "hub:9800"]) == 0
    )
    assert main(["ops", "generate", "--out", str(tmp_path / "without"), "--no-hub"]) == 0
    path = "grafana/provisioning/datasources/datasources.yml"
    sources = yaml.safe_load((tmp_path / "with" / path).read_text())["datasources"]
    hub = next(s for s in sources if s["type"] == "jaeger")
    assert hub["url"] == "http://hub:9800" and hub["uid"] == "agentwatch-hub-traces"
    assert hub["secureJsonData"] == {"httpHeaderValue1": "Bearer $AGENTWATCH_HUB_TOKEN"}
    assert "jaeger" not in {
        s["type"] for s in yaml.safe_load((tmp_path / "without" / path).read_text())["datasources"]
    }
