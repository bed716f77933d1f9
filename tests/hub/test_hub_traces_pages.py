"""The trace viewer in real headless Chromium, fed by a service instrumented with agentwatch."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from prometheus_client import CollectorRegistry
from selenium.webdriver.common.by import By
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.hub._browser import chromium
from tests.hub._traces_support import agent_spans, get_json, served_hub, wait_for

import agentwatch
from agentwatch.demo.serving import BackgroundServer


def _log_record(trace_id: str, span_id: str) -> dict[str, object]:
    return {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "agent-api"}}]
                },
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(time.time_ns()),
                                "severityNumber": 17,
                                "severityText": "ERROR",
                                "body": {"stringValue": "search index unreachable, giving up"},
                                "traceId": trace_id,
                                "spanId": span_id,
                            }
                        ]
                    }
                ],
            }
        ]
    }


def test_list_shows_errors_first_and_the_trace_page_its_spans_exception_and_log(
    tmp_path: Path,
) -> None:
    spans = agent_spans(8, traces=1, start_ns=time.time_ns() - 5 * 10**9)
    trace_id = format(spans[0].context.trace_id, "032x")
    tool = next(s for s in spans if s.name == "execute_tool search")
    with served_hub(tmp_path) as (_hub, url):
        app = Starlette(routes=[Route("/ok", lambda request: JSONResponse({"ok": True}))])
        handle = agentwatch.init(
            app,
            service_name="checkout",
            registry=CollectorRegistry(),
            traces_exporter="otlp",
            otlp_endpoint=url,
            success_sample_ratio=1.0,
        )
        service = BackgroundServer(app).start()
        try:
            for _ in range(3):
                assert httpx.get(f"{service.url}/ok").status_code == 200
        finally:
            service.stop()
            handle.shutdown()  # flushes the kept spans to the hub
        httpx.post(
            f"{url}/v1/traces",
            content=encode_spans(spans).SerializeToString(),
            headers={"content-type": "application/x-protobuf"},
        )
        httpx.post(
            f"{url}/v1/logs", json=_log_record(trace_id, format(tool.context.span_id, "016x"))
        )
        wait_for(lambda: len(get_json(f"{url}/api/v1/traces")["traces"]) == 4)
        with chromium() as browser:
            browser.get(f"{url}/traces")
            rows = browser.find_elements(By.CSS_SELECTOR, "#traces tbody tr")
            assert rows[0].get_attribute("data-trace-id") == trace_id
            assert rows[0].find_element(By.CSS_SELECTOR, "td.status").text == "✖ Error"
            assert {row.find_elements(By.TAG_NAME, "td")[2].text for row in rows[1:]} == {
                "checkout"
            }
            assert all(
                row.find_element(By.CSS_SELECTOR, "td.status").text == "✔ OK" for row in rows[1:]
            )
            rows[0].find_element(By.CSS_SELECTOR, "td.name a").click()
            wait_for(lambda: browser.current_url.endswith(trace_id))
            names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#spans .span-name")]
            assert names == ["POST /agents/{name}/run", "chat gpt-4o-mini", "execute_tool search"]
            assert browser.find_element(By.CSS_SELECTOR, ".exception-type").text == "LookupError"
            assert (
                browser.find_element(By.CSS_SELECTOR, ".exception-message").text == "index offline"
            )
            assert "Traceback" in browser.find_element(
                By.CSS_SELECTOR, ".stacktrace"
            ).get_attribute("textContent")
            logs = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#logs tr.log")]
            assert any("search index unreachable, giving up" in line for line in logs)
            genai = browser.find_element(By.CSS_SELECTOR, ".genai").text
            assert "model gpt-4o-mini" in genai and "tokens in 812" in genai and "out 120" in genai
            bars = browser.find_elements(By.CSS_SELECTOR, "#spans .bar")
            widths = [
                float(bar.get_attribute("style").split("width:")[1].split("%")[0]) for bar in bars
            ]
            assert widths[0] == 100.0 and abs(widths[1] - 39 / 60 * 100) < 0.5
