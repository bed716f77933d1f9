"""The monitors part against real targets: a local HTTP server, the machine's Postgres and
Redis, a closed port; statuses after down_after, history across restart and reload, the
API (writes, 400 naming the field, pause, push), maintenance, and the alerts it causes."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.hub._receivers import eventually, wait_until
from tests.hub._support import HubProcess, running_hub
from tests.hub._targets import Target, closed_port

PG = os.environ.get("AGENTWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("AGENTWATCH_TEST_REDIS", "redis://127.0.0.1:6379/0")


async def status_of(client: httpx.AsyncClient, name: str) -> str:
    response = await client.get(f"/api/v1/monitors/{name}")
    return str(response.json()["status"])


async def test_real_targets_go_up_and_down_after_down_after(tmp_path: Path) -> None:
    port = closed_port()
    with Target() as web:
        config = f"""
monitors:
  - {{name: web, type: http, url: "{web.url}/", interval: 1s, down_after: 2, expect: {{status: 200, body: ok}}}}
  - {{name: pg, type: postgres, dsn: "{PG}", interval: 1s}}
  - {{name: cache, type: redis, url: "{REDIS}", interval: 1s}}
  - {{name: closed, type: tcp, host: 127.0.0.1, port: {port}, interval: 1s}}
"""
        async with running_hub(tmp_path, config) as (_hub, client):
            for name in ("web", "pg", "cache"):
                assert await eventually(f"{name} up", lambda n=name: _is(client, n, "up"))
            await eventually("closed down", lambda: _is(client, "closed", "down"))
            closed = (await client.get("/api/v1/monitors/closed")).json()
            assert "refused" in closed["message"]
            web.status = 503
            # one failing check is not enough (down_after: 2), the second is
            await eventually("a failing check", lambda: _history_has(client, "web", "down"))
            assert await status_of(client, "web") == "up"
            await eventually("web down", lambda: _is(client, "web", "down"), timeout=10)
            detail = (await client.get("/api/v1/monitors/web")).json()
            assert "HTTP 503" in detail["message"]
            assert detail["trace_id"] and any(detail["trace_id"] in t for t in web.traceparents)
            metrics = (await client.get("/metrics")).text
            assert 'agentwatch_monitor_up{monitor="web"} 0.0' in metrics
            assert 'agentwatch_monitor_up{monitor="pg"} 1.0' in metrics
            alerts = (await client.get("/api/v1/alerts")).json()["alerts"]
            assert any(a["labels"]["monitor"] == "web" for a in alerts)
            listing = (await client.get("/api/v1/monitors")).json()["monitors"]
            assert {m["name"] for m in listing} == {"web", "pg", "cache", "closed"}
            web_row = next(m for m in listing if m["name"] == "web")
            assert 0 < web_row["uptime"]["24h"] < 1
        checks_before = len(await _history(tmp_path, config))
        assert checks_before >= 3  # restart keeps the history (up, down, down)


async def _history(tmp_path: Path, config: str) -> list[dict[str, object]]:
    async with running_hub(tmp_path, config) as (_hub, client):
        response = await client.get("/api/v1/monitors/web/history", params={"since": "1h"})
        return list(response.json()["results"])


async def _is(client: httpx.AsyncClient, name: str, status: str) -> bool:
    return await status_of(client, name) == status


async def _history_has(client: httpx.AsyncClient, name: str, status: str) -> bool:
    results = (await client.get(f"/api/v1/monitors/{name}/history")).json()["results"]
    return any(r["status"] == status for r in results)


async def test_health_monitor_maps_pass_warn_fail_and_keeps_components(tmp_path: Path) -> None:
    with Target() as service:
        service.health("pass", db="pass")
        config = f'monitors:\n  - {{name: api-health, type: health, url: "{service.url}/health/full", interval: 1s}}\n'
        async with running_hub(tmp_path, config) as (_hub, client):
            await eventually("up", lambda: _is(client, "api-health", "up"))
            service.health("warn", db="pass", llm="warn")
            await eventually("degraded", lambda: _is(client, "api-health", "degraded"))
            detail = (await client.get("/api/v1/monitors/api-health")).json()
            assert detail["components"] == {"db": "pass", "llm": "warn"}
            service.health("fail", db="fail")
            await eventually("down", lambda: _is(client, "api-health", "down"))
            service.health("pass")
            await eventually("up again", lambda: _is(client, "api-health", "up"))
            service.body = '["pass"]'  # JSON, not a health document
            await eventually("down", lambda: _is(client, "api-health", "down"))
            detail = (await client.get("/api/v1/monitors/api-health")).json()
            assert detail["message"] == "HTTP 200, not health+json"  # was an AttributeError


async def test_http_expectations_body_regex_and_json_path(tmp_path: Path) -> None:
    """Each ``expect`` of an http monitor against a real server (the JSON-path condition
    had no test, and a body that was not JSON read "Expecting value: line 1 column 1")."""
    expectations = {
        "n-is-3": '{json: {path: "$.items[0].n", equals: 3}}',
        "status-fail": '{json: {path: "$.status", equals: fail}}',
        "no-such-key": '{json: {path: "$.nope"}}',
        "has-pass": '{body: pass, body_regex: "\\"n\\": *3"}',
        "has-absent": "{body: absent}",
    }
    with Target() as web:
        web.body = '{"status": "pass", "items": [{"n": 3}]}'
        config = "monitors:\n" + "".join(
            f'  - {{name: {name}, type: http, url: "{web.url}/", interval: 1s, expect: {e}}}\n'
            for name, e in expectations.items()
        )
        async with running_hub(tmp_path, config) as (_hub, client):
            for name, status in [("n-is-3", "up"), ("status-fail", "down"),
                                 ("no-such-key", "down"), ("has-pass", "up"),
                                 ("has-absent", "down")]:  # fmt: skip
                await eventually(f"{name} {status}", lambda n=name, s=status: _is(client, n, s))
            messages = {
                m["name"]: m["message"]
                for m in (await client.get("/api/v1/monitors")).json()["monitors"]
            }
            assert messages["status-fail"] == "$.status is 'pass', expected 'fail'"
            assert messages["has-absent"] == "the body does not contain 'absent'"
            web.body = "<html>not json</html>"
            await eventually("n-is-3 down", lambda: _is(client, "n-is-3", "down"))
            detail = (await client.get("/api/v1/monitors/n-is-3")).json()
            assert detail["message"] == "$.items[0].n: the body is not JSON"


async def test_dns_monitors_resolve_or_go_down(tmp_path: Path) -> None:
    """The ``dns`` type had no test: ``localhost`` resolves (from /etc/hosts, as the hub's
    resolver would), a name under ``.invalid`` never does, and says so (an http monitor of
    such a name read "connection refused or unreachable")."""
    config = (
        "monitors:\n  - {name: local, type: dns, host: localhost, record: A, interval: 1s}\n"
        "  - {name: nowhere, type: dns, host: nothing.invalid, interval: 1s}\n"
        '  - {name: web, type: http, url: "http://nothing.invalid/", interval: 1s}\n'
    )
    async with running_hub(tmp_path, config) as (_hub, client):
        await eventually("local up", lambda: _is(client, "local", "up"))
        await eventually("nowhere down", lambda: _is(client, "nowhere", "down"))
        await eventually("web down", lambda: _is(client, "web", "down"))
        local = (await client.get("/api/v1/monitors/local")).json()
        assert "127.0.0.1" in local["message"]
        for name in ("nowhere", "web"):  # not "connection refused or unreachable", "gaierror"
            message = (await client.get(f"/api/v1/monitors/{name}")).json()["message"]
            assert message.startswith("the host name does not resolve: "), message


async def test_a_new_push_monitor_waits_its_interval_before_going_down(tmp_path: Path) -> None:
    """A new ``interval: 24h`` push monitor (the docs' nightly backup) was down at its first
    check, seconds after the hub started: "no heartbeat within 90000s (last: never)"."""
    config = (
        "monitors:\n  - {name: nightly, type: push, interval: 24h, grace: 1h}\n"
        "  - {name: quick, type: push, interval: 1s, grace: 1s}\n"
    )
    async with running_hub(tmp_path, config) as (hub, client):
        part: Any = hub.parts["monitors"]  # its first check, now
        assert await part.scheduler.check(part.monitors()["nightly"]) is None
        await eventually("quick down", lambda: _is(client, "quick", "down"), timeout=10)
        assert await status_of(client, "nightly") == "pending"
        assert (await client.post("/api/v1/push/nightly")).status_code == 200
        assert await status_of(client, "nightly") == "up"


async def test_api_writes_errors_pause_push_and_reload_keeps_history(tmp_path: Path) -> None:
    with Target() as web:
        config = f'monitors:\n  - {{name: web, type: http, url: "{web.url}/", interval: 1s}}\n'
        async with running_hub(tmp_path, config) as (_hub, client):
            bad = await client.post(
                "/api/v1/monitors",
                json={"name": "x", "type": "http", "url": "ftp://a", "interval": "5x"},
            )
            assert bad.status_code == 400
            error = bad.json()["error"]
            assert error["field"] in ("url", "interval") and "interval" in error["message"]
            clash = await client.put("/api/v1/monitors/web", json={"type": "http", "url": web.url})
            assert clash.status_code == 409 and "hub.yaml" in clash.json()["error"]["message"]
            made = await client.post(
                "/api/v1/monitors",
                json={"name": "beat", "type": "push", "interval": "1s", "grace": "1s"},
            )
            assert made.status_code == 201 and made.json()["owner"] == "api"
            await eventually("no heartbeat: down", lambda: _is(client, "beat", "down"), timeout=10)
            assert (await client.post("/api/v1/push/beat")).status_code == 200
            assert await status_of(client, "beat") == "up"
            paused = await client.post("/api/v1/monitors/web/pause")
            assert paused.json()["status"] == "paused"
            await eventually("web resumed", lambda: client.post("/api/v1/monitors/web/resume"))
            await eventually("web up again", lambda: _is(client, "web", "up"))
            seen = len((await client.get("/api/v1/monitors/web/history")).json()["results"])
            (tmp_path / "hub.yaml").write_text(
                config + f'  - {{name: other, type: http, url: "{web.url}/x", interval: 1s}}\n'
            )
            assert (await client.post("/api/v1/reload")).status_code == 200
            await eventually("other up", lambda: _is(client, "other", "up"))
            after = len((await client.get("/api/v1/monitors/web/history")).json()["results"])
            assert after >= seen
            names = {m["name"] for m in (await client.get("/api/v1/monitors")).json()["monitors"]}
            assert names == {"web", "other", "beat"}  # the API monitor survives the reload
            assert (await client.delete("/api/v1/monitors/beat")).status_code == 204


async def test_maintenance_holds_status_and_is_asked_by_alerts(tmp_path: Path) -> None:
    with Target() as web:
        config = f'monitors:\n  - {{name: web, type: http, url: "{web.url}/", interval: 1s}}\n'
        async with running_hub(tmp_path, config) as (hub, client):
            await eventually("up", lambda: _is(client, "web", "up"))
            started = await client.post(
                "/api/v1/maintenance",
                json={"monitors": ["web"], "duration": "10m", "reason": "deploy"},
            )
            assert started.status_code == 201
            web.status = 500
            await eventually("maintenance", lambda: _is(client, "web", "maintenance"))
            assert hub.context.maintenance.active_for({"monitor": "web"}, hub.context.clock())
            windows = (await client.get("/api/v1/maintenance")).json()["maintenance"]
            assert windows[0]["reason"] == "deploy"
            assert (
                await client.delete(f"/api/v1/maintenance/{started.json()['id']}")
            ).status_code == 204
            await eventually("down after the window", lambda: _is(client, "web", "down"))
            wrong = await client.post("/api/v1/maintenance", json={"monitors": ["nope"]})
            assert wrong.status_code == 400 and wrong.json()["error"]["field"] == "monitors"


def test_check_names_file_key_and_what_is_accepted(tmp_path: Path) -> None:
    from agentwatch.hub.config import HubConfigError
    from agentwatch.hub.configfile import load_config

    path = tmp_path / "hub.yaml"
    path.write_text(
        "monitors:\n"
        "  - {name: a, type: http, url: 'http://x', interval: 5x}\n"
        "  - {name: b, type: carrier-pigeon}\n"
        "  - {name: c, type: tcp, host: h, port: 1, depends_on: [zz]}\n"
        "maintenance:\n  - {name: m, cron: '61 * * * *', duration: 1h}\n"
    )
    with pytest.raises(HubConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "monitors[0].interval" in text and "duration" in text
    assert "monitors[1].type" in text and "http" in text
    assert "monitors[2].depends_on" in text and "'zz'" in text
    assert "maintenance[0].cron" in text


def test_a_real_hub_keeps_history_across_sighup_and_restart(tmp_path: Path) -> None:
    """``hub serve`` on SQLite: SIGHUP adds a monitor and keeps every result of the others;
    after SIGTERM, a new process on the same file has them all and the status it had."""
    with Target() as web:
        config = tmp_path / "hub.yaml"
        config.write_text(
            f'monitors:\n  - {{name: web, type: http, url: "{web.url}/", interval: 1s}}\n'
        )
        database = f"sqlite:///{tmp_path}/hub.db"
        env = {"XDG_STATE_HOME": str(tmp_path / "state")}

        def results(hub: HubProcess) -> list[float]:
            got = httpx.get(f"{hub.url}/api/v1/monitors/web/history", params={"since": "1h"})
            return sorted(float(r["at"]) for r in got.json()["results"])

        def status(hub: HubProcess, name: str) -> str | None:
            got = httpx.get(f"{hub.url}/api/v1/monitors/{name}")
            return str(got.json()["status"]) if got.status_code == 200 else None

        with HubProcess(config, database=database, env=env, log=tmp_path / "hub.log") as hub:
            wait_until("three checks of web", lambda: len(results(hub)) >= 3)
            before_reload = results(hub)
            config.write_text(
                config.read_text()
                + f'  - {{name: other, type: http, url: "{web.url}/other", interval: 1s}}\n'
            )
            assert hub.proc is not None
            hub.proc.send_signal(signal.SIGHUP)
            wait_until("other up after SIGHUP", lambda: status(hub, "other") == "up")
            wait_until("web checked since", lambda: len(results(hub)) > len(before_reload))
            after_reload = results(hub)
            assert set(before_reload) <= set(after_reload)  # nothing lost to the reload
        assert "Application shutdown complete" in hub.output()
        with HubProcess(config, database=database, env=env, log=tmp_path / "hub.log") as again:
            assert status(again, "web") == "up"  # the state, not pending, from the first check
            assert set(after_reload) <= set(results(again))
            assert status(again, "other") == "up"
