"""The rendered page: self-contained, escaped, graceful on missing fields, atomic on disk."""

import base64
import dataclasses
import datetime
import hashlib
import html
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import dpaudit.reports.render
from dpaudit.errors import InputError
from dpaudit.results import AuditResult, load_results
from dpaudit.reports import render_html, write_report
from dpaudit.reports._embed import figure_json, plotly_js

DATA = Path(__file__).parent / "data"
BUNDLE = str(plotly_js())  # the full bundle, or the one DPAUDIT_PLOTLY_JS names
NOON = datetime.datetime(2025, 1, 2, 12, 0, tzinfo=datetime.timezone.utc)
HOSTILE = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"


class _Page(HTMLParser):
    """Collects tags, attributes and script bodies of a page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[tuple[dict, str]] = []
        self._script: dict | None = None
        self._body: list[str] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "script":
            self._script, self._body = attrs, []

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._body)))
            self._script = None

    def handle_data(self, data):
        (self._body if self._script is not None else self.text).append(data)

    def executable(self) -> list[str]:
        return [body for attrs, body in self.scripts if attrs.get("type") is None]

    def figures(self) -> dict[str, dict]:
        return {attrs["data-figure-for"]: json.loads(body) for attrs, body in self.scripts
                if attrs.get("type") == "application/json"}


@pytest.fixture(scope="module")
def page_html(result_factory) -> str:
    return render_html(result_factory())


def _parse(text: str) -> _Page:
    return _Page(text.replace(BUNDLE, ""))  # the bundle is 1.2 MB of no interest here


def _visible(text: str) -> str:
    return " ".join(_parse(text).text)


# Self-contained ----------------------------------------------------------------------------

def test_plotly_js_is_embedded_exactly_once(page_html):
    assert page_html.count(BUNDLE) == 1
    assert page_html.count("* plotly.js") == 1  # and no second copy of another bundle
    page = _parse(page_html)
    assert len(page.executable()) == 2  # the (stripped) bundle and the drawing script


def test_nothing_is_loaded_from_elsewhere(page_html):
    page = _parse(page_html)
    for tag, attrs in page.tags:
        assert "src" not in attrs, (tag, attrs)
        if tag == "link":
            assert attrs["href"].startswith("data:"), attrs
    outside_bundle = page_html.replace(BUNDLE, "")
    assert not re.search(r"https?://", outside_bundle), re.findall(r".{40}https?://.{40}",
                                                                   outside_bundle)
    assert "@import" not in outside_bundle and "url(" not in outside_bundle


def test_content_security_policy_allows_only_the_page_scripts(page_html):
    page = _parse(page_html)
    (csp,) = [a["content"] for t, a in page.tags
              if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in csp
    script_src = re.search(r"script-src ([^;]*)", csp).group(1)
    assert "unsafe" not in script_src
    scripts = re.findall(r"<script>(.*?)</script>", page_html, flags=re.S)
    assert len(scripts) == 2
    for body in scripts:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src


def test_every_figure_has_a_target_and_valid_json(page_html):
    page = _parse(page_html)
    figures = page.figures()
    # theory vs evidence, 2 ROC, 4 histograms (2 arms x 2 attacks), budget, leakage over
    # training, 2 per-class
    assert len(figures) == 11
    targets = {a["id"] for t, a in page.tags if t == "div" and "data-plot" in a}
    assert targets == set(figures)
    assert all(fig["data"] and "layout" in fig for fig in figures.values())


def test_rendering_is_deterministic_given_the_date(result):
    assert render_html(result, generated_at=NOON) == render_html(result, generated_at=NOON)


# Escaping ----------------------------------------------------------------------------------

def _hostile_result(result: AuditResult) -> AuditResult:
    arms = []
    for arm in result.arms:
        attacks = tuple(dataclasses.replace(
            a, name=a.name + HOSTILE, per_class_auc={HOSTILE: 0.6},
            per_class_counts={HOSTILE: [300, 300]},
            top_exposed=({"id": HOSTILE, "score": 1.0, HOSTILE: HOSTILE},),
            details={HOSTILE: HOSTILE}) for a in arm.attacks)
        privacy = arm.privacy and dataclasses.replace(arm.privacy, accounting_note=HOSTILE)
        arms.append(dataclasses.replace(arm, name=arm.name + HOSTILE, attacks=attacks,
                                        privacy=privacy))
    verdict = {"passed": False, "rules": [{"rule": HOSTILE, "arm": HOSTILE, "attack": HOSTILE,
                                           "measured": HOSTILE, "limit": 1, "passed": False,
                                           "message": HOSTILE}]}
    return dataclasses.replace(
        result, arms=tuple(arms), verdict=verdict,
        config={"dataset": HOSTILE, "model": HOSTILE, HOSTILE: [HOSTILE]},
        environment={"date": HOSTILE, HOSTILE: HOSTILE}, data={"dataset": HOSTILE},
        timings={HOSTILE: 1.0},
        provenance={"started_at": HOSTILE, "data_sha256": HOSTILE,
                    "models": {HOSTILE: {"file": HOSTILE, "sha256": HOSTILE}}})


def test_strings_from_the_results_show_as_text_and_never_run(result):
    text = render_html(_hostile_result(result))
    assert HOSTILE not in text
    assert "<script>alert" not in text and "<img" not in text
    page = _parse(text)
    assert [t for t, _ in page.tags].count("img") == 0
    assert len(page.executable()) == 2
    visible = _visible(text)
    assert HOSTILE in visible  # shown, as typed, in the run summary and the tables
    assert visible.count(HOSTILE) > 10


def test_figure_json_is_strict_and_script_safe():
    fig = {"data": [{"type": "scatter", "name": "</script><!-- & \u2028",
                     "y": [1.0, math.nan, math.inf]}], "layout": {}}
    text = str(figure_json(fig))
    assert not set("<>&\u2028") & set(text)
    back = json.loads(text)
    assert back["data"][0]["name"] == "</script><!-- & \u2028"
    assert back["data"][0]["y"] == [1.0, None, None]


def test_figure_json_cannot_end_its_script_element(result):
    text = render_html(_hostile_result(result))
    page = _parse(text)
    figures = page.figures()
    assert len(figures) == 11  # every block still parses as JSON
    for attrs, body in page.scripts:
        if attrs.get("type") == "application/json":
            assert "<" not in body and ">" not in body
    names = [t["name"] for fig in figures.values() for t in fig["data"] if "name" in t]
    # Plotly labels understand some HTML, so names arrive entity-escaped: shown as typed.
    assert any(html.escape(HOSTILE, quote=False) in n for n in names)


# Content -----------------------------------------------------------------------------------

def test_headline_reads_like_the_issue_example(page_html):
    headline = re.search(r'<p class="headline info" id="headline">(.*?)</p>', page_html).group(1)
    assert re.fullmatch(r"DP model: epsilon [\d.]+ \(PLD\) at delta 1e-5; strongest attack AUC "
                        r"0\.\d\d vs 0\.\d\d for the baseline\. .*", headline), headline


def test_headline_without_a_policy_says_the_accuracy_cost_and_whether_aucs_overlap(
        result_factory):
    page = render_html(result_factory())
    headline = html.unescape(re.search(r'id="headline">(.*?)</p>', page).group(1))
    assert ("Accuracy cost of DP: test accuracy 95.0% (baseline) -> 91.0% (dp), "
            "4.0 points lost") in headline
    assert "do not overlap: DP measurably reduced the leakage" in headline
    # Intervals that overlap are said to overlap.
    result = result_factory()
    dp = result.arm("dp")
    wide = dataclasses.replace(dp, attacks=tuple(
        dataclasses.replace(a, auc_ci=(0.4, 0.9)) for a in dp.attacks))
    page = render_html(dataclasses.replace(result, arms=(result.arm("baseline"), wide)))
    assert "overlap: these attacks cannot tell the two models&#39; leakage apart" in page
    # With a gate's verdict, the banner carries the decision instead.
    gated = render_html(result_factory(verdict={"passed": True, "rules": []}))
    assert "Accuracy cost of DP" not in gated


def test_run_summary_has_data_sizes_seed_versions_date_and_hashes(result):
    text = render_html(result, generated_at=NOON)
    visible = " ".join(_visible(text).split())
    for fragment in ("Shadow pool 597", "Members (training set) 600", "Seed 0",
                     "python 3.11.7, dpaudit 0.1.0, tensorflow-cpu 2.21.0",
                     "Date 2026-11-30 10:00 UTC (run)", "Dataset digits", "Model mlp",
                     "Data (SHA-256) abababababababab…",
                     "Model file, dp models/dp-target.keras · sha256 efefefefefefefef…",
                     "on 2025-01-02 12:00 UTC from a schema_version 1 results file"):
        assert fragment in visible, fragment
    # The ids of every member are in results.json; the page lists only a few.
    assert "0, 1, 2, 3, 4, 5, 6, 7, … (600 values)" in visible


@pytest.mark.parametrize("environment, config, fragments", [
    ({"date": "2024-05-06T07:08:09+02:00", "versions": {"tensorflow": "2.21.0"}}, {},
     ("Date 2024-05-06 05:08 UTC", "Versions tensorflow 2.21.0")),
    ({"timestamp": "yesterday", "dpaudit": "0.1.0"},
     {"model": {"name": "mlp", "trainer": "mine:train"}},
     ("Date yesterday", "Versions dpaudit 0.1.0", "Model mine:train (own trainer)")),
])
def test_run_summary_reads_other_writers_shapes(result, environment, config, fragments):
    text = render_html(dataclasses.replace(result, environment=environment, config=config,
                                           provenance={}))
    visible = " ".join(_visible(text).split())
    for fragment in fragments:
        assert fragment in visible, fragment


def test_no_dp_bug_warning_when_bounds_stay_below_epsilon(page_html):
    assert 'id="dp-bug"' not in page_html
    assert "DP BUG" not in page_html


def test_bound_above_epsilon_raises_a_loud_warning(result_factory):
    text = render_html(result_factory(dp_lower_bound=50.0))
    assert 'role="alert" id="dp-bug"' in text
    assert 'class="headline bug"' in text
    assert "DP BUG: the attack proves epsilon &gt;= 50" in text
    assert text.count('class="status-bad"') == 2  # both attacks on the dp arm


@pytest.mark.parametrize("verdict, banner, fragment", [
    ({"passed": True, "rules": [{"rule": "max_auc", "passed": True}]}, "pass",
     "Release gate PASSED"),
    ({"passed": False, "contradiction_check": True,
      "rules": [{"rule": "max_auc", "arm": "dp", "attack": "shadow", "measured": 0.7,
                 "limit": 0.6, "passed": False, "message": "AUC 0.7 over 0.6"}]},
     "fail", "AUC 0.7 over 0.6"),
    ({"passed": "yes", "rules": "not a list"}, "neutral", "verdict not recorded"),
    ({"rules": [1, None, {"rule": "x", "measured": math.nan}]}, "neutral", "0 of 3"),
    ({}, "neutral", "verdict not recorded"),
    # canary-audit without a policy: only the consistency check ran (issue 14.3).
    ({"passed": True, "policy": "none", "rules": [{"rule": "dp_consistency", "passed": True}]},
     "pass", "No release gate ran (no policy): DP consistency check passed"),
])
def test_verdict_banner_renders_any_verdict_shape(result, verdict, banner, fragment):
    text = render_html(result.with_verdict(verdict))
    assert f'class="banner {banner}"' in text
    assert fragment in text


def test_no_banner_without_a_gate(page_html):
    assert 'id="verdict"' not in page_html


@pytest.mark.parametrize("sampling, fragment, in_headline", [
    ("poisson", "exactly what the RDP and PLD accountants assume", None),
    ("shuffle", "Chua et al., 2024", "batches were shuffled"),
    ("weird", "Unknown sampling scheme", "batches were drawn by &#39;weird&#39;"),
])
def test_accounting_notes_explain_the_sampling(result, sampling, fragment, in_headline):
    dp = result.arm("dp")
    arm = dataclasses.replace(dp, privacy=dataclasses.replace(dp.privacy, sampling=sampling))
    text = render_html(dataclasses.replace(result, arms=(result.arm("baseline"), arm)))
    assert fragment in text
    headline = re.search(r'id="headline">(.*?)</p>', text).group(1)
    assert ("accounted as Poisson sampling" in headline) == (in_headline is not None)
    if in_headline:
        assert in_headline in headline


def test_baseline_trained_without_noise_reads_as_not_dp(result):
    # The pipeline stores the baseline's training settings with noise 0 and no epsilon.
    dp = result.arm("dp")
    baseline = dataclasses.replace(result.arm("baseline"), privacy=dataclasses.replace(
        dp.privacy, noise_multiplier=0.0, epsilon_rdp=None, epsilon_pld=None, delta=None,
        epsilon_per_epoch=(), accounting_note="no DP: no privacy guarantee"))
    text = render_html(dataclasses.replace(result, arms=(baseline, dp)))
    visible = " ".join(_visible(text).split())
    assert "baseline 95.0% train 99.0% none not DP off" in visible
    assert "Trained without DP noise: there is no privacy guarantee" in visible
    assert "no DP: no privacy guarantee" in visible


def test_real_gate_verdict_renders_its_rules_and_notes(result):
    from dpaudit.gate import Policy, evaluate_gate

    verdict = evaluate_gate(result, Policy.from_options(max_auc=0.6),
                            check_contradiction=False).to_dict()
    text = render_html(result.with_verdict(verdict))
    visible = " ".join(_visible(text).split())
    assert 'class="banner fail"' in text  # the baseline's AUC is about 0.73
    assert "Release gate FAILED" in visible
    for rule in verdict["rules"]:
        assert rule["message"] in visible
    for note in verdict["notes"]:
        assert note in visible
    assert "Contradiction check (an empirical ε above the theoretical ε fails the gate): off" \
        in visible


# Missing and old fields --------------------------------------------------------------------

def test_old_minimal_schema_1_file_renders_with_not_available_sections():
    result = load_results(DATA / "results_v1_minimal.json")
    text = render_html(result)
    visible = " ".join(_visible(text).split())
    assert ("DP model: epsilon 3 (RDP) at delta 1e-5; strongest attack AUC 0.52 vs 0.64 for the "
            "baseline") in visible
    assert "(report; the run recorded no date)" in visible
    for section in ("ROC curves", "Score histograms", "Epsilon per epoch",
                    "Per-class AUC with an interval that excludes 0.5",
                    "Most exposed examples", "Configuration", "Environment"):
        assert f"{section}: not available in these results." in visible, section
    assert not re.search(r"\bnan\b", visible, flags=re.I)
    assert "Members (training set) n/a" in visible


def test_nan_metrics_show_as_na(result):
    dp = result.arm("dp")
    nan_attack = dataclasses.replace(
        dp.attacks[0], auc=math.nan, auc_ci=(math.nan, math.nan), advantage=math.nan,
        tpr_at_fpr={"0.001": math.nan, "0.01": math.nan, "0.1": math.nan},
        epsilon_lower_bound=math.nan, confidence=math.nan)
    arm = dataclasses.replace(dp, attacks=(nan_attack,),
                              utility=dataclasses.replace(dp.utility, test_accuracy=math.nan))
    text = render_html(dataclasses.replace(result, arms=(arm,)))
    visible = _visible(text)
    assert not re.search(r"\bnan\b", visible, flags=re.I)
    assert visible.count("n/a") >= 8


def test_result_without_arms_renders_without_plots():
    text = render_html(AuditResult(config={}, environment={}, data={}, arms=()))
    assert "The results hold no audited model." in text
    assert BUNDLE not in text  # nothing to draw, nothing to load
    assert "Audited models: not available" in text


# Writing -----------------------------------------------------------------------------------

def test_write_report_writes_the_page_and_returns_its_path(result, tmp_path):
    path = write_report(result, tmp_path / "sub" / "report.html", generated_at=NOON)
    assert path == tmp_path / "sub" / "report.html"
    assert path.read_text(encoding="utf-8") == render_html(result, generated_at=NOON)


def test_failed_render_leaves_no_file_and_keeps_the_old_report(result, tmp_path, monkeypatch):
    old = tmp_path / "report.html"
    old.write_text("previous report")

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(dpaudit.reports.render, "render_html", broken)
    with pytest.raises(RuntimeError):
        write_report(result, old)
    with pytest.raises(RuntimeError):
        write_report(result, tmp_path / "new.html")
    assert old.read_text() == "previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_write_report_to_a_directory_is_an_input_error(result, tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        write_report(result, tmp_path)
