"""Headless Chromium for the browser tests (Debian's ``chromium`` and ``chromium-driver``).

Selenium drives the system browser through the system chromedriver, both given by path, so
Selenium Manager never runs (it would try to download a browser). Each test gets a fresh
profile in its own temp folder and a browser with background networking, updates, sync and
QUIC off: a page either loads from the local servers under test or fails.

Without the browser the tests skip with the reason; under ``CI=true`` they fail instead, so a
CI machine missing the packages cannot pass by skipping (scripts/install-system-deps installs
them). Screenshots go to ``test-artifacts/`` at the repository root (gitignored; CI uploads it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
PAGE_LOAD_TIMEOUT_S = 60
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # containers often give /dev/shm 64 MB; Chromium crashes there
    "--window-size=1400,1000",
)


def _find(names: tuple[str, ...], paths: tuple[str, ...]) -> str | None:
    for name in names:
        if found := shutil.which(name):
            return found
    return next((p for p in paths if os.access(p, os.X_OK)), None)


def find_browser() -> tuple[str, str] | str:
    """(chromium, chromedriver) paths, or why the browser tests cannot run."""
    chromium = _find(
        ("chromium", "chromium-browser"), ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
    )
    driver = _find(("chromedriver",), ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"))
    missing = [n for n, p in (("chromium", chromium), ("chromium-driver", driver)) if p is None]
    if missing:
        return (
            f"headless browser tests need the Debian packages {' and '.join(missing)} "
            "(run `sudo bash scripts/install-system-deps`)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "headless browser tests need selenium (pip install -e '.[test]')"
    return chromium, driver


def require_browser() -> tuple[str, str]:
    found = find_browser()
    if isinstance(found, str):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{found}; CI=true, so this is a failure, not a skip")
        pytest.skip(found)
    return found


@pytest.fixture
def browser(tmp_path_factory) -> Iterator:
    """A headless Chromium WebDriver with a fresh profile; quit (or killed) afterwards."""
    chromium, driver_path = require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tmp_path_factory.mktemp("chromium-profile")
    options.add_argument(f"--user-data-dir={profile}")
    log = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    service = Service(executable_path=driver_path, log_output=str(log))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
    driver.set_script_timeout(PAGE_LOAD_TIMEOUT_S)
    try:
        yield driver
    finally:
        process = service.process
        try:
            driver.quit()
        finally:
            if process is not None and process.poll() is None:  # quit did not end chromedriver
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)


def wait_for(driver, check: Callable, timeout: float, what: str):
    """Wait (bounded) until ``check(driver)`` is truthy; fail naming ``what`` and saving a
    screenshot of the page as it was."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(check)
    except TimeoutException:
        shot = screenshot(driver, f"timeout-{what.replace(' ', '-')[:40]}")
        body = page_text(driver)
        pytest.fail(
            f"waited {timeout} s for {what} at {driver.current_url}; screenshot {shot}; "
            f"page text: {body[:1500]!r}"
        )


def page_text(driver) -> str:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    try:
        return driver.find_element(By.TAG_NAME, "body").text
    except WebDriverException:
        return ""


def wait_for_text(driver, texts: list[str] | str, timeout: float) -> str:
    """Wait until the page's visible text holds every one of ``texts``; return the text."""
    wanted = [texts] if isinstance(texts, str) else list(texts)

    def shows(d) -> str | bool:
        body = page_text(d)
        return body if all(t in body for t in wanted) else False

    return wait_for(driver, shows, timeout, f"text {wanted}")


def screenshot(driver, name: str, full_page: bool = False) -> Path:
    """Save a PNG of the page under ``test-artifacts/``; ``full_page`` first grows the window
    to the document's height (capped), since WebDriver shoots the viewport only."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if full_page:
        height = driver.execute_script(
            "return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)"
        )
        driver.set_window_size(1400, min(max(int(height) + 150, 1000), 6000))
    driver.save_screenshot(str(path))
    return path
