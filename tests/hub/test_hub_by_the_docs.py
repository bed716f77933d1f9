"""The hub tried the way a new user tries it: issue 15's example hub.yaml (targets on this
machine), ``agentwatch hub serve`` as a real process, everything over HTTP and the CLI.

Each test holds a defect found that way: a secret quoted in a check's message, a silence
of ``inf`` that broke the silence list, a 500 on a bad ``starts_at``, ``depends_on`` cycles
and unknown parents taken, alerts and series of deleted monitors left behind, history
refusing RFC 3339, the monitors' API missing from ``/openapi.json``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests._health_servers import PG_DSN, REDIS_URL, require_postgres, require_redis
from tests.hub._receivers import wait_until
from tests.hub._support import HubProcess
from tests.hub._targets import Target, closed_port

TOKEN = "tok-by-the-docs-0123456789"
SECRET = "s3cr3t-Pa55word-xyz"  # inside a DSN file libpq cannot parse

EXAMPLE = """\
monitors:
  - {{name: api, type: http, url: "{web}/", interval: 30s, expect: {{status: 200}}}}
  - {{name: api-health, type: health, url: "{web}/health/full", interval: 15s}}
  - {{name: postgres, type: postgres, dsn_file: pg_dsn, interval: 60s}}
  - {{name: redis, type: redis, url: "{redis}", interval: 60s}}
  - {{name: llm-provider, type: http, url: "http://127.0.0.1:{closed}/v1/models", interval: 1s,
      depends_on: [internet]}}
  - {{name: leaky, type: postgres, dsn_file: bad_dsn, interval: 1s}}
status_pages:
  - {{slug: public, title: "Agent API", public: true, monitors: [api, api-health, postgres, redis]}}
  - {{slug: internal, title: "Internal", monitors: [leaky]}}
api: {{token_file: hub_token}}
"""


@dataclass
class Tried:
    hub: HubProcess
    client: httpx.Client
    config: Path
    text: str

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def alerts(self, monitor: str) -> list[dict[str, Any]]:
        found = self.get("/api/v1/alerts", limit=500)["alerts"]
        return [a for a in found if a["labels"].get("monitor") == monitor]


@pytest.fixture(scope="module")
def tried(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tried]:
    require_postgres()
    require_redis()
    folder = tmp_path_factory.mktemp("by_the_docs")
    (folder / "hub_token").write_text(TOKEN)
    (folder / "pg_dsn").write_text(PG_DSN)
    (folder / "bad_dsn").write_text(f"host=127.0.0.1 user=hub {SECRET} dbname=nope")
    with Target() as web:
        web.health("pass", db="pass")
        text = EXAMPLE.format(web=web.url, redis=REDIS_URL, closed=closed_port())
        config = folder / "hub.yaml"
        config.write_text(text)
        env = {"XDG_STATE_HOME": str(folder / "state")}
        with HubProcess(
            config, database=f"sqlite:///{folder}/hub.db", env=env, log=folder / "hub.log"
        ) as hub:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with httpx.Client(base_url=hub.url, headers=headers, timeout=10.0) as client:
                yield Tried(hub, client, config, text)


def status_of(tried: Tried, name: str) -> str:
    return str(tried.get(f"/api/v1/monitors/{name}")["status"])


def hub_check(config: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    """``agentwatch hub check --config CONFIG`` as a user runs it (``environ`` added)."""
    return subprocess.run(
        [sys.executable, "-m", "agentwatch", "hub", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **environ},
    )


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_a_check_never_shows_the_secret_it_was_given(tried: Tried) -> None:
    wait_until("leaky down", lambda: status_of(tried, "leaky") == "down", 30)
    monitor = tried.get("/api/v1/monitors/leaky")
    assert "DSN is not valid" in monitor["message"]
    seen = [
        tried.client.get("/api/v1/monitors/leaky").text,
        tried.client.get("/api/v1/monitors/leaky/history").text,
        tried.client.get("/api/v1/alerts").text,
        tried.client.get("/metrics").text,
        tried.hub.output(),
    ]
    assert not [text for text in seen if SECRET in text]
    down = [a for a in tried.alerts("leaky") if a["labels"]["alertname"] == "MonitorDown"]
    assert down and down[0]["annotations"].get("target", "") == "postgresql://127.0.0.1/nope"


def test_durations_that_are_not_finite_are_refused(tried: Tried) -> None:
    silence = tried.client.post(
        "/api/v1/silences", json={"matchers": ["alertname=X"], "duration": "inf"}
    )
    assert error_of(silence, 400)["field"] == "duration"
    bad = error_of(
        tried.client.post("/api/v1/silences", json={"matchers": ["alertname=X"], "duration": "2y"}),
        400,
    )
    assert "'2y' is not valid" in bad["message"]
    assert tried.client.get("/api/v1/silences").status_code == 200
    typo = {"matchers": ["alertname=X"], "duration": "1h", "coment": "a typo, not dropped"}
    error = error_of(tried.client.post("/api/v1/silences", json=typo), 400)
    assert error["field"] == "coment" and "accepted here: matchers, duration" in error["message"]
    monitor = {"name": "forever", "type": "tcp", "host": "127.0.0.1", "port": 1, "interval": "inf"}
    assert error_of(tried.client.post("/api/v1/monitors", json=monitor), 400)["field"] == "interval"


def test_maintenance_with_a_bad_start_is_a_400_naming_it(tried: Tried) -> None:
    body = {"monitors": ["api"], "duration": "10m", "starts_at": "tomorrow-ish"}
    error = error_of(tried.client.post("/api/v1/maintenance", json=body), 400)
    assert error["field"] == "starts_at"
    later = {"monitors": ["api"], "duration": "10m", "starts_at": "2099-01-01T00:00:00Z"}
    created = tried.client.post("/api/v1/maintenance", json=later)
    assert created.status_code == 201, created.text
    assert created.json()["starts_at"] == 4070908800.0
    [listed] = [w for w in tried.get("/api/v1/maintenance")["maintenance"]
                if w["id"] == created.json()["id"]]  # fmt: skip
    assert listed["active"] is False  # a window to come was listed nowhere
    listing = subprocess.run(
        [sys.executable, "-m", "agentwatch", "hub", "maintenance", "list", "--hub", tried.hub.url,
         "--token-file", str(tried.config.parent / "hub_token")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "until 2099-01-01 00:10 UTC  (from 2099-01-01 00:00 UTC)" in listing.stdout, listing
    assert tried.client.delete(f"/api/v1/maintenance/{created.json()['id']}").status_code == 204


def test_history_takes_rfc3339_and_refuses_until_before_since(tried: Tried) -> None:
    wait_until("a check of api", lambda: tried.get("/api/v1/monitors/api")["last_check"])
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    history = tried.get("/api/v1/monitors/api/history", since=since, until="now")
    assert history["results"] and abs(history["since"] - (time.time() - 3600)) < 120
    local = time.strftime("%Y-%m-%dT%H:%M:%S+01:00", time.gmtime(time.time() + 3600 - 3600))
    unencoded = tried.client.get(f"/api/v1/monitors/api/history?since={local}")  # '+' is ' '
    assert unencoded.status_code == 200, unencoded.text
    assert abs(unencoded.json()["since"] - (time.time() - 3600)) < 120
    backwards = tried.client.get(
        "/api/v1/monitors/api/history", params={"since": "1h", "until": "2h"}
    )
    assert error_of(backwards, 400)["field"] == "until"


def test_api_monitors_follow_the_files_rules_for_depends_on_and_names(tried: Tried) -> None:
    ghost = {"name": "child", "type": "tcp", "host": "127.0.0.1", "port": 1,
             "depends_on": ["ghost"]}  # fmt: skip
    error = error_of(tried.client.post("/api/v1/monitors", json=ghost), 400)
    assert error["field"] == "depends_on" and "'ghost' is not a monitor" in error["message"]
    one = {"name": "one", "type": "tcp", "host": "127.0.0.1", "port": 1, "interval": "1h"}
    two = {**one, "name": "two", "depends_on": ["one"]}
    assert tried.client.post("/api/v1/monitors", json=one).status_code == 201
    assert tried.client.post("/api/v1/monitors", json=two).status_code == 201
    try:
        cycle = tried.client.put("/api/v1/monitors/one", json={**one, "depends_on": ["two"]})
        error = error_of(cycle, 400)
        assert error["field"] == "depends_on" and "one -> two -> one" in error["message"]
        renamed = tried.client.put("/api/v1/monitors/one", json={**one, "name": "uno"})
        assert error_of(renamed, 400)["field"] == "name"
        orphan = error_of(tried.client.delete("/api/v1/monitors/one"), 409)  # two needs it
        assert orphan["field"] == "name" and "in the depends_on of two" in orphan["message"]
    finally:
        tried.client.delete("/api/v1/monitors/two")
        tried.client.delete("/api/v1/monitors/one")


def test_a_deleted_monitor_resolves_its_alert_and_leaves_no_series(tried: Tried) -> None:
    body = {"name": "doomed", "type": "tcp", "host": "127.0.0.1", "port": closed_port(),
            "interval": "1s"}  # fmt: skip
    assert tried.client.post("/api/v1/monitors", json=body).status_code == 201
    wait_until("doomed down", lambda: status_of(tried, "doomed") == "down", 30)
    wait_until("its MonitorDown", lambda: tried.alerts("doomed"), 10)
    wait_until("its series", lambda: 'agentwatch_monitor_checks_total{monitor="doomed"' in
               tried.client.get("/metrics").text)  # fmt: skip
    assert tried.client.delete("/api/v1/monitors/doomed").status_code == 204
    [alert] = [a for a in tried.alerts("doomed") if a["labels"]["alertname"] == "MonitorDown"]
    assert alert["status"] == "resolved"
    assert 'monitor="doomed"' not in tried.client.get("/metrics").text


def test_a_monitor_dropped_from_the_file_resolves_its_alert(tried: Tried) -> None:
    wait_until("llm-provider down", lambda: status_of(tried, "llm-provider") == "down", 30)
    wait_until("its MonitorDown", lambda: tried.alerts("llm-provider"), 10)
    kept = "\n".join(
        line
        for line in tried.text.splitlines()
        if "llm-provider" not in line and "depends_on: [internet]" not in line
    )
    tried.config.write_text(kept + "\n")
    try:
        assert tried.client.post("/api/v1/reload").status_code == 200
        [alert] = [
            a for a in tried.alerts("llm-provider") if a["labels"]["alertname"] == "MonitorDown"
        ]
        assert alert["status"] == "resolved"
        assert alert["annotations"]["summary"] == "llm-provider was removed from the hub"
    finally:
        tried.config.write_text(tried.text)
        tried.client.post("/api/v1/reload")


def test_openapi_documents_every_api_path_with_its_parameters(tried: Tried) -> None:
    document = httpx.get(f"{tried.hub.url}/openapi.json").json()
    paths = document["paths"]
    for path, methods in {
        "/api/v1/monitors": {"get", "post"},
        "/api/v1/monitors/{name}": {"get", "put", "delete"},
        "/api/v1/monitors/{name}/history": {"get"},
        "/api/v1/monitors/{name}/pause": {"post"},
        "/api/v1/monitors/{name}/resume": {"post"},
        "/api/v1/maintenance": {"get", "post"},
        "/api/v1/status/{slug}": {"get"},
        "/status/{slug}": {"get"},
        "/badge/{name}.svg": {"get"},
        "/api/v1/alerts": {"get", "post"},
        "/api/v1/silences": {"get", "post"},
        "/metrics": {"get"},
    }.items():
        assert methods <= set(paths.get(path, {})), (path, sorted(paths.get(path, {})))
    for path, operations in paths.items():
        for method, operation in operations.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert set(re.findall(r"{(\w+)}", path)) == declared, (method, path)
            assert operation.get("summary"), (method, path)
    bodies = [(m, p) for p, ops in paths.items() for m, op in ops.items() if "requestBody" in op]
    assert all(m in ("post", "put", "patch") for m, _p in bodies), bodies  # not GET maintenance
    assert ("post", "/api/v1/maintenance") in bodies
    history = paths["/api/v1/monitors/{name}/history"]["get"]
    assert {"since", "until"} <= {p["name"] for p in history["parameters"]}
    assert paths["/api/v1/monitors"]["post"]["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_hub_check_refuses_a_depends_on_cycle(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(
        "monitors:\n"
        '  - {name: a, type: http, url: "http://127.0.0.1:1/", depends_on: [b]}\n'
        '  - {name: b, type: http, url: "http://127.0.0.1:1/", depends_on: [a]}\n'
        '  - {name: c, type: http, url: "http://127.0.0.1:1/", depends_on: [c]}\n'
    )
    run = hub_check(config)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "(3 problems)" in run.stderr
    assert "hub.yaml: monitors[0].depends_on: is a cycle (a -> b -> a)" in run.stderr
    assert "hub.yaml: monitors[2].depends_on: is a cycle (c -> c)" in run.stderr
    config.write_text('monitors:\n  - {name: a, type: http, url: "http://x/", depends_on: [z]}\n')
    run = hub_check(config)
    assert "(1 problem)" in run.stderr
    assert "'z' is not a monitor: expected one of internet" in run.stderr


def test_a_monitor_made_through_the_api_cannot_read_the_hubs_environment(tried: Tried) -> None:
    """``${NAME}`` in an API monitor would hand the hub's environment (its intake token,
    Slack URL, database password) to whoever holds the API token: the URL, a header or a
    DSN pointed at their server carries it out."""
    body = {"name": "exfil", "type": "http", "url": "http://127.0.0.1:1/?k=${XDG_STATE_HOME}",
            "interval": "1s"}  # fmt: skip
    error = error_of(tried.client.post("/api/v1/monitors", json=body), 400)
    assert error["field"] == "url" and "${XDG_STATE_HOME} is not expanded" in error["message"]
    header = {**body, "url": "http://127.0.0.1:1/", "headers": {"X-Key": "${HOME}"}}
    assert error_of(tried.client.post("/api/v1/monitors", json=header), 400)["field"] == (
        "headers.X-Key"
    )
    assert tried.client.get("/api/v1/monitors/exfil").status_code == 404
    window = {"monitors": ["api"], "duration": "1s", "reason": ["not", "text"]}
    assert error_of(tried.client.post("/api/v1/maintenance", json=window), 400)["field"] == (
        "reason"
    )
    typo = {"monitor": ["api"], "duration": "30m"}  # was a window over every monitor
    error = error_of(tried.client.post("/api/v1/maintenance", json=typo), 400)
    assert error["field"] == "monitor" and "accepted here: monitors, duration" in error["message"]


def test_a_reload_applies_a_rotated_api_token_and_refuses_to_drop_it(tried: Tried) -> None:
    token_file = tried.config.parent / "hub_token"
    rotated = "tok-rotated-9876543210"
    token_file.write_text(rotated)
    try:
        assert tried.client.post("/api/v1/reload").status_code == 200
        url = f"{tried.hub.url}/api/v1/monitors"
        assert httpx.get(url, headers={"Authorization": f"Bearer {rotated}"}).status_code == 200
        assert tried.client.get("/api/v1/monitors").status_code == 401
    finally:
        token_file.write_text(TOKEN)
        httpx.post(f"{tried.hub.url}/api/v1/reload", headers={"Authorization": f"Bearer {rotated}"})
    assert tried.client.get("/api/v1/monitors").status_code == 200
    tried.config.write_text(tried.text.replace("api: {token_file: hub_token}", ""))
    try:
        error = error_of(tried.client.post("/api/v1/reload"), 400)
        assert error["field"] == "api.token_file" and "needs a restart" in error["message"]
        assert httpx.get(f"{tried.hub.url}/api/v1/monitors").status_code == 401
    finally:
        tried.config.write_text(tried.text)


def test_a_generic_alert_with_a_typo_is_refused_not_dropped(tried: Tried) -> None:
    typo = {"labels": {"alertname": "Typo"}, "annotation": {"summary": "lost"}}
    error = error_of(tried.client.post("/api/v1/alerts", json=typo), 400)
    assert (
        error["field"] == "annotation" and "accepted here: labels, annotations" in error["message"]
    )
    backwards = {"labels": {"alertname": "Backwards"}, "startsAt": "2026-12-06T21:00:00Z",
                 "endsAt": "2026-12-06T20:00:00Z", "status": "resolved"}  # fmt: skip
    assert error_of(tried.client.post("/api/v1/alerts", json=backwards), 400)["field"] == "endsAt"
    assert not [a for a in tried.get("/api/v1/alerts")["alerts"]
                if a["labels"]["alertname"] in ("Typo", "Backwards")]  # fmt: skip
    snake = {"labels": {"alertname": "Snake"}, "starts_at": "2026-12-06T20:00:00Z"}
    assert tried.client.post("/api/v1/alerts", json=snake).status_code == 200
    [alert] = [
        a for a in tried.get("/api/v1/alerts")["alerts"] if a["labels"]["alertname"] == "Snake"
    ]
    assert alert["startsAt"] == "2026-12-06T20:00:00.000Z"


def test_a_one_off_maintenance_window_starts_at_an_rfc3339_time(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(
        'monitors:\n  - {name: api, type: http, url: "http://127.0.0.1:1/"}\n'
        "maintenance:\n"
        "  - {name: unquoted, monitors: [api], duration: 1h, start: 2026-12-07T03:00:00Z}\n"
        '  - {name: quoted, monitors: [api], duration: 1h, start: "2026-12-07T04:00:00+01:00"}\n'
        '  - {name: vague, monitors: [api], duration: 1h, start: "soon"}\n'
        '  - {name: typo, monitors: [api, apii], duration: 1h, cron: "0 3 * * *"}\n'
    )
    run = hub_check(config)
    assert run.returncode == 2 and "(2 problems)" in run.stderr, run.stderr
    assert "maintenance[2].start: 'soon' is not valid: expected an RFC 3339 time" in run.stderr
    assert "maintenance[3].monitors[1]: 'apii' is not a monitor of this file" in run.stderr


def test_a_badge_is_public_only_for_monitors_on_a_public_page(tried: Tried) -> None:
    """``internal`` leaves ``public`` out: false, as documented, so its monitors' badges
    need the token (they were served to anyone)."""
    assert httpx.get(f"{tried.hub.url}/badge/api.svg").status_code == 200
    assert error_of(httpx.get(f"{tried.hub.url}/badge/leaky.svg"), 401)["field"] == "Authorization"
    write = httpx.post(f"{tried.hub.url}/api/v1/monitors/api/pause")  # a 401 names it too
    assert error_of(write, 401)["field"] == "Authorization"
    assert tried.client.get("/badge/leaky.svg").status_code == 200


def test_hub_export_with_owner_is_still_a_hub_yaml(tried: Tried) -> None:
    body = {"name": "from-api", "type": "tcp", "host": "127.0.0.1", "port": 1, "interval": "1h"}
    assert tried.client.post("/api/v1/monitors", json=body).status_code == 201
    nameless = {k: v for k, v in body.items() if k != "name"}  # a PUT may leave the name out
    assert tried.client.put("/api/v1/monitors/from-api", json=nameless).status_code == 200
    try:
        run = subprocess.run(
            [sys.executable, "-m", "agentwatch", "hub", "export", "--with-owner",
             "--hub", tried.hub.url, "--token-file", str(tried.config.parent / "hub_token")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        tried.client.delete("/api/v1/monitors/from-api")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "# owner: api\n- name: from-api\n" in run.stdout
    assert "# owner: yaml\n- name: api\n" in run.stdout
    exported = tried.config.parent / "exported.yaml"
    exported.write_text(run.stdout)
    check = hub_check(exported)
    assert check.returncode == 0, check.stderr


def test_hub_check_reports_a_bad_channel_instead_of_crashing(tmp_path: Path) -> None:
    (tmp_path / "slack_url").write_text("hooks.slack.com/services/T0/B0/not-a-url")
    config = tmp_path / "hub.yaml"
    config.write_text(
        "notifications:\n  channels:\n"
        '    - {name: slack, type: slak, url: "https://hooks.slack.com/x"}\n'
        "    - {name: team, type: slack, url_file: slack_url}\n"
        "  routes:\n    - {match: {severity: critical}, channels: [team]}\n"
    )
    run = hub_check(config)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert (
        "notifications.channels[0].type: 'slak' is not valid: expected one of slack" in run.stderr
    )
    assert "notifications.channels[1].url_file: is not an http:// or https:// URL" in run.stderr
    assert "not-a-url" not in run.stderr


def test_an_http_monitors_env_secrets_are_never_shown(tmp_path: Path) -> None:
    """An API key from ``${ENV}`` in a URL's query, its password or a header was quoted by
    the check's message ("HTTP 200 from http://u:KEY@.../?key=KEY"), the alert's target and
    httpx's log line of every probe; the spec and export turned the references into
    ``<secret>``, so an exported file no longer ran."""
    key = "k3y-from-env-0987654321"
    (tmp_path / "hub_token").write_text(TOKEN)
    with Target() as web:
        url = web.url.replace("http://", "http://probe:${API_KEY}@") + "/v1?key=${API_KEY}"
        port = web.url.rsplit(":", 1)[1]
        config = tmp_path / "hub.yaml"
        config.write_text(
            f'monitors:\n  - {{name: keyed, type: http, url: "{url}", interval: 1s,\n'
            '      headers: {Authorization: "Bearer ${API_KEY}"}, expect: {status: 201}}\n'
            '  - {name: placed, type: http, url: "http://${API_HOST}:${API_PORT}/v1",\n'
            "      interval: 1s, expect: {status: 201}}\n"
            "api: {token_file: hub_token}\n"
        )
        env = {"XDG_STATE_HOME": str(tmp_path / "state"), "API_KEY": key,
               "API_HOST": "127.0.0.1", "API_PORT": port}  # fmt: skip
        database = f"sqlite:///{tmp_path}/hub.db"
        with (
            HubProcess(config, database=database, env=env, log=tmp_path / "hub.log") as hub,
            httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {TOKEN}"}) as api,
        ):
            wait_until("both down", lambda: len(api.get("/api/v1/alerts").json()["alerts"]) == 2)
            monitor = api.get("/api/v1/monitors/keyed").json()
            assert monitor["message"].startswith("HTTP 200 from http://probe:***@127.0.0.1")
            assert monitor["spec"]["headers"] == {"Authorization": "Bearer ${API_KEY}"}
            assert monitor["spec"]["url"] == url
            alerts = {a["labels"]["monitor"]: a for a in api.get("/api/v1/alerts").json()["alerts"]}
            assert alerts["keyed"]["annotations"]["target"].endswith("/v1?key=***")
            # a host and port from the environment are not secrets: shown as they are
            assert alerts["placed"]["annotations"]["target"] == f"http://127.0.0.1:{port}/v1"
            export = subprocess.run(
                [sys.executable, "-m", "agentwatch", "hub", "export", "--hub", hub.url,
                 "--token-file", str(tmp_path / "hub_token")],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert "Bearer ${API_KEY}" in export.stdout, export.stdout + export.stderr
            seen = [
                *(api.get(path).text for path in ("/api/v1/monitors", "/api/v1/alerts", "/")),
                api.get("/api/v1/monitors/keyed/history").text,
                export.stdout,
                hub.output(),
            ]
        assert web.hits["/v1?key=" + key], "the probe sends the key"
    assert not [text for text in seen if key in text]


def test_pausing_twice_or_resuming_a_running_monitor_changes_nothing(tried: Tried) -> None:
    """A resume of a monitor that was not paused set it back to ``pending`` (its counts
    towards ``down_after`` gone), and a second pause moved its ``since``."""
    wait_until("redis up", lambda: status_of(tried, "redis") == "up", 30)
    before = tried.get("/api/v1/monitors/redis")
    resumed = tried.client.post("/api/v1/monitors/redis/resume")
    assert resumed.status_code == 200, resumed.text
    assert (resumed.json()["status"], resumed.json()["since"]) == ("up", before["since"])
    paused = tried.client.post("/api/v1/monitors/redis/pause").json()
    try:
        again = tried.client.post("/api/v1/monitors/redis/pause").json()
        assert (again["status"], again["since"]) == ("paused", paused["since"])
    finally:
        assert tried.client.post("/api/v1/monitors/redis/resume").json()["status"] == "pending"


def test_a_tcp_monitor_needs_its_port_and_http_a_method(tried: Tried) -> None:
    """A ``tcp`` monitor without ``port`` was taken, and checked port 0 forever; an
    ``http`` one with ``method: "GET X"`` was taken and failed every check."""
    body = {"name": "portless", "type": "tcp", "host": "127.0.0.1"}
    error = error_of(tried.client.post("/api/v1/monitors", json=body), 400)
    assert error["field"] == "port" and "is required" in error["message"]
    spaced = {"name": "spaced", "type": "http", "url": "http://127.0.0.1:1/", "method": "GET X"}
    assert error_of(tried.client.post("/api/v1/monitors", json=spaced), 400)["field"] == "method"


def test_a_push_that_says_down_stays_down_until_the_job_says_up(tried: Tried) -> None:
    """A heartbeat with ``status=down`` was turned back to ``up`` by the next scheduled
    check ("last heartbeat 1s ago"): a failing job showed as up within a second."""
    body = {"name": "backup", "type": "push", "interval": "1s", "grace": "1h",
            "token_file": str(tried.config.parent / "hub_token")}  # fmt: skip
    assert tried.client.post("/api/v1/monitors", json=body).status_code == 201
    try:
        beat = {"token": TOKEN, "status": "down", "msg": "backup failed: disk full"}
        assert tried.client.post("/api/v1/push/backup", params=beat).status_code == 200
        checks = lambda: tried.get("/api/v1/monitors/backup/history")["results"]  # noqa: E731
        wait_until("the heartbeat recorded", lambda: len(checks()) >= 1, 30)
        time.sleep(3)  # three scheduled turns of a 1 s interval: none may say up
        monitor = tried.get("/api/v1/monitors/backup")
        assert (monitor["status"], monitor["message"]) == ("down", "backup failed: disk full")
        assert [c["status"] for c in checks()] == ["down"]
        assert tried.client.post("/api/v1/push/backup", params={"token": TOKEN}).status_code == 200
        wait_until("the checks after an up heartbeat", lambda: checks()[0]["status"] == "up", 30)
        assert status_of(tried, "backup") == "up"
    finally:
        tried.client.delete("/api/v1/monitors/backup")


def test_a_database_the_hub_cannot_reach_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """``--database`` naming a Postgres database that does not exist printed the driver's
    two tracebacks."""
    require_postgres()
    config = tmp_path / "hub.yaml"
    config.write_text("monitors:\n  - {name: a, type: tcp, host: 127.0.0.1, port: 1}\n")
    url = "postgresql+psycopg://postgres:pw-never-shown@127.0.0.1:5432/hub_no_such_database"
    run = subprocess.run(
        [sys.executable, "-m", "agentwatch", "hub", "serve", "--config", str(config),
         "--port", "0", "--database", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert "database: cannot connect to postgresql+psycopg://postgres:***@127.0.0.1" in run.stderr
    assert '"hub_no_such_database" does not exist' in run.stderr
    assert "pw-never-shown" not in run.stderr


def test_hub_check_refuses_a_redis_url_that_is_not_one(tmp_path: Path) -> None:
    """A ``url_file`` holding ``rediz://...`` (or the DSN file given by mistake) passed
    ``hub check``, and the probe tried it."""
    (tmp_path / "redis_url").write_text("rediz://:s3cr3t-redis-pw@127.0.0.1:6379/0\n")
    config = tmp_path / "hub.yaml"
    config.write_text(
        "monitors:\n  - {name: cache, type: redis, url_file: redis_url}\n"
        '  - {name: ok, type: redis, url: "rediss://127.0.0.1:6380/0"}\n'
    )
    run = hub_check(config)
    assert run.returncode == 2 and "(1 problem)" in run.stderr, run.stderr
    assert "monitors[0].url_file: is not a redis:// or rediss:// URL (from file" in run.stderr
    assert "s3cr3t" not in run.stderr


def test_paused_in_the_file_or_a_put_pauses_and_resumes(tmp_path: Path) -> None:
    """``paused: true`` was read only when a monitor was first made: added to a monitor
    already running, neither a reload nor a restart paused it (nor did a PUT of an API
    monitor with ``paused: true``). The file changes it; the API's pause or resume of a
    monitor whose ``paused`` the file leaves alone stays."""
    with Target() as web:
        port = web.url.rsplit(":", 1)[1]
        running = (
            f"monitors:\n  - {{name: a, type: tcp, host: 127.0.0.1, port: {port}, interval: 1s}}\n"
        )
        paused = running.replace("interval: 1s}", "interval: 1s, paused: true}")
        config = tmp_path / "hub.yaml"
        config.write_text(running)
        database = f"sqlite:///{tmp_path}/hub.db"
        env = {"XDG_STATE_HOME": str(tmp_path / "state")}
        with (
            HubProcess(config, database=database, env=env) as hub,
            httpx.Client(base_url=hub.url) as api,
        ):
            status = lambda name: api.get(f"/api/v1/monitors/{name}").json()["status"]  # noqa: E731
            wait_until("a up", lambda: status("a") == "up", 30)
            config.write_text(paused)
            assert api.post("/api/v1/reload").status_code == 200
            assert status("a") == "paused"
            assert api.post("/api/v1/monitors/a/resume").json()["status"] == "pending"
            assert api.post("/api/v1/reload").status_code == 200  # the file did not change
            assert status("a") != "paused"
            made = {"name": "b", "type": "tcp", "host": "127.0.0.1", "port": int(port)}
            assert api.post("/api/v1/monitors", json=made).status_code == 201
            assert (
                api.put("/api/v1/monitors/b", json={**made, "paused": True}).json()["status"]
                == "paused"
            )
            config.write_text(running)
            assert api.post("/api/v1/reload").status_code == 200
        config.write_text(paused)  # while the hub is stopped
        with HubProcess(config, database=database, env=env) as hub:
            assert httpx.get(f"{hub.url}/api/v1/monitors/a").json()["status"] == "paused"


def test_hub_check_never_quotes_what_env_put_in_a_url(tmp_path: Path) -> None:
    """``url: "${API_URL}"`` holding a non-http URL with its password was quoted whole in
    the problem ``hub check`` printed."""
    config = tmp_path / "hub.yaml"
    config.write_text('monitors:\n  - {name: x, type: http, url: "${API_URL}"}\n')
    run = hub_check(config, API_URL="ftp://probe:pa55-from-env@127.0.0.1/")
    assert run.returncode == 2, run.stderr
    assert "monitors[0].url: '${API_URL}' (its value is not shown) is not valid" in run.stderr
    assert "pa55-from-env" not in run.stderr


def test_a_secret_file_that_is_not_a_dsn_shows_no_target(tried: Tried) -> None:
    """An API monitor may name any file the hub reads: a postgres one whose ``dsn_file`` was
    the hub's Slack webhook file put the webhook URL, path and all, in its alert's target."""
    webhook = tried.config.parent / "slack_url"
    webhook.write_text("https://hooks.slack.com/services/T0/B0/w3bh00k-secret-path\n")
    body = {"name": "nosy", "type": "postgres", "dsn_file": str(webhook), "interval": "1s"}
    assert tried.client.post("/api/v1/monitors", json=body).status_code == 201
    try:
        wait_until("its alert", lambda: tried.alerts("nosy"), 30)
        [alert] = tried.alerts("nosy")
        assert "target" not in alert["annotations"], alert
        seen = [tried.client.get(p).text for p in ("/api/v1/alerts", "/api/v1/monitors/nosy")]
        assert not [text for text in seen if "w3bh00k" in text]
    finally:
        tried.client.delete("/api/v1/monitors/nosy")


def test_a_shortened_interval_applies_at_once(tried: Tried) -> None:
    """A monitor changed from ``interval: 1h`` to ``1s`` (a PUT, or a reload of the file)
    was checked again only when the hour was up."""
    body = {"name": "hourly", "type": "tcp", "host": "127.0.0.1", "port": tried.hub.port,
            "interval": "1h"}  # fmt: skip
    assert tried.client.post("/api/v1/monitors", json=body).status_code == 201
    try:
        wait_until("its first check", lambda: tried.get("/api/v1/monitors/hourly")["last_check"])
        changed = tried.client.put("/api/v1/monitors/hourly", json={**body, "interval": "1s"})
        assert changed.status_code == 200, changed.text
        history = lambda: tried.get("/api/v1/monitors/hourly/history")["results"]  # noqa: E731
        wait_until("checks every second", lambda: len(history()) >= 3, 30)
    finally:
        tried.client.delete("/api/v1/monitors/hourly")


def test_a_reload_keeps_the_parent_of_an_api_monitor(tried: Tried) -> None:
    """A reload that dropped a monitor of the file an API monitor depends on was applied,
    leaving the API monitor with a parent that is not there (so the export failed
    ``hub check``)."""
    child = {"name": "on-llm", "type": "tcp", "host": "127.0.0.1", "port": tried.hub.port,
             "interval": "1h", "depends_on": ["llm-provider"]}  # fmt: skip
    assert tried.client.post("/api/v1/monitors", json=child).status_code == 201
    kept = [line for line in tried.text.splitlines()
            if "llm-provider" not in line and "depends_on: [internet]" not in line]  # fmt: skip
    tried.config.write_text("\n".join(kept) + "\n")
    try:
        error = error_of(tried.client.post("/api/v1/reload"), 400)
        assert "'llm-provider' is in the depends_on of the API monitor 'on-llm'" in error["message"]
        assert tried.client.get("/api/v1/monitors/llm-provider").status_code == 200
    finally:
        tried.config.write_text(tried.text)
        tried.client.delete("/api/v1/monitors/on-llm")


def test_an_https_monitor_is_degraded_when_its_certificate_is_close_to_expiry(
    tmp_path: Path,
) -> None:
    """``expect: {cert_days: N}`` had no test: a real HTTPS server whose certificate has
    less than a day left, trusted through ``SSL_CERT_FILE``."""
    import http.server
    import ssl
    import threading

    from tests.hub._receivers import self_signed

    cert, key = self_signed(tmp_path)

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}/"
    config = tmp_path / "hub.yaml"
    config.write_text(
        f'monitors:\n  - {{name: soon, type: http, url: "{url}", interval: 1s, expect: {{cert_days: 14}}}}\n'
        f'  - {{name: fine, type: http, url: "{url}", interval: 1s, expect: {{cert_days: 0}}}}\n'
    )
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "SSL_CERT_FILE": str(cert)}
    try:
        with HubProcess(config, database=f"sqlite:///{tmp_path}/hub.db", env=env) as hub:
            monitor = lambda name: httpx.get(f"{hub.url}/api/v1/monitors/{name}").json()  # noqa: E731
            wait_until("both checked", lambda: monitor("soon")["last_check"] and
                       monitor("fine")["last_check"], 30)  # fmt: skip
            soon, fine = monitor("soon"), monitor("fine")
    finally:
        server.shutdown()
        server.server_close()
    assert (soon["status"], soon["message"]) == ("degraded", "TLS certificate expires in 0 days")
    assert (fine["status"], fine["message"]) == ("up", "HTTP 200")


def test_hub_check_refuses_a_key_given_twice(tmp_path: Path) -> None:
    """A second ``monitors:`` (a pasted block) silently replaced the first: its monitors
    were gone and ``hub check`` said the file was valid."""
    config = tmp_path / "hub.yaml"
    config.write_text(
        'monitors:\n  - {name: a, type: http, url: "http://127.0.0.1:1/"}\n'
        'monitors:\n  - {name: b, type: http, url: "http://127.0.0.1:1/"}\n'
    )
    run = hub_check(config)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "line 3, column 1: not valid YAML: 'monitors' is given twice" in run.stderr


def test_a_request_while_the_database_is_gone_is_a_json_503(tmp_path: Path, pg_url: str) -> None:
    """With its Postgres database gone, the API answered Starlette's plain-text "Internal
    Server Error"."""
    import psycopg
    from tests.hub._support import PG_ADMIN

    config = tmp_path / "hub.yaml"
    config.write_text("monitors:\n  - {name: a, type: tcp, host: 127.0.0.1, port: 1}\n")
    with HubProcess(config, database=pg_url, log=tmp_path / "hub.log") as hub:
        assert httpx.get(f"{hub.url}/api/v1/monitors").status_code == 200
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{pg_url.rsplit("/", 1)[1]}" WITH (FORCE)')
        gone = httpx.get(f"{hub.url}/api/v1/monitors", timeout=30)
        error = error_of(gone, 503)
        assert error["message"] == "the hub's database is unavailable (the hub's log says why)"
        assert httpx.get(f"{hub.url}/health/ready", timeout=30).status_code == 503


def test_pausing_a_down_monitor_does_not_say_it_recovered(tried: Tried) -> None:
    """Pausing resolves a monitor's alert; the resolution read "leaky recovered", which an
    on-call engineer takes for fixed."""
    wait_until("leaky down", lambda: status_of(tried, "leaky") == "down", 30)
    wait_until("its alert", lambda: tried.alerts("leaky"), 10)
    assert tried.client.post("/api/v1/monitors/leaky/pause").status_code == 200
    try:
        [alert] = [a for a in tried.alerts("leaky") if a["labels"]["alertname"] == "MonitorDown"]
        assert alert["status"] == "resolved"
        assert alert["annotations"]["summary"] == "leaky was paused: no longer checked"
    finally:
        tried.client.post("/api/v1/monitors/leaky/resume")
