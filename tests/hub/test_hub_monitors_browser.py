"""The operator's ``/`` page and a status page in real headless Chromium, driven by real
monitors: a local HTTP server that answers, a closed port, a paused monitor. The closed
port's monitor sits on a public page, so going down opens an incident the page shows."""

from __future__ import annotations

from pathlib import Path

import httpx
from selenium.webdriver.common.by import By
from tests.hub._browser import chromium
from tests.hub._targets import Target, closed_port
from tests.hub._traces_support import served_hub, wait_for


def _config(web: Target, port: int) -> str:
    return f"""
monitors:
  - {{name: web, type: http, url: "{web.url}/", interval: 1s, description: The web front}}
  - {{name: payments, type: tcp, host: 127.0.0.1, port: {port}, interval: 1s}}
  - {{name: search, type: http, url: "{web.url}/search", interval: 1s, paused: true}}
status_pages:
  - {{slug: public, title: Shop, public: true, monitors: [web, payments]}}
"""


def _status(url: str, name: str) -> str:
    return str(httpx.get(f"{url}/api/v1/monitors/{name}").json()["status"])


def test_the_operator_page_and_the_status_page_show_real_monitors(tmp_path: Path) -> None:
    with Target() as web, served_hub(tmp_path, _config(web, closed_port())) as (_hub, url):
        wait_for(lambda: _status(url, "web") == "up" and _status(url, "payments") == "down")
        wait_for(lambda: httpx.get(f"{url}/api/v1/status/public").json()["incidents"]["active"])
        with chromium() as browser:
            browser.get(f"{url}/")
            assert browser.title == "Monitors · agentwatch hub"
            rows = browser.find_elements(By.CSS_SELECTOR, "#monitors tbody tr")
            shown = {
                row.find_element(By.CSS_SELECTOR, "td strong").text: row.find_element(
                    By.CSS_SELECTOR, "td .status"
                ).text
                for row in rows
            }
            assert shown == {"payments": "✖ Down", "search": "⏸ Paused", "web": "✔ Up"}
            payments = browser.find_element(By.CSS_SELECTOR, 'tr[data-monitor="payments"]')
            assert "refused" in payments.text  # the probe's message, for the operator
            front = browser.find_element(By.CSS_SELECTOR, 'tr[data-monitor="web"]')
            assert "The web front" in front.text
            summary = browser.find_element(By.ID, "summary").text
            assert "1 Down" in summary and "1 Up" in summary and "1 Paused" in summary

            browser.get(f"{url}/status/public")
            on_page = {
                row.find_element(By.CSS_SELECTOR, ".name").text: row.find_element(
                    By.CSS_SELECTOR, ".status"
                ).text
                for row in browser.find_elements(By.CSS_SELECTOR, "#monitors li.monitor")
            }
            assert on_page == {"payments": "✖ Down", "web": "✔ Up"}
            incident = browser.find_element(By.CSS_SELECTOR, "#incidents article.incident")
            assert "payments" in incident.find_element(By.TAG_NAME, "h3").text
            assert "Investigating" in incident.text
            assert browser.find_element(By.ID, "overall").text == "✖ Partial outage"
