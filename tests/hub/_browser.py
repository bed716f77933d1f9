"""Real headless Chromium for the hub's pages (Debian ``chromium`` and ``chromium-driver``).

>>> with chromium() as browser:                  # doctest: +SKIP
...     browser.get(url)
...     browser.find_element(By.CSS_SELECTOR, "h1").text
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A selenium WebDriver on headless Chromium; fails saying what to install if absent."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.fail(
            "this test needs headless Chromium: apt-get install chromium chromium-driver "
            "(make test installs them)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="hub-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        browser = webdriver.Chrome(options=options, service=Service(executable_path=driver))
        try:
            browser.set_page_load_timeout(30)
            yield browser
        finally:
            browser.quit()
