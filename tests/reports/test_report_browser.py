"""The report in a real browser: headless Chromium loads it from file:// offline.

Needs Debian's `chromium` package (/usr/bin/chromium; .ci/run installs it) and Playwright's
Python package; never downloads a browser. Skipped when either is missing, unless
DPAUDIT_REQUIRE_BROWSER=1 (as in CI), where a missing browser fails the test.
"""

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from dpaudit.reports import write_report

pytestmark = pytest.mark.browser

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _chromium() -> str:
    path = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        message = "needs /usr/bin/chromium (Debian package `chromium`) and playwright"
        if os.environ.get("DPAUDIT_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (DPAUDIT_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    return path


def test_report_renders_offline_in_chromium(result, tmp_path):
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    # A name with two "$" would be LaTeX to plotly, which would warn about MathJax.
    arms = tuple(dataclasses.replace(
        arm, attacks=(dataclasses.replace(arm.attacks[0], name="$x^2$ attack"),
                      *arm.attacks[1:])) for arm in result.arms)
    hostile = dataclasses.replace(result, arms=arms, data={**result.data, "dataset": HOSTILE})
    report = write_report(hostile, tmp_path / "report.html")
    url = report.resolve().as_uri()
    shot = tmp_path / "report.png"
    console, requests, dialogs = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(url, wait_until="load")
            n_plots = page.locator("[data-plot]").count()
            page.wait_for_function(
                "() => [...document.querySelectorAll('[data-plot]')]"
                ".every(d => d.querySelector('.main-svg'))", timeout=15_000)
            rendered = page.locator("[data-plot] .plot-container .main-svg").count()
            drawn = page.locator("[data-plot] .plot-container").count()
            summary = page.inner_text("#summary")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    where = f"(screenshot: {shot})"
    assert n_plots == 10, where
    assert drawn == n_plots and rendered >= n_plots, where
    assert console == [], where  # no errors, warnings or CSP violations
    assert requests == [url], where
    assert dialogs == [], where
    assert HOSTILE in summary, where  # shown as text, not executed
    assert shot.stat().st_size > 50_000, where
