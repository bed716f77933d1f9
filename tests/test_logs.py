"""JSON logs: trace correlation everywhere a request runs, redaction before writing."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap

import httpx
import pytest
from tests._apps import build_app, free_port, init_for_test, wait_until_answering

from agentwatch import JsonFormatter
from agentwatch._redact import Redactor

SECRETS = [
    "hunter2",
    "abc123secret",
    "alice@example.com",
    "sk-proj-abcdefghijklmnop1234",
    "4111 1111 1111 1111",
]


@pytest.fixture
def captured() -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    yield stream
    logging.getLogger().removeHandler(handler)


async def test_log_lines_in_requests_and_exception_handlers_carry_the_trace_id(captured) -> None:
    app = build_app()
    handle, exporter = init_for_test(app, ratio=1.0)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/ok/5")
        await client.get("/handled")
    handle.force_flush()
    lines = [json.loads(line) for line in captured.getvalue().splitlines() if line.startswith("{")]
    spans = {s.name: s for s in exporter.get_finished_spans()}
    work = next(line for line in lines if line["message"] == "working on item 5")
    assert work["trace_id"] == format(spans["child.work"].context.trace_id, "032x")
    assert work["span_id"] == format(spans["child.work"].context.span_id, "016x")
    handled = next(line for line in lines if line["message"].startswith("handled error"))
    assert handled["trace_id"] == format(spans["GET /handled"].context.trace_id, "032x")
    assert handled["level"] == "ERROR" and handled["exception"]["type"] == "HandledError"
    assert set(work) >= {"time", "level", "logger", "message", "service", "trace_id", "span_id"}
    output = captured.getvalue()
    for secret in SECRETS:
        assert secret not in output
    handle.shutdown()


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJhbGci"),
        ("calling with api_key=sk-proj-abcdefghijklmnop1234", "sk-proj"),
        ("password=hunter2 user=bob", "hunter2"),
        ('{"password": "hunter2"}', "hunter2"),
        ("mail alice@example.com now", "alice@example.com"),
        ("card 4111 1111 1111 1111 charged", "4111 1111 1111 1111"),
        ("card 4111-1111-1111-1111 charged", "4111-1111-1111-1111"),
        ("dsn postgresql://app:s3cretpw@db:5432/app", "s3cretpw"),
        ("header x-api-key: AKIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP"),
    ],
)
def test_default_redaction(text, leaked) -> None:
    assert leaked not in Redactor().redact(text)


def test_order_numbers_that_fail_luhn_are_kept_and_extra_patterns_apply() -> None:
    assert "order 1234 5678 9012 3456" in Redactor().redact("order 1234 5678 9012 3456")
    assert "EMP-[REDACTED]" not in Redactor([r"EMP-\d+"]).redact("id EMP-991")
    assert "991" not in Redactor([r"EMP-\d+"]).redact("id EMP-991")


def test_extra_fields_are_kept_and_sensitive_keys_masked() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.extra")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("svc", clock=lambda: 0.0))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "payment",
            extra={"order_id": 7, "api_key": "k-123", "customer_email": "bob@example.com"},
        )
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    line = json.loads(stream.getvalue())
    assert line == {
        "time": "1970-01-01T00:00:00.000Z",
        "level": "WARNING",
        "logger": "tests.extra",
        "message": "payment",
        "service": "svc",
        "order_id": 7,
        "api_key": "[REDACTED]",
        "customer_email": "[REDACTED:email]",
    }


_UVICORN_APP = textwrap.dedent(
    """
    import logging
    import uvicorn
    from tests._apps import build_app, free_port, init_for_test, wait_until_answering
    app = build_app()
    handle, exporter = init_for_test(app, ratio=1.0, service_name="uv")
    uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="info")
    """
)


def test_uvicorn_access_and_error_logs_are_json_with_the_trace_id() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _UVICORN_APP, str(port)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/metrics", 30)
        tid = "4bf92f3577b34da6a3ce929d0e0e4736"
        httpx.get(
            f"http://127.0.0.1:{port}/ok/1?token=abc123secret",
            headers={"traceparent": f"00-{tid}-00f067aa0ba902b7-01"},
        )
        httpx.get(
            f"http://127.0.0.1:{port}/fail/2",
            headers={"traceparent": f"00-{'1' * 32}-00f067aa0ba902b7-01"},
        )
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    err = out + err  # uvicorn writes its access log to stdout
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert access, err
    ok = next(line for line in access if "/ok/1" in line["message"])
    assert ok["trace_id"] == tid and ok["service"] == "uv"
    assert "abc123secret" not in err
    crash = next(
        line for line in lines if line["logger"] == "uvicorn.error" and "exception" in line
    )
    assert crash["trace_id"] == "1" * 32
