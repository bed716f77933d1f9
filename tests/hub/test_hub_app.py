"""The hub process: core routes, auth, reload, and serve as a real process."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.hub._support import HubProcess

from agentwatch.hub.app import Hub
from agentwatch.hub.configfile import load_config
from agentwatch.hub.web.render import format_duration


async def test_core_routes_and_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t0ken")
    (tmp_path / "hub.yaml").write_text("api: {token_file: token}\n")
    hub = Hub(load_config(tmp_path / "hub.yaml"), environ={"XDG_STATE_HOME": str(tmp_path)})
    app = hub.asgi()
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://hub") as client,
    ):
        assert (await client.get("/health/live")).json() == {"status": "pass"}
        ready = await client.get("/health/ready")
        assert ready.status_code == 200 and ready.headers["content-type"].startswith(
            "application/health+json"
        )
        assert b"agentwatch_hub_start_time_seconds" in (await client.get("/metrics")).content
        refused = await client.post("/api/v1/reload")
        assert refused.status_code == 401
        assert refused.json()["error"]["message"].startswith("missing or invalid bearer token")
        ok = await client.post("/api/v1/reload", headers={"Authorization": "Bearer t0ken"})
        assert ok.status_code == 200 and ok.json()["reloaded"] is True
        missing = await client.get("/api/v1/nothing-here")
        assert missing.status_code == 404 and missing.json()["error"]["status"] == 404
        assert "/api/v1/reload" in (await client.get("/openapi.json")).json()["paths"]
        login = await client.post(
            "/login",
            content="token=t0ken&next=/",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert login.status_code == 303 and "agentwatch_hub_session" in login.headers["set-cookie"]
        wrong = await client.post(
            "/login",
            content="token=nope",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert wrong.status_code == 401 and "Wrong token" in wrong.text


async def test_the_login_cookie_is_a_signed_session_not_the_token(tmp_path: Path) -> None:
    """The cookie holds an expiry and its HMAC: not the token; it expires after 12 h,
    a forged or altered one is refused, and rotating the token ends it."""
    (tmp_path / "token").write_text("t0ken-kept-secret")
    (tmp_path / "hub.yaml").write_text("api: {token_file: token}\n")
    now = [1_800_000_000.0]
    hub = Hub(
        load_config(tmp_path / "hub.yaml"),
        environ={"XDG_STATE_HOME": str(tmp_path)},
        clock=lambda: now[0],
    )
    app = hub.asgi()
    transport = httpx.ASGITransport(app=app)
    form = {"content-type": "application/x-www-form-urlencoded"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="https://hub") as client,
    ):
        login = await client.post("/login", content="token=t0ken-kept-secret&next=/", headers=form)
        cookie = login.headers["set-cookie"]
        assert "t0ken-kept-secret" not in cookie
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "secure", "max-age"} <= attributes
        assert "samesite=lax" in cookie.lower() and "max-age=43200" in cookie.lower()
        value = client.cookies["agentwatch_hub_session"]

        async def reload_with(session: str) -> int:
            client.cookies.clear()
            client.cookies.set("agentwatch_hub_session", session)
            return (await client.post("/api/v1/reload")).status_code

        assert await reload_with(value) == 200
        assert await reload_with("t0ken-kept-secret") == 401  # the old cookie's content
        version, expires, signature = value.split(".")
        later = f"{version}.{int(expires) + 86400}.{signature}"
        assert await reload_with(later) == 401  # a longer expiry is not signed
        now[0] += 12 * 3600 + 1
        assert await reload_with(value) == 401  # expired
        now[0] -= 12 * 3600 + 1
        (tmp_path / "token").write_text("rotated")
        ok = await client.post(
            "/api/v1/reload", headers={"Authorization": "Bearer t0ken-kept-secret"}
        )
        assert ok.status_code == 200
        assert await reload_with(value) == 401  # the token rotated: the session ended


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_serve_as_a_process_and_stop_on_sigterm(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path}/hub.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    )
    hub = HubProcess(None, database=url, log=tmp_path / "hub.log")
    with hub:
        assert httpx.get(hub.url + "/health/live").json()["status"] == "pass"
    # uvicorn re-raises the signal it caught once shut down, as a well-behaved process does
    assert hub.proc is not None and hub.proc.returncode in (0, -15), hub.output()
    assert "Application shutdown complete" in hub.output()


def test_serve_on_port_0_links_to_the_port_bound(tmp_path: Path) -> None:
    """``--port 0``: the system picks the port, and the links the hub writes name it."""
    (tmp_path / "hub.yaml").write_text(
        "status_pages: [{slug: public, title: Agent API, public: true, monitors: [api]}]\n"
    )
    log = tmp_path / "hub.log"
    hub = HubProcess(tmp_path / "hub.yaml", database=f"sqlite:///{tmp_path}/hub.db", log=log)
    hub.args[hub.args.index("--port") + 1] = "0"
    hub.spawn()
    try:
        deadline = time.monotonic() + 30
        while not (
            bound := re.search(r"agentwatch hub on (http://127\.0\.0\.1:\d+)", hub.output())
        ):
            assert hub.proc is not None and hub.proc.poll() is None, hub.output()
            assert time.monotonic() < deadline, hub.output()
            time.sleep(0.1)
        hub.url = bound[1]
        hub.ready()
        page = httpx.get(hub.url + "/api/v1/status/public").json()
        assert page["page"]["url"] == f"{hub.url}/status/public" and not hub.url.endswith(":0")
    finally:
        hub.stop()


def test_serve_on_a_port_in_use_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = subprocess.run(
            [sys.executable, "-m", "agentwatch", "hub", "serve", "--port", str(port)],
            env={**os.environ, "XDG_STATE_HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert served.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in served.stderr


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.85, "850 ms"),
        (12.34, "12.3 s"),
        (245, "4 m 05 s"),
        (7800, "2 h 10 m"),
        (3 * 86400 + 4 * 3600, "3 d 4 h"),
        (14 * 86400, "14 d"),  # a page's incident history: not "14 d 0 h"
    ],
)
def test_durations_read_as_people_write_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
