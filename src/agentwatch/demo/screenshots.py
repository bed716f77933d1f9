"""``make screenshots``: run the short demo, wait for its incident, photograph the hub's pages.

``python -m agentwatch.demo.screenshots --out docs/images`` starts ``agentwatch demo
--short`` in a temporary folder, waits until the status page shows the incident and the
hub holds error traces, then saves with headless Chromium (Debian ``chromium`` and
``chromium-driver``, through selenium): ``status-page.png``, ``monitors.png``,
``traces.png`` and ``error-trace.png``. Then it stops the demo with SIGINT, as Ctrl-C would.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from agentwatch import AgentwatchError

__all__ = ["main"]

WINDOW = (1280, 900)
_INCIDENT_ERRORS = re.compile(r"Error code: 50[04]")  # the OpenAI client's words for them
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-sync",
)


class ScreenshotsFailed(AgentwatchError):
    """The demo did not reach the incident, or Chromium is missing."""


def _wait(
    what: str, check: Callable[[], Any], seconds: float, demo: subprocess.Popen[bytes]
) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if demo.poll() is not None:
            raise ScreenshotsFailed(f"the demo exited ({demo.returncode}) before {what}")
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, OSError):
            found = check()
            if found:
                return found
        time.sleep(1.0)
    raise ScreenshotsFailed(f"gave up after {seconds:.0f} s waiting for {what}")


@contextlib.contextmanager
def _demo(folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "agentwatch", "demo", "--short", "--dir", str(folder / "demo")]
    with (folder / "demo.out").open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _browser() -> Any:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise ScreenshotsFailed("screenshots need selenium: pip install -e '.[dev]'") from exc
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        raise ScreenshotsFailed("screenshots need apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def _shoot(browser: Any, url: str, path: Path) -> None:
    browser.get(url)
    time.sleep(0.5)
    height = int(browser.execute_script("return document.documentElement.scrollHeight"))
    browser.set_window_size(WINDOW[0], max(WINDOW[1], min(height, 2400)))
    browser.save_screenshot(str(path))
    browser.set_window_size(*WINDOW)
    print(f"wrote {path}")


def _incident_ready(client: httpx.Client, hub: str) -> str | None:
    """The id of the incident's richest error trace (a workflow whose OpenAI call failed
    with the incident's 500 or 504 and fell back to the second provider) once the status
    page shows the incident open and the service reported the degraded health, else None."""
    page = client.get(f"{hub}/api/v1/status/public").json()
    if not page["incidents"]["active"]:
        return None
    monitors = client.get(f"{hub}/api/v1/monitors").json()
    states = {m["name"]: m["status"] for m in monitors["monitors"]}
    if states.get("api-health") != "degraded":
        return None
    params: dict[str, str | int] = {"status": "error", "limit": 200, "service": "agent-demo"}
    items = client.get(f"{hub}/api/v1/traces", params=params).json().get("traces", [])
    failed_llm = [t for t in items if _INCIDENT_ERRORS.search(str(t.get("error_message")))]
    best = max(failed_llm, key=lambda t: t["span_count"], default=None)
    return None if best is None or best["span_count"] < 8 else str(best["trace_id"])


def take(out: Path, work: Path) -> list[Path]:
    """Run the demo in ``work`` and save the four pictures into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with _demo(work) as demo, httpx.Client(timeout=5.0) as client:
        state_file = work / "demo" / "demo.json"
        _wait("the demo's demo.json", state_file.exists, 60, demo)
        hub = json.loads(state_file.read_text())["urls"]["hub"]
        trace_id = _wait("the incident", lambda: _incident_ready(client, hub), 120, demo)
        pages = {
            "status-page.png": f"{hub}/status/public",
            "monitors.png": f"{hub}/",
            "traces.png": f"{hub}/traces",
            "error-trace.png": f"{hub}/traces/{trace_id}",
        }
        browser = _browser()
        try:
            for name, url in pages.items():
                _shoot(browser, url, out / name)
        finally:
            browser.quit()
    return [out / name for name in pages]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentwatch.demo.screenshots")
    parser.add_argument("--out", default="docs/images", help="folder of the PNGs (docs/images)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="agentwatch-screenshots-") as work:
        try:
            take(Path(args.out), Path(work))
        except ScreenshotsFailed as exc:
            print(f"screenshots: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
