"""The report in a real browser: headless Chromium loads it from file:// offline.

Needs Debian's `chromium` package (/usr/bin/chromium; .ci/run installs it) and Playwright's
Python package; never downloads a browser. Skipped when either is missing, unless
DPAUDIT_REQUIRE_BROWSER=1 (as in CI), where a missing browser fails the test.
"""

import contextlib
import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from dpaudit.reports import write_report
from dpaudit.results import load_results

DATA = Path(__file__).parent / "data"

pytestmark = pytest.mark.browser

# Set by CI to keep the screenshot as a test artifact; otherwise the test's tmp_path.
ARTIFACTS = os.environ.get("DPAUDIT_TEST_ARTIFACTS")
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


@contextlib.contextmanager
def _loaded(path: Path, width: int):
    """`path` opened from file:// in headless Chromium, `width` px wide, every plot drawn.

    Yields the page and what it did: console messages (page errors included), the URLs it
    requested, and the dialogs it opened (dismissed).
    """
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    log = {"console": [], "requests": [], "dialogs": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("console", lambda m: log["console"].append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: log["console"].append(f"pageerror: {e}"))
            page.on("request", lambda r: log["requests"].append(r.url))
            page.on("dialog", lambda d: (log["dialogs"].append(d.message), d.dismiss()))
            page.goto(path.resolve().as_uri(), wait_until="load")
            page.wait_for_function(
                "() => [...document.querySelectorAll('[data-plot]')]"
                ".every(d => d.querySelector('.main-svg'))", timeout=15_000)
            yield page, log
        finally:
            browser.close()


def test_report_renders_offline_in_chromium(result, tmp_path):
    # A name with two "$" would be LaTeX to plotly, which would warn about MathJax.
    arms = tuple(dataclasses.replace(
        arm, attacks=(dataclasses.replace(arm.attacks[0], name="$x^2$ attack"),
                      *arm.attacks[1:])) for arm in result.arms)
    hostile = dataclasses.replace(result, arms=arms, data={**result.data, "dataset": HOSTILE})
    report = write_report(hostile, tmp_path / "report.html")
    url = report.resolve().as_uri()
    shot = tmp_path / "report.png"
    with _loaded(report, 1280) as (page, log):
        n_plots = page.locator("[data-plot]").count()
        rendered = page.locator("[data-plot] .plot-container .main-svg").count()
        drawn = page.locator("[data-plot] .plot-container").count()
        summary = page.inner_text("#summary")
        page.screenshot(path=str(shot), full_page=True)
    where = f"(screenshot: {shot})"
    assert n_plots == 11, where
    assert drawn == n_plots and rendered >= n_plots, where
    assert log["console"] == [], where  # no errors, warnings or CSP violations
    assert log["requests"] == [url], where
    assert log["dialogs"] == [], where
    assert HOSTILE in summary, where  # shown as text, not executed
    assert shot.stat().st_size > 50_000, where


def test_default_run_report_fits_a_1400px_window_and_draws_theory_and_training(
        tmp_path, record_property):
    """The report of `dpaudit train-and-attack` with default settings (its results.json is
    tests/reports/data/default_run_results.json), read in a 1400 px wide window. The
    full-page screenshot is kept as a test artifact: its path is printed and recorded in
    the JUnit XML (property "screenshot")."""
    result = load_results(DATA / "default_run_results.json")
    report = write_report(result, tmp_path / "report.html")
    out = Path(ARTIFACTS) if ARTIFACTS else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "default-run-report.png"
    with _loaded(report, 1400) as (page, log):
        # Every table fits its box: nothing clipped or scrolled sideways at 1400 px.
        overflow = page.evaluate(
            "() => [...document.querySelectorAll('.table-scroll')]"
            ".filter(d => d.scrollWidth > d.clientWidth + 1)"
            ".map(d => d.closest('section').id + ': ' + d.scrollWidth + ' > ' + d.clientWidth)")
        page_width = page.evaluate("() => document.documentElement.scrollWidth")
        legends = page.evaluate(
            "() => [...document.querySelectorAll('.legendtext')].map(t => t.textContent)")
        titles = page.evaluate(
            "() => [...document.querySelectorAll('.gtitle')].map(t => t.textContent)")
        headline = page.inner_text("#headline")
        details = page.evaluate("() => document.querySelector('#attacks').textContent")
        page.screenshot(path=str(shot), full_page=True)
    console = log["console"]
    print(f"\nscreenshot of the default run's report: {shot}")
    record_property("screenshot", str(shot))
    where = f"(screenshot: {shot})"
    assert overflow == [] and page_width <= 1400, (overflow, page_width, where)
    assert console == [], where
    # One epsilon everywhere, named: the headline's and the chart's.
    assert "epsilon 8.4 (PLD) at delta 1e-5" in headline, where
    assert "Accuracy cost of DP: test accuracy 88.0% (baseline) -> 66.7% (dp)" in headline
    assert any("PLD accountant" in t for t in titles), (titles, where)
    assert any(t.startswith("Leakage over training") for t in titles), where
    assert "dp: highest ROC its guarantee allows" in legends, where
    assert not any("contradiction" in t for t in legends), where  # a correct DP run
    # Human labels; an estimate is called one.
    assert "epsilon_gdp" not in details and "(estimate, not a bound)" in details, where
    assert shot.stat().st_size > 100_000, where


def test_comparison_page_draws_offline_and_fits_1400px(result_factory, tmp_path):
    """`dpaudit report a b`: both figures drawn, no console message, no request, the runs
    table inside a 1400 px window; screenshot beside the default run's."""
    from dpaudit.reports.compare import write_comparison

    runs = [("v1", result_factory(seed=0)), ("v2", result_factory(seed=1)),
            ("default", load_results(DATA / "default_run_results.json"))]
    page_path = write_comparison(runs, tmp_path / "comparison.html")
    url = page_path.resolve().as_uri()
    out = Path(ARTIFACTS) if ARTIFACTS else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "comparison.png"
    with _loaded(page_path, 1400) as (page, log):
        drawn = page.locator("[data-plot] .plot-container").count()
        overflow = page.evaluate(
            "() => [...document.querySelectorAll('.table-scroll')]"
            ".filter(d => d.scrollWidth > d.clientWidth + 1).length")
        error_bars = page.locator("[data-plot] g.errorbar").count()
        page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot of a comparison page: {shot}")
    where = f"(screenshot: {shot})"
    assert drawn == 2 and log["console"] == [] and log["requests"] == [url], where
    assert overflow == 0, where
    assert error_bars >= 3, where  # each DP arm's interval from lower bound to theory
