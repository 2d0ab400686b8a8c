"""The report's HTML page in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``), driven by Selenium. Under CI the browser must be there (``.ci/run`` installs it);
elsewhere the test is skipped with the reason."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_cli_report import _run_two_periods

from invoke import cosell


def _program(variable: str, name: str) -> str | None:
    """The program ``variable`` names (when set), else ``name`` on the PATH or under /usr/bin."""
    given = os.environ.get(variable)
    if given:
        return given if Path(given).exists() else None
    return shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)


CHROMIUM = _program("COSELL_TEST_CHROMIUM", "chromium")
CHROMEDRIVER = _program("COSELL_TEST_CHROMEDRIVER", "chromedriver")


def _browser_missing() -> str | None:
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "headless Chromium is not installed (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture
def browser() -> Iterator[Any]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs the browser test: {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1366,900"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _requests(driver: Any) -> list[str]:
    """The URLs the page asked for, from the browser's own network log."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_the_page_shows_every_partner_and_the_charts_sorts_and_fetches_nothing(tmp_path, sqlite_url, browser):
    from selenium.webdriver.common.by import By

    _run_two_periods(tmp_path, "examples", sqlite_url)
    page = tmp_path / "report.html"
    made = cosell("report", "--period", "2026-Q3", "--ledger", sqlite_url, "--format", "html", "-o", page)
    assert made.exit_code == 0, made.output
    report = json.loads(
        cosell("report", "--period", "2026-Q3", "--ledger", sqlite_url, "--format", "json").stdout
    )

    browser.get(page.as_uri())
    assert browser.title.endswith("program report 2026-Q3")

    rows = browser.find_elements(By.CSS_SELECTOR, "#partners tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, "td").text for r in rows] == [p["id"] for p in report["partners"]]
    assert all(r.is_displayed() for r in rows)

    charts = browser.find_elements(By.CSS_SELECTOR, "figure.chart svg")
    drawn = [c for c in charts if c.size["width"] > 200 and c.size["height"] > 100
             and c.find_elements(By.CSS_SELECTOR, "path")]  # fmt: skip
    assert len(drawn) >= 4

    def earnings_column() -> list[float]:
        cells = browser.find_elements(By.CSS_SELECTOR, "#partners tbody tr td:nth-child(6)")
        return [float(c.get_attribute("data-sort")) for c in cells]

    header = browser.find_element(By.XPATH, "//table[@id='partners']//th[button[text()='Earnings']]")
    header.find_element(By.TAG_NAME, "button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert earnings_column() == sorted(earnings_column()) and earnings_column() != earnings_column()[::-1]
    header.find_element(By.TAG_NAME, "button").click()
    assert earnings_column() == sorted(earnings_column(), reverse=True)

    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1366, height + 80)
    assert browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000
    printed = browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})
    (tmp_path / "report.pdf").write_bytes(base64.b64decode(printed["data"]))

    assert [url for url in _requests(browser) if url != page.as_uri()] == []
