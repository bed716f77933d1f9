"""The status page in real headless Chromium, its JSON twin, the login of a private page, and
the API in /openapi.json."""

from __future__ import annotations

import datetime
import html as html_text
import json
import re
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
from selenium.webdriver.common.by import By
from tests.hub._browser import chromium
from tests.hub._traces_support import served_hub, wait_for

from agentwatch.hub.app import Hub
from agentwatch.hub.parts import DayUptime, MonitorState

TOKEN = "page-token"
HUB_YAML = """
status_pages:
  - slug: public
    title: Agent API
    public: true
    description: Live status of the agent API.
    monitors: [api, search]
    groups: [{name: Data stores, monitors: [postgres, redis]}]
  - {slug: internal, title: Internal, monitors: [postgres]}
api: {token_file: token}
"""
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Directory:
    """The MonitorDirectory contract, answered from fixed states (until the monitors part)."""

    def __init__(self) -> None:
        now = time.time()
        self.state = {
            "api": MonitorState(
                "api", "http", "down", now, 12.0, "HTTP 503 from http://127.0.0.1:8000/"
            ),
            "search": MonitorState("search", "http", "up", now, 40.0),
            "postgres": MonitorState(
                "postgres", "postgres", "maintenance", now, 3.0, "deploy window"
            ),
            "redis": MonitorState("redis", "redis", "degraded", now, 800.0, "slow: 800 ms"),
        }

    async def states(self, names: Sequence[str] | None = None) -> list[MonitorState]:
        return [self.state[n] for n in (names or self.state) if n in self.state]

    async def daily_uptime(self, names: Sequence[str], days: int) -> dict[str, list[DayUptime]]:
        today = datetime.datetime.now(datetime.UTC).date()

        def day(i: int) -> DayUptime:
            name = (today - datetime.timedelta(days=days - 1 - i)).isoformat()
            if i < 30:
                return DayUptime(name, None)
            if i == days - 2:
                return DayUptime(name, 0.9, down_seconds=8640.0)
            return DayUptime(name, 1.0)

        return {n: [day(i) for i in range(days)] for n in names}


def _show(hub: Hub, directory: Directory) -> None:
    """Answer the pages from ``directory``; the views the hub built at start (from its own
    monitors, none checked) go."""
    hub.context.monitors = directory
    status: Any = hub.parts["status"]
    status.api.views.clear()


def _serve(tmp_path: Path) -> AbstractContextManager[tuple[Hub, str]]:
    (tmp_path / "token").write_text(TOKEN)
    return served_hub(tmp_path, HUB_YAML)


def test_the_page_shows_each_monitor_its_status_the_incident_and_maintenance(
    tmp_path: Path,
) -> None:
    with _serve(tmp_path) as (hub, url):
        _show(hub, Directory())
        opened = httpx.post(
            f"{url}/api/v1/incidents",
            json={"title": "API answers 503", "message": "Looking into it", "monitors": ["api"]},
            headers=AUTH,
        ).json()
        httpx.post(
            f"{url}/api/v1/incidents/{opened['id']}/updates",
            json={"status": "identified", "message": "The LLM provider is down"},
            headers=AUTH,
        )
        with chromium() as browser:
            browser.get(f"{url}/status/public")
            assert browser.title == "Agent API status: Partial outage"
            rows = browser.find_elements(By.CSS_SELECTOR, "#monitors li.monitor")
            shown = {
                row.find_element(By.CSS_SELECTOR, ".name").text: row.find_element(
                    By.CSS_SELECTOR, ".status"
                ).text
                for row in rows
            }
            assert shown == {
                "api": "✖ Down",
                "search": "✔ Up",
                "postgres": "⚒ Maintenance",
                "redis": "◐ Degraded",
            }
            overall = browser.find_element(By.ID, "overall").text
            assert overall == "✖ Partial outage"
            incident = browser.find_element(By.CSS_SELECTOR, "#incidents article.incident")
            assert incident.find_element(By.TAG_NAME, "h3").text == "API answers 503"
            assert "Identified" in incident.find_element(By.CSS_SELECTOR, ".facts").text
            timeline = [e.text for e in incident.find_elements(By.CSS_SELECTOR, "ol.timeline li")]
            assert "Identified — The LLM provider is down" in timeline[0]
            assert "Investigating — Looking into it" in timeline[1]
            maintenance = browser.find_element(By.ID, "maintenance").text
            assert "postgres: deploy window" in maintenance
            bars = rows[0].find_element(By.CSS_SELECTOR, ".bars")
            runs = bars.find_elements(By.CSS_SELECTOR, ".run")
            assert [(r.get_attribute("class"), r.get_attribute("data-days")) for r in runs] == [
                ("run nodata", "30"),
                ("run up", "58"),
                ("run down", "1"),
                ("run up", "1"),
            ]
            assert runs[2].get_attribute("title").endswith(": 90.00 % up, 2 h 24 m down")
            widths = [r.size["width"] for r in runs]
            assert abs(widths[0] / sum(widths) - 30 / 90) < 0.01  # a day is a day wide
            assert bars.get_attribute("role") == "img"
            assert bars.get_attribute("aria-label") == (
                "api: 99.83 % uptime over the last 90 days; 1 day with downtime, 30 without data."
            )
            rows[0].find_element(By.CSS_SELECTOR, "details summary").click()
            cells = rows[0].find_elements(By.CSS_SELECTOR, "details tbody td")
            assert [c.text for c in cells][1:3] == ["90.00 %", "2 h 24 m"]
            # nothing but the page itself was loaded (the browser's own favicon.ico aside)
            resources = browser.execute_script(
                "return performance.getEntriesByType('resource').map(e => e.name)"
            )
            assert [r for r in resources if r != f"{url}/favicon.ico"] == []
            assert browser.find_elements(By.TAG_NAME, "script") == []
            assert browser.find_element(By.CSS_SELECTOR, "header nav").text == ""  # a visitor
            # what a screen reader gets, from Chromium's own accessibility tree
            nodes = browser.execute_cdp_cmd("Accessibility.getFullAXTree", {})["nodes"]
            exposed = [
                (n["role"]["value"], (n.get("name") or {}).get("value", "").strip())
                for n in nodes
                if not n.get("ignored")
            ]
            assert ("heading", "Current incidents") in exposed
            assert ("article", "API answers 503") in exposed
            assert ("region", "Overall status") in exposed
            images = [name for role, name in exposed if role == "image"]
            assert (
                images[0].startswith("api: 99.83 % uptime over the last 90 days")
                and len(images) == 4
            )
            words = {name for role, name in exposed if role == "StaticText"}
            assert {"Down", "Up", "Maintenance", "Degraded", "Partial outage"} <= words
            assert not {"✖", "✔", "⚒", "◐"} & {w[:1] for w in words}  # icons are not read out


def test_the_html_is_complete_without_javascript_and_refreshes_itself(tmp_path: Path) -> None:
    with _serve(tmp_path) as (hub, url):
        _show(hub, Directory())
        html = httpx.get(f"{url}/status/public").text
        assert '<meta http-equiv="refresh" content="60">' in html
        assert "<script" not in html and 'src="http' not in html and "<link" not in html
        for name, word in (("api", "Down"), ("search", "Up"), ("redis", "Degraded")):
            assert re.search(
                rf'data-monitor="{name}".*?<span class="name">{name}</span>.*?</span> {word}</span>',
                html,
                re.S,
            ), name
        paused = httpx.get(f"{url}/status/public", params={"refresh": "off"}).text
        assert 'http-equiv="refresh"' not in paused and "Not refreshing" in paused
        assert '<html lang="en">' in html
        missing = httpx.get(f"{url}/status/nope")
        assert missing.status_code == 404 and "no status page 'nope'" in html_text.unescape(
            missing.text
        )


def test_a_private_page_sends_a_browser_to_the_login_and_back(tmp_path: Path) -> None:
    with _serve(tmp_path) as (hub, url):
        _show(hub, Directory())
        with chromium() as browser:
            browser.get(f"{url}/status/internal")
            assert browser.current_url.startswith(f"{url}/login")
            browser.find_element(By.NAME, "token").send_keys(TOKEN)
            browser.find_element(By.CSS_SELECTOR, "form button, form input[type=submit]").click()
            wait_for(lambda: browser.current_url == f"{url}/status/internal")
            assert browser.find_element(By.TAG_NAME, "h1").text == "Internal"
            names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "li.monitor .name")]
            assert names == ["postgres"]
            browser.get(f"{url}/status")
            links = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#pages a")]
            assert links == ["Agent API", "Internal"]


def test_a_visitor_sees_status_and_cause_an_operator_also_the_check_message(
    tmp_path: Path,
) -> None:
    """The check's message names the probe's target (``HTTP 503 from http://...``): a public
    page shows a visitor the status and the cause, and an operator, signed in on the same
    page, the message too; the JSON twin nulls it for the visitor."""
    directory = Directory()
    api = directory.state["api"]
    directory.state["api"] = MonitorState(
        api.name, api.type, api.status, api.last_check, api.latency_ms, api.message,
        cause="postgres",
    )  # fmt: skip
    probe = "HTTP 503 from http://127.0.0.1:8000/"
    with _serve(tmp_path) as (hub, url):
        _show(hub, directory)
        with chromium() as browser:

            def messages() -> dict[str, str]:
                rows = browser.find_elements(By.CSS_SELECTOR, "#monitors li.monitor")
                return {
                    row.get_attribute("data-monitor") or "": " | ".join(
                        e.text for e in row.find_elements(By.CSS_SELECTOR, ".message")
                    )
                    for row in rows
                }

            browser.get(f"{url}/status/public")
            assert messages() == {"api": "because postgres is down", "search": "",
                                  "postgres": "", "redis": ""}  # fmt: skip
            assert "127.0.0.1:8000" not in browser.page_source
            assert "slow: 800 ms" not in browser.page_source
            browser.get(f"{url}/login?next=/status/public")
            browser.find_element(By.NAME, "token").send_keys(TOKEN)
            browser.find_element(By.CSS_SELECTOR, "form button, form input[type=submit]").click()
            wait_for(lambda: browser.current_url == f"{url}/status/public")
            assert messages() == {
                "api": f"because postgres is down: {probe}",
                "search": "",
                "postgres": "deploy window",
                "redis": "slow: 800 ms",
            }
        visitor = httpx.get(f"{url}/api/v1/status/public").json()
        operator = httpx.get(f"{url}/api/v1/status/public", headers=AUTH).json()
        again = httpx.get(f"{url}/api/v1/status/public").json()
        assert [m["message"] for m in visitor["monitors"]] == [None] * 4
        assert visitor["monitors"][0]["cause"] == "postgres"
        assert operator["monitors"][0]["message"] == probe
        assert [m["message"] for m in again["monitors"]] == [None] * 4  # not the operator's
        assert probe not in json.dumps(again)


def test_the_json_twin_and_the_openapi_document(tmp_path: Path) -> None:
    with _serve(tmp_path) as (hub, url):
        _show(hub, Directory())
        page = httpx.get(f"{url}/api/v1/status/public").json()
        assert page["page"]["slug"] == "public" and page["page"]["public"] is True
        assert page["status"] == {"indicator": "down", "description": "Partial outage"}
        assert [g["name"] for g in page["groups"]] == ["", "Data stores"]
        assert [(m["name"], m["status"]) for m in page["monitors"]] == [
            ("api", "down"),
            ("search", "up"),
            ("postgres", "maintenance"),
            ("redis", "degraded"),
        ]
        assert len(page["monitors"][0]["days"]) == 90
        assert page["monitors"][0]["uptime_90d"] == round(59.9 / 60, 6)
        assert page["maintenance"] == [{"monitor": "postgres", "message": "deploy window"}]
        assert page["incidents"] == {"active": [], "recent": []}
        week = httpx.get(f"{url}/api/v1/status/public", params={"days": "7"}).json()
        assert [d["day"] for d in week["monitors"][0]["days"]] == [
            d["day"] for d in page["monitors"][0]["days"][-7:]
        ]
        assert week["monitors"][0]["uptime_90d"] == page["monitors"][0]["uptime_90d"]
        bad = httpx.get(f"{url}/api/v1/status/public", params={"days": "91"})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "days"
        paths = httpx.get(f"{url}/openapi.json").json()["paths"]
        for path in (
            "/api/v1/status",
            "/api/v1/status/{slug}",
            "/api/v1/incidents",
            "/api/v1/incidents/{incident_id}",
            "/api/v1/incidents/{incident_id}/updates",
            "/api/v1/incidents/{incident_id}/resolve",
        ):
            assert path in paths, path
        assert set(paths["/api/v1/incidents"]) == {"get", "post"}
        assert "requestBody" in paths["/api/v1/incidents"]["post"]
